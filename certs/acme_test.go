package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/acmetest"
)

// The tests run Pebble, Let's Encrypt's test CA, in the test process
// (package acmetest): its validation authority resolves the test names to
// 127.0.0.1 (127.0.0.2, where nothing listens, for names starting
// "unreachable.") and connects to the ports of a minimal edge the test
// runs: a plain HTTP listener wrapped by HTTPChallengeHandler and a
// TLS listener whose certificates come from GetCertificate.

// testEdge is the minimal edge of the tests: the two listeners an ACME
// manager needs, bound before the CA and the manager are made so their
// ports can be given to both.
type testEdge struct {
	httpLn, tlsLn net.Listener
	acme          atomic.Pointer[ACME]
	// challengeHTTP wraps the plain handler with HTTPChallengeHandler.
	challengeHTTP bool
}

func startEdge(t *testing.T, challengeHTTP bool) *testEdge {
	t.Helper()
	e := &testEdge{challengeHTTP: challengeHTTP}
	var err error
	if e.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if e.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "site "+r.Host) })
	plain := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a := e.acme.Load(); a != nil && e.challengeHTTP {
				a.HTTPChallengeHandler(site).ServeHTTP(w, r)
				return
			}
			site.ServeHTTP(w, r)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	tlsCfg := &tls.Config{
		NextProtos: []string{"http/1.1", ACMEProtocol},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if a := e.acme.Load(); a != nil {
				if c, err := a.GetCertificate(h); c != nil || err != nil {
					return c, err
				}
			}
			return nil, fmt.Errorf("no certificate for %q", h.ServerName)
		},
	}
	secure := &http.Server{Handler: site, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = plain.Serve(e.httpLn) }()
	go func() { _ = secure.Serve(tls.NewListener(e.tlsLn, tlsCfg)) }()
	t.Cleanup(func() { _ = plain.Close(); _ = secure.Close() })
	return e
}

func (e *testEdge) httpPort() int { return e.httpLn.Addr().(*net.TCPAddr).Port }
func (e *testEdge) tlsPort() int  { return e.tlsLn.Addr().(*net.TCPAddr).Port }

// options are the manager's options for this edge and CA.
func (e *testEdge) options(p *acmetest.Pebble, storage string, logger *slog.Logger, challenges ...string) ACMEOptions {
	return ACMEOptions{
		DirectoryURL: p.DirectoryURL,
		Email:        "ops@tern.test",
		CARootsFile:  p.RootsFile,
		AgreeTOS:     true,
		Storage:      storage,
		Challenges:   challenges,
		HTTPPort:     e.httpPort(),
		TLSPort:      e.tlsPort(),
		ListenHost:   "127.0.0.1",
		Logger:       logger,
	}
}

func (e *testEdge) start(t *testing.T, opts ACMEOptions) *ACME {
	t.Helper()
	if opts.Logger == nil {
		rec := &recorder{}
		opts.Logger = slog.New(rec)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("acme log:\n%s", rec.String())
			}
		})
	}
	a, err := NewACME(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	e.acme.Store(a)
	return a
}

// served handshakes with the edge's TLS listener for name, verifying the
// chain against roots, and returns the leaf's serial; an error when the
// handshake fails or the chain does not verify.
func (e *testEdge) served(name string, roots *x509.CertPool) (*big.Int, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", e.tlsLn.Addr().String(), &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// waitServed waits until name is served with a certificate that verifies
// against roots and, if not nil, whose serial is not old.
func (e *testEdge) waitServed(t *testing.T, name string, roots *x509.CertPool, old *big.Int, within time.Duration) *big.Int {
	t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		serial, err := e.served(name, roots)
		if err == nil && (old == nil || serial.Cmp(old) != 0) {
			return serial
		}
		if err == nil {
			err = fmt.Errorf("still serial %x", serial)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not served within %v: %v", name, within, lastErr)
	return nil
}

// hello is a ClientHelloInfo for name as a handshake on a connection
// would give it.
func hello(t *testing.T, name string) *tls.ClientHelloInfo {
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return &tls.ClientHelloInfo{ServerName: name, Conn: c1, SupportedProtos: []string{"http/1.1"}}
}

// recorder is a slog handler that keeps the records.
type recorder struct {
	mu      sync.Mutex
	records []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	r.records = append(r.records, b.String())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.records, "\n")
}

func (r *recorder) find(parts ...string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(rec, p)
		}
		if all {
			return rec, true
		}
	}
	return "", false
}

