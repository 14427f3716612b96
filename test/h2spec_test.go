package test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2specVersion is the h2spec .ci/run installs, and the one this test
// installs itself when it finds none.
const h2specVersion = "github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible"

// h2specBin finds h2spec (.ci/run installs it with go install): on PATH
// or in GOPATH/bin; else it installs it, from the Go module proxy, into a
// directory of the test's. It never skips: no h2spec is a failure.
func h2specBin(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", h2specVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("h2spec is not installed, and go install %s failed: %v\n%s", h2specVersion, err, out)
	}
	return filepath.Join(bin, "h2spec")
}

var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// runH2Spec runs every h2spec test case against addr (TLS) and returns
// how many passed, of how many, and the names of the failures.
func runH2Spec(t *testing.T, bin, addr string) (passed, total int, failed []string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-t", "-k", "-h", host, "-p", port, "-o", "3").CombinedOutput()
	m := h2specSummary.FindSubmatch(out)
	if m == nil {
		t.Fatalf("h2spec against %s printed no summary:\n%s", addr, out)
	}
	total, _ = strconv.Atoi(string(m[1]))
	passed, _ = strconv.Atoi(string(m[2]))
	// The failures are listed again at the end, each "× N: what".
	if i := strings.Index(string(out), "Failures:"); i >= 0 {
		for _, line := range strings.Split(string(out[i:]), "\n") {
			if s := strings.TrimSpace(line); strings.HasPrefix(s, "×") {
				failed = append(failed, s)
			}
		}
	}
	return passed, total, failed
}

// TestH2Spec runs h2spec (RFC 7540/9113 and HPACK conformance) against
// the edge's HTTPS listener and against a bare Go net/http server on the
// same machine: the edge must pass at least as many cases as Go's own
// server does (the failures they share are net/http's: it answers a
// malformed request with 400, where h2spec wants a stream error).
func TestH2Spec(t *testing.T) {
	bin := h2specBin(t)
	tn := startTLSTern(t)
	ternPassed, ternTotal, ternFailed := runH2Spec(t, bin, tn.TLS)

	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	bare.EnableHTTP2 = true
	bare.Config.ErrorLog = log.New(io.Discard, "", 0) // h2spec's errors, on purpose
	bare.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	bare.StartTLS()
	defer bare.Close()
	goPassed, goTotal, goFailed := runH2Spec(t, bin, bare.Listener.Addr().String())

	if ternPassed < goPassed {
		// Some cases race h2spec's timeout on a loaded machine: a second
		// run tells a flaky case from a lasting failure.
		p, _, f := runH2Spec(t, bin, tn.TLS)
		if p > ternPassed {
			ternPassed, ternFailed = p, f
		}
	}
	t.Logf("h2spec: tern %d/%d passed, Go net/http %d/%d passed", ternPassed, ternTotal, goPassed, goTotal)
	t.Logf("tern's failures:\n%s", strings.Join(ternFailed, "\n"))
	t.Logf("Go net/http's failures:\n%s", strings.Join(goFailed, "\n"))
	if ternTotal != goTotal || ternTotal == 0 {
		t.Fatalf("h2spec ran %d cases against tern and %d against net/http", ternTotal, goTotal)
	}
	if ternPassed < goPassed {
		t.Errorf("tern passes %d h2spec cases, fewer than Go's own server (%d)", ternPassed, goPassed)
	}
}
