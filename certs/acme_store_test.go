package certs

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/acmetest"
	"github.com/terncdn/tern/certs/certstest"
	"github.com/terncdn/tern/config"
)

// TestACMEThroughStore serves a distribution with certificate {acme: true}
// through the Store's TLS configuration: the default certificate until
// the ACME certificate is issued (over tls-alpn-01, which only works if
// the Store routes the CA's handshakes to the ACME manager and lists
// "acme-tls/1"), then the CA's.
func TestACMEThroughStore(t *testing.T) {
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpLn.Close()
	tlsPort := tlsLn.Addr().(*net.TCPAddr).Port
	p := acmetest.StartPebble(t, httpLn.Addr().(*net.TCPAddr).Port, tlsPort, 90*24*time.Hour)

	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.tern.test"}, certstest.Options{})
	c := &config.Config{Distributions: []*config.Distribution{{
		ID: "s", Aliases: []string{"s.tern.test"}, Certificate: &config.Certificate{ACME: true},
		Origins:              []*config.Origin{{ID: "o", DomainName: "127.0.0.1"}},
		DefaultCacheBehavior: &config.CacheBehavior{TargetOriginID: "o"},
	}}}
	c.Edge.ListenTLS = tlsLn.Addr().String()
	c.Edge.TLS.DefaultCertificate = &config.Certificate{CertFile: def.CertFile, KeyFile: def.KeyFile}
	c.Edge.TLS.ACME = &config.ACME{AgreeTOS: true, DirectoryURL: p.DirectoryURL, CARoots: p.RootsFile, Challenges: []string{config.ChallengeTLSALPN01}}
	if err := c.Provision(); err != nil {
		t.Fatal(err)
	}
	store, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ac := c.Edge.TLS.ACME
	storage, err := ac.StorageDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewACME(ACMEOptions{
		DirectoryURL: ac.DirectoryURL, Email: ac.Email, CARootsFile: ac.CARoots, AgreeTOS: ac.AgreeTOS,
		Storage: storage, Challenges: ac.ACMEChallenges(), RenewBefore: ac.RenewBefore.Std(),
		HTTPPort: httpLn.Addr().(*net.TCPAddr).Port, TLSPort: tlsPort, ListenHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	store.SetACME(a)
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(tls.NewListener(tlsLn, store.TLSConfig())) }()
	defer srv.Close()

	// Before the order: the default certificate.
	conn, err := tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{ServerName: "s.tern.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("before issuance: %v", err)
	}
	got := conn.ConnectionState().PeerCertificates[0].SerialNumber
	conn.Close()
	if got.Cmp(def.Cert.SerialNumber) != 0 {
		t.Fatalf("before issuance: serial %x, want the default certificate's %x", got, def.Cert.SerialNumber)
	}
	if err := a.Manage(context.Background(), ACMENames(c)); err != nil {
		t.Fatal(err)
	}
	e := &testEdge{tlsLn: tlsLn}
	e.waitServed(t, "s.tern.test", p.Root(t), nil, 60*time.Second)
}