// TestACMEHTTP01ObtainServeRestart obtains certificates for two names over
// http-01, serves them with chains that verify against the CA's root, and
// after a restart serves the same certificates from storage without a new
// order.
func TestACMEHTTP01ObtainServeRestart(t *testing.T) {
	e := startEdge(t, true)
	p := acmetest.StartPebble(t, e.httpPort(), e.tlsPort(), 90*24*time.Hour)
	roots := p.Root(t)
	storage := t.TempDir()

	a := e.start(t, e.options(p, storage, nil, ChallengeHTTP01))
	if a.TLSALPN() {
		t.Error("TLSALPN() with only http-01 enabled")
	}
	names := []string{"a.tern.test", "B.tern.test."}
	if err := a.Manage(context.Background(), names); err != nil {
		t.Fatal(err)
	}
	serialA := e.waitServed(t, "a.tern.test", roots, nil, 60*time.Second)
	serialB := e.waitServed(t, "b.tern.test", roots, nil, 60*time.Second)
	if serialA.Cmp(serialB) == 0 {
		t.Error("one certificate for both names; want one per name")
	}
	if n := p.Orders(); n != 2 {
		t.Errorf("%d orders, want 2", n)
	}
	// Plain requests other than challenges reach the site.
	resp, err := http.Get("http://" + e.httpLn.Addr().String() + "/.well-known/acme-challenge/nothing-pending")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "site ") {
		t.Errorf("non-challenge request answered %q, want the site", body)
	}
	// A name that is not managed gets nothing from the manager.
	if c, err := a.GetCertificate(hello(t, "other.tern.test")); c != nil || err != nil {
		t.Errorf("unmanaged name: %v, %v; want nil, nil", c, err)
	}

	// Restart: a second manager on the same storage serves the stored
	// certificates and orders nothing.
	a.Close()
	ordersBefore := p.Orders()
	a2 := e.start(t, e.options(p, storage, nil, ChallengeHTTP01))
	if err := a2.Manage(context.Background(), []string{"a.tern.test", "b.tern.test"}); err != nil {
		t.Fatal(err)
	}
	if got := e.waitServed(t, "a.tern.test", roots, nil, 10*time.Second); got.Cmp(serialA) != 0 {
		t.Errorf("after restart a.tern.test serial %x, want the stored %x", got, serialA)
	}
	if got := e.waitServed(t, "b.tern.test", roots, nil, 10*time.Second); got.Cmp(serialB) != 0 {
		t.Errorf("after restart b.tern.test serial %x, want the stored %x", got, serialB)
	}
	if n := p.Orders(); n != ordersBefore {
		t.Errorf("restart placed %d new orders, want 0", n-ordersBefore)
	}

	// Removing a name stops serving it.
	if err := a2.Manage(context.Background(), []string{"a.tern.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.served("b.tern.test", roots); err == nil {
		t.Error("b.tern.test still served after it was removed")
	}
	if _, err := e.served("a.tern.test", roots); err != nil {
		t.Errorf("a.tern.test after removing b: %v", err)
	}
}

// TestACMETLSALPN01 obtains a certificate with tls-alpn-01 alone: the
// plain listener does not answer challenges, so only the TLS listener's
// GetCertificate and its "acme-tls/1" protocol can.
func TestACMETLSALPN01(t *testing.T) {
	e := startEdge(t, false)
	p := acmetest.StartPebble(t, e.httpPort(), e.tlsPort(), 90*24*time.Hour)
	a := e.start(t, e.options(p, t.TempDir(), nil, ChallengeTLSALPN01))
	if !a.TLSALPN() {
		t.Error("TLSALPN() false with tls-alpn-01 enabled")
	}
	if err := a.Manage(context.Background(), []string{"c.tern.test"}); err != nil {
		t.Fatal(err)
	}
	e.waitServed(t, "c.tern.test", p.Root(t), nil, 60*time.Second)
}

