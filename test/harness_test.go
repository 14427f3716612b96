// Package test holds Tern's end-to-end tests: they build the real tern
// binary, start it on loopback in front of origins the tests control, and
// check what a viewer with curl would see.
package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var ternBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tern-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ternBin = filepath.Join(dir, "tern")
	build := exec.Command("go", "build", "-race", "-o", ternBin, "../cmd/tern")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tern:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// handedOut holds the addresses freeAddr returned: the kernel may offer a
// port again once its probe listener is closed, and two of a node's
// listeners on one port fail its start.
var handedOut sync.Map

// freeAddr returns a loopback address with a port nobody listens on now,
// and one it has not returned before.
func freeAddr(t *testing.T) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
}

// node is one running tern process.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	Edge    string // host:port
	Admin   string
	Dir     string
	output  *lockedBuffer
	started bool // the cleanup that stops it is registered
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTern writes config (with %EDGE% and %ADMIN% replaced by free
// addresses) and runs `tern serve --config` until the test ends.
func startTern(t *testing.T, config string, extraArgs ...string) *node {
	t.Helper()
	n := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	config = strings.NewReplacer("%EDGE%", n.Edge, "%ADMIN%", n.Admin, "%DIR%", n.Dir).Replace(config)
	path := filepath.Join(n.Dir, "tern.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--config", path}, extraArgs...)
	n.start(args...)
	return n
}

func (n *node) start(args ...string) {
	t := n.t
	n.cmd = exec.Command(ternBin, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if n.started {
		n.waitHealthy()
		return
	}
	n.started = true
	t.Cleanup(func() {
		n.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-done
		}
		// The binary is built with -race: a race that did not crash it
		// still fails the test.
		if strings.Contains(n.output.String(), "WARNING: DATA RACE") {
			t.Error("tern reported a data race")
		}
		if t.Failed() {
			t.Logf("tern output:\n%s", n.output.String())
			if b, err := os.ReadFile(filepath.Join(n.Dir, "access.log")); err == nil {
				t.Logf("access log:\n%s", b)
			}
		}
	})
	n.waitHealthy()
}

// waitHealthy waits for the running process's admin /healthz.
func (n *node) waitHealthy() {
	t := n.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + n.Admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if n.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tern did not become healthy; output:\n%s", n.output.String())
}

// get does one request to the edge and returns the response with its body read.
func (n *node) do(method, path string, hdr map[string]string, body io.Reader) (*http.Response, string) {
	n.t.Helper()
	req, err := http.NewRequest(method, "http://"+n.Edge+path, body)
	if err != nil {
		n.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		n.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(b)
}

func (n *node) get(path string, hdr ...string) (*http.Response, string) {
	n.t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	return n.do("GET", path, m, nil)
}

// origin is a test origin on loopback that counts the requests it gets.
type origin struct {
	*http.Server
	Addr  string
	mu    sync.Mutex
	hits  map[string]int
	total atomic.Int64
	last  atomic.Pointer[http.Request]
}

func startOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{Addr: ln.Addr().String(), hits: map[string]int{}}
	o.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path]++
		o.mu.Unlock()
		o.total.Add(1)
		o.last.Store(r)
		h(w, r)
	})}
	go o.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		o.Shutdown(ctx)
	})
	return o
}

func (o *origin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[path]
}

func (o *origin) port() string {
	_, p, _ := net.SplitHostPort(o.Addr)
	return p
}

// basicConfig is one distribution in front of origin o; extra YAML is
// appended under the distribution (indented 4 spaces).
func basicConfig(o *origin, behaviors string) string {
	return fmt.Sprintf(`edge:
  listen: "%%EDGE%%"
  node_id: e2e-1
  pop: test-pop
  cache:
    memory: 64MiB
    max_object_size: 4MiB
  access_log: "%%DIR%%/access.log"
admin:
  listen: "%%ADMIN%%"
distributions:
  - id: site
    aliases: ["*"]
    origins:
      - id: web
        domain_name: 127.0.0.1
        http_port: %s
        connection_attempts: 1
        connection_timeout: 1s
        response_timeout: 5s
%s`, o.port(), behaviors)
}

func readLines(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
