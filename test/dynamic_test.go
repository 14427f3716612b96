package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const allMethods = `    default_cache_behavior:
      target_origin_id: web
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
`

func TestWebSocketPassesThrough(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Sec-WebSocket-Key") == "" {
			http.Error(w, "not an upgrade", 400)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		buf := make([]byte, 64)
		for {
			n, err := rw.Read(buf)
			if err != nil {
				return
			}
			rw.Write([]byte("echo:" + string(buf[:n])))
			rw.Flush()
		}
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	conn, err := net.Dial("tcp", n.Edge)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	io.WriteString(conn, "ping")
	buf := make([]byte, 9)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "echo:ping" {
		t.Fatalf("through the tunnel: %q %v", buf, err)
	}
}

// TestRequestBodyStreamsToOrigin: the origin reads the start of a POST body
// while the viewer is still sending the rest.
func TestRequestBodyStreamsToOrigin(t *testing.T) {
	gotFirst := make(chan string, 1)
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		io.ReadFull(r.Body, buf)
		gotFirst <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(buf)+string(rest))
	})
	n := startTern(t, basicConfig(o, allMethods))
	pr, pw := io.Pipe()
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+n.Edge+"/upload", pr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	io.WriteString(pw, "part1")
	select {
	case s := <-gotFirst:
		if s != "part1" {
			t.Fatalf("origin read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the origin saw nothing while the viewer was still sending: the body is buffered")
	}
	io.WriteString(pw, "-part2")
	pw.Close()
	if got := <-done; got != "got part1-part2" {
		t.Errorf("response %q", got)
	}
}

// TestUncacheableResponseStreams: with caching disabled, the response body
// reaches the viewer as the origin sends it.
func TestUncacheableResponseStreams(t *testing.T) {
	release := make(chan struct{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: two\n\n")
	})
	defer close(release)
	n := startTern(t, basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
      cache_policy: Managed-CachingDisabled
`))
	resp, err := http.Get("http://" + n.Edge + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "data: one\n" {
			t.Errorf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the origin held the rest: the response is buffered")
	}
}

func TestHeadOnMiss(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "0123456789")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	// Go's client adds Accept-Encoding: gzip to GET but not to HEAD, and
	// CachingOptimized keys on it: send the same value on both.
	ae := map[string]string{"Accept-Encoding": "gzip"}
	resp, body := n.do("HEAD", "/h", ae, nil)
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD miss: %d %q CL %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body = n.do("GET", "/h", ae, nil)
		if resp.Header.Get("X-Cache") == "Hit from tern" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body != "0123456789" || resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("GET after HEAD: %q %q", resp.Header.Get("X-Cache"), body)
	}
	if c := o.count("/h"); c != 1 {
		t.Errorf("origin fetched %d times", c)
	}
}

// TestReloadOnSIGHUP: a good file is applied; a bad one is refused and the
// running configuration kept.
func TestReloadOnSIGHUP(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "ok")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	if resp, _ := n.do("DELETE", "/r", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("DELETE before reload: %d", resp.StatusCode)
	}
	path := filepath.Join(n.Dir, "tern.yaml")
	cfg, _ := os.ReadFile(path)
	good := strings.Replace(string(cfg), defaultBehavior, allMethods, 1)
	good = strings.NewReplacer("%EDGE%", n.Edge, "%ADMIN%", n.Admin, "%DIR%", n.Dir).Replace(good)
	os.WriteFile(path, []byte(good), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { resp, _ := n.do("DELETE", "/r", nil, nil); return resp.StatusCode != 403 })

	os.WriteFile(path, []byte(good+"    bogus_field: 1\n"), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(n.output.String(), "bogus_field") })
	if resp, _ := n.do("DELETE", "/r", nil, nil); resp.StatusCode == 403 {
		t.Error("a refused reload changed the running configuration")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
