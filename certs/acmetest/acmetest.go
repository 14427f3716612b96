// Package acmetest runs Pebble, Let's Encrypt's test CA, inside a test
// process, with a small DNS server for its validation authority, so that
// tests obtain and renew real ACME certificates on loopback.
package acmetest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// Pebble is one in-process Pebble CA: its ACME server (WFE) and its
// management interface on loopback HTTPS, and its validation authority
// pointed at StartDNS's server.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// RootsFile is a PEM file of the root of the ACME server's own HTTPS
	// certificate: what an ACME client's ca_roots must name.
	RootsFile string
	mgmt      *httptest.Server
	orders    atomic.Int64
	log       *lockedBuffer
}

// StartPebble starts a CA whose validation connects to httpPort (http-01)
// and tlsPort (tls-alpn-01) at the address StartDNS gives the name, and
// whose certificates are valid for validity. Everything stops when the
// test ends; Pebble's log is printed if it failed.
func StartPebble(t testing.TB, httpPort, tlsPort int, validity time.Duration) *Pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &Pebble{log: &lockedBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log.String())
		}
	})
	logger := log.New(p.log, "pebble ", log.LstdFlags)
	resolver := StartDNS(t)

	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	acmeHandler := front.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		acmeHandler.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.DirectoryURL = srv.URL + wfe.DirectoryPath

	p.RootsFile = filepath.Join(t.TempDir(), "acme-server-roots.pem")
	WritePEM(t, p.RootsFile, srv.Certificate())

	p.mgmt = httptest.NewUnstartedServer(front.ManagementHandler())
	p.mgmt.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.mgmt.StartTLS()
	t.Cleanup(p.mgmt.Close)
	return p
}

// Orders is the number of new-order requests the CA has received.
func (p *Pebble) Orders() int64 { return p.orders.Load() }

// Root fetches the CA's root certificate from Pebble's management
// interface: the root the issued chains must verify against.
func (p *Pebble) Root(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.mgmt.Client().Get(p.mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatalf("fetch pebble root: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if resp.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(body) {
		t.Fatalf("pebble root: status %d, body %q", resp.StatusCode, body)
	}
	return pool
}

// WritePEM writes certs to path as PEM.
func WritePEM(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	var b bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// StartDNS serves, over TCP as Pebble's VA asks, an A record of 127.0.0.1
// for every name (127.0.0.2, where nothing listens, for names starting
// "unreachable.") and empty answers for other types (CAA included, which
// allows any CA). It returns the server's address.
func StartDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype != dns.TypeA {
				continue
			}
			ip := "127.0.0.1"
			if strings.HasPrefix(question.Name, "unreachable.") {
				ip = "127.0.0.2"
			}
			rr, _ := dns.NewRR(question.Name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// lockedBuffer collects Pebble's log lines; Pebble's goroutines may still
// log after a test ends, which t.Log would not allow.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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