// TestACMERenewal has the CA issue ten-day certificates and renew_before
// ask for renewal when less than ten days minus 15 s are left: the
// background maintenance renews within seconds and the new certificate is
// served. Without renew_before the first renewal would be days away.
func TestACMERenewal(t *testing.T) {
	e := startEdge(t, true)
	const validity = 10 * 24 * time.Hour
	p := acmetest.StartPebble(t, e.httpPort(), e.tlsPort(), validity)
	roots := p.Root(t)
	opts := e.options(p, t.TempDir(), nil, ChallengeHTTP01)
	opts.RenewBefore = validity - 15*time.Second
	opts.RenewInterval = time.Second
	a := e.start(t, opts)
	if err := a.Manage(context.Background(), []string{"r.tern.test"}); err != nil {
		t.Fatal(err)
	}
	first := e.waitServed(t, "r.tern.test", roots, nil, 60*time.Second)
	start := time.Now()
	renewed := e.waitServed(t, "r.tern.test", roots, first, 60*time.Second)
	t.Logf("serial %x renewed to %x after %v", first, renewed, time.Since(start).Round(time.Second))
}

// TestACMEFailingOrder orders for a name the CA's validation cannot reach:
// the failure is logged with a retry scheduled, the other name is still
// obtained and served, the failing name gets no certificate (the
// listener's fallback), and removing it stops the retries.
func TestACMEFailingOrder(t *testing.T) {
	e := startEdge(t, true)
	p := acmetest.StartPebble(t, e.httpPort(), e.tlsPort(), 90*24*time.Hour)
	roots := p.Root(t)
	rec := &recorder{}
	a := e.start(t, e.options(p, t.TempDir(), slog.New(rec), ChallengeHTTP01))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("acme log:\n%s", rec.String())
		}
	})
	if err := a.Manage(context.Background(), []string{"ok.tern.test", "unreachable.tern.test"}); err != nil {
		t.Fatal(err)
	}
	e.waitServed(t, "ok.tern.test", roots, nil, 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, ok := rec.find("ERROR", "will retry", "unreachable.tern.test"); ok {
			t.Logf("logged: %s", r)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error logged with a retry for unreachable.tern.test")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, err := a.GetCertificate(hello(t, "unreachable.tern.test")); c != nil || err != nil {
		t.Errorf("failing name: %v, %v; want nil, nil (the listener's fallback)", c, err)
	}
	if _, err := e.served("ok.tern.test", roots); err != nil {
		t.Errorf("ok.tern.test after the failed order: %v", err)
	}
	if err := a.Manage(context.Background(), []string{"ok.tern.test"}); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	_, still := a.managed["unreachable.tern.test"]
	a.mu.Unlock()
	if still {
		t.Error("unreachable.tern.test still managed after removal")
	}
}

func TestACMERefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts ACMEOptions
		want string
	}{
		{"terms not agreed", ACMEOptions{Storage: dir}, "agree_tos"},
		{"no storage", ACMEOptions{AgreeTOS: true}, "storage"},
		{"plain http directory", ACMEOptions{AgreeTOS: true, Storage: dir, DirectoryURL: "http://ca.example/dir"}, "directory_url"},
		{"unknown challenge", ACMEOptions{AgreeTOS: true, Storage: dir, Challenges: []string{"dns-01"}}, "challenges"},
		{"missing roots", ACMEOptions{AgreeTOS: true, Storage: dir, CARootsFile: filepath.Join(dir, "none.pem")}, "ca_roots"},
		{"roots not PEM", ACMEOptions{AgreeTOS: true, Storage: dir, CARootsFile: notPEM}, "ca_roots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewACME(tc.opts)
			if err == nil {
				a.Close()
				t.Fatalf("no error, want one about %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}

	a, err := NewACME(ACMEOptions{AgreeTOS: true, Storage: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Manage(context.Background(), []string{"ok.tern.test", "*.tern.test", ""})
	if err == nil || !strings.Contains(err.Error(), "DNS-01") || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Manage with a wildcard and an empty name: %v; want both refused", err)
	}
	if len(*a.names.Load()) != 0 {
		t.Error("a refused Manage changed the managed names")
	}
	a.Close()
	if err := a.Manage(context.Background(), []string{"ok.tern.test"}); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Manage after Close: %v, want an error saying it is closed", err)
	}
}
