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

// h2specNetHTTP are the h2spec cases that net/http's HTTP/2 server (and
// golang.org/x/net/http2's, the same code) fails by design, so Tern
// cannot pass them without its own HTTP/2 server:
//
//   - 6.5.3/1 sends one SETTINGS frame with SETTINGS_INITIAL_WINDOW_SIZE
//     twice; net/http closes connections whose SETTINGS repeat an
//     identifier (a hardening of its own, not in RFC 9113);
//   - 8.1.2.2/1 and /2 send a connection-specific field (connection,
//     or te other than "trailers"); net/http answers 400 Bad Request
//     before any handler runs, where RFC 9113 §8.2.2 asks for a stream
//     error. Either way the request is refused and reaches no origin.
var h2specNetHTTP = []string{
	"Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE",
	"Sends a HEADERS frame that contains the connection-specific header field",
	`Sends a HEADERS frame that contains the TE header field with any value other than "trailers"`,
}

// h2specFloor is how many of h2spec v2.2.1's 145 cases the edge passes:
// all but h2specNetHTTP.
const h2specFloor = 142

// unexpectedH2SpecFailures are the failures not in h2specNetHTTP.
func unexpectedH2SpecFailures(failed []string) []string {
	var out []string
	for _, f := range failed {
		known := false
		for _, k := range h2specNetHTTP {
			if strings.HasSuffix(f, ": "+k) {
				known = true
			}
		}
		if !known {
			out = append(out, f)
		}
	}
	return out
}

// TestH2Spec runs h2spec (RFC 7540/9113 and HPACK conformance) against
// the edge's HTTPS listener and against a bare Go net/http server on the
// same machine. The edge must fail no case but h2specNetHTTP's, and pass
// at least as many as Go's own server does (which also fails the case of
// a content-length that disagrees with the DATA frames: its handler does
// not read the body, the edge's does).
//
// The edge advertises SETTINGS_MAX_FRAME_SIZE 16KiB, the RFC's initial
// value, rather than the 64KiB of the other TLS tests: h2spec's case of a
// HEADERS frame larger than SETTINGS_MAX_FRAME_SIZE (4.2/3) sends about
// 20KB whatever the server advertised, a legal frame under a larger
// setting.
func TestH2Spec(t *testing.T) {
	bin := h2specBin(t)
	tn := startTLSTernHTTP2(t, "{max_concurrent_streams: 100, max_header_list_size: 32KiB, max_read_frame_size: 16KiB}")
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

	if ternPassed < max(goPassed, h2specFloor) || len(unexpectedH2SpecFailures(ternFailed)) > 0 {
		// Some cases race h2spec's timeout on a loaded machine: a second
		// run tells a flaky case from a lasting failure.
		p, _, f := runH2Spec(t, bin, tn.TLS)
		t.Logf("first run: tern %d passed; failures:\n%s", ternPassed, strings.Join(ternFailed, "\n"))
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
	if ternPassed < h2specFloor {
		t.Errorf("tern passes %d h2spec cases, want at least %d", ternPassed, h2specFloor)
	}
	if u := unexpectedH2SpecFailures(ternFailed); len(u) > 0 {
		t.Errorf("tern fails h2spec cases net/http does not explain:\n%s", strings.Join(u, "\n"))
	}
}
