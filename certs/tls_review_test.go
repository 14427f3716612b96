package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/acmetest"
	"github.com/terncdn/tern/certs/certstest"
	"github.com/terncdn/tern/config"
)

// TestSessionTicketsOff: with edge.tls.session_tickets: false no handshake
// resumes from a ticket, under TLS 1.2 or 1.3, and under every policy's
// settings (a distribution's own included); by default they resume.
func TestSessionTicketsOff(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	old := ca.Issue(t, []string{"old.test"}, certstest.Options{})
	for _, on := range []bool{true, false} {
		d := dist("old", old, "old.test")
		d.SecurityPolicy = "TLSv1"
		c := testConfig(t, def, d)
		c.Edge.TLS.SessionTickets = &on
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		addr := serveTLS(t, s.TLSConfig())
		for _, sni := range []string{"default.test", "old.test"} {
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cache := tls.NewLRUClientSessionCache(4)
				tweak := func(c *tls.Config) { c.ClientSessionCache, c.MaxVersion = cache, v }
				if _, err := handshake(t, addr, sni, ca, tweak); err != nil {
					t.Fatal(err)
				}
				st, err := handshake(t, addr, sni, ca, tweak)
				if err != nil {
					t.Fatal(err)
				}
				if st.DidResume != on {
					t.Errorf("session_tickets %v, %s, %s: resumed %v", on, sni, tls.VersionName(v), st.DidResume)
				}
			}
		}
	}
}

// TestPolicyFollowsRouting: the handshake's security policy is that of
// the distribution the edge routes the server name to: a wildcard alias
// covers names any number of labels deep (as CloudFront's, and the edge's
// routing, do), and a catch-all distribution's policy covers names no
// alias names. Otherwise a viewer would get through the handshake under
// the edge's weaker policy and be refused (421) on every request.
func TestPolicyFollowsRouting(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test", "*.b.test", "*.x.b.test"}, certstest.Options{})
	b := dist("b", nil, "*.b.test")
	b.SecurityPolicy = "TLSv1.3_2025"
	c := testConfig(t, def, b)
	c.Edge.TLS.SecurityPolicy = "TLSv1"
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	tls12 := func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS12 }
	for _, sni := range []string{"www.b.test", "y.x.b.test"} {
		if _, err := handshake(t, addr, sni, ca, tls12); err == nil {
			t.Errorf("%s (alias *.b.test, TLSv1.3_2025): a TLS 1.2 handshake succeeded", sni)
		}
	}
	if _, err := handshake(t, addr, "default.test", ca, tls12); err != nil {
		t.Errorf("default.test (edge policy TLSv1): %v", err)
	}

	// A catch-all distribution's policy covers the names no alias names.
	all := dist("all", nil, "*")
	all.SecurityPolicy = "TLSv1.3_2025"
	if err := s.Apply(testConfig(t, def, all)); err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"default.test", "www.b.test"} {
		if _, err := handshake(t, addr, sni, ca, tls12); err == nil {
			t.Errorf("%s (catch-all, TLSv1.3_2025): a TLS 1.2 handshake succeeded", sni)
		}
	}
}

// TestUnknownNamesNeverReachACME: handshakes for names no distribution
// with certificate: {acme: true} has, with or without the acme-tls/1
// protocol a CA's validation offers, place no order, touch nothing of the
// ACME manager (no error logged per handshake, which a viewer could
// flood), and get the default certificate.
func TestUnknownNamesNeverReachACME(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	p := acmetest.StartPebble(t, 1, 1, 90*24*time.Hour)
	rec := &recorder{}
	a, err := NewACME(ACMEOptions{DirectoryURL: p.DirectoryURL, CARootsFile: p.RootsFile, AgreeTOS: true,
		Storage: t.TempDir(), Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	d := dist("shop", nil, "shop.tern.test")
	d.Certificate = &config.Certificate{ACME: true}
	c := &config.Config{Distributions: []*config.Distribution{d}}
	c.Edge.ListenTLS = "127.0.0.1:0"
	c.Edge.TLS.DefaultCertificate = &config.Certificate{CertFile: def.CertFile, KeyFile: def.KeyFile}
	c.Edge.TLS.ACME = &config.ACME{AgreeTOS: true, DirectoryURL: p.DirectoryURL}
	d.Origins = []*config.Origin{{ID: "o", DomainName: "127.0.0.1"}}
	d.DefaultCacheBehavior = &config.CacheBehavior{TargetOriginID: "o"}
	if err := c.Provision(); err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	s.SetACME(a)
	addr := serveTLS(t, s.TLSConfig())
	for i := range 20 {
		name := fmt.Sprintf("n%d.attacker.test", i)
		for _, protos := range [][]string{nil, {ACMEProtocol}} {
			st, err := handshake(t, addr, name, ca, func(c *tls.Config) { c.NextProtos, c.InsecureSkipVerify = protos, true })
			if err != nil {
				t.Fatalf("%s %v: %v", name, protos, err)
			}
			if got := st.PeerCertificates[0].SerialNumber; got.Cmp(def.Cert.SerialNumber) != 0 {
				t.Errorf("%s %v: serial %v, want the default certificate's", name, protos, got)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := p.Orders(); n != 0 {
		t.Errorf("%d orders for names nobody manages", n)
	}
	if r, ok := rec.find("ERROR"); ok {
		t.Errorf("the ACME manager logged for an unknown name: %s", r)
	}
}

// TestSlowOCSPDoesNotHoldReloads: an OCSP responder that does not answer
// (a black-holed address) must not hold up the reading of renewed
// certificate files: they go in service within the poll interval, while
// the fetches wait for their timeout.
func TestSlowOCSPDoesNotHoldReloads(t *testing.T) {
	hang := make(chan struct{})
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(responder.Close)
	t.Cleanup(func() { close(hang) })
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{OCSPServer: responder.URL})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{OCSPServer: responder.URL})
	s, err := New(testConfig(t, def, dist("a", a, "a.test")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, 20*time.Millisecond)
	addr := serveTLS(t, s.TLSConfig())
	time.Sleep(100 * time.Millisecond) // the first fetches are waiting
	a2 := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	replace(t, a.CertFile, a2.CertPEM)
	replace(t, a.KeyFile, a2.KeyPEM)
	waitFor(t, "the renewed certificate while OCSP hangs", func() bool {
		return serialOf(t, addr, "a.test", ca) == a2.Cert.SerialNumber.String()
	})
}

// TestSNIEdgeCases pins how server names pick certificates: case and a
// trailing dot do not matter, a wildcard covers one label only (RFC 6125
// §6.4.3), and whatever names no certificate gets the default.
func TestSNIEdgeCases(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	w := ca.Issue(t, []string{"*.w.test"}, certstest.Options{})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	s, err := New(testConfig(t, def, dist("w", w, "w.test", "*.w.test"), dist("a", a, "a.test")))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	long := strings.Repeat("l", 60) + "." + strings.Repeat("o", 60) + "." + strings.Repeat("n", 60) + ".w.test"
	for _, tc := range []struct {
		sni  string
		want *certstest.Issued
	}{
		{"A.TEST", a}, {"a.test.", a}, {"w.test", w}, {"x.w.test", w}, {"X.W.Test.", w},
		{"y.x.w.test", def}, {"w.test.evil", def}, {"evil-a.test", def}, {"test", def},
		{long, def}, {"", def},
	} {
		st, err := handshake(t, addr, tc.sni, ca, func(c *tls.Config) { c.InsecureSkipVerify = true })
		if err != nil {
			t.Errorf("%q: %v", tc.sni, err)
			continue
		}
		if got := st.PeerCertificates[0].SerialNumber; got.Cmp(tc.want.Cert.SerialNumber) != 0 {
			t.Errorf("%q: serial %v, want %v", tc.sni, got, tc.want.Cert.SerialNumber)
		}
	}
	// A distribution removed takes its certificate with it.
	if err := s.Apply(testConfig(t, def, dist("a", a, "a.test"))); err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"w.test", "x.w.test"} {
		st, err := handshake(t, addr, sni, ca, func(c *tls.Config) { c.InsecureSkipVerify = true })
		if err != nil || st.PeerCertificates[0].SerialNumber.Cmp(def.Cert.SerialNumber) != 0 {
			t.Errorf("%s after its distribution was removed: %v, want the default certificate", sni, err)
		}
	}
}

// BenchmarkPolicyAllows is the check the edge makes of every HTTPS
// request: TLS 1.3, and TLS 1.2 with the last suite TLSv1.2_2021 lists.
func BenchmarkPolicyAllows(b *testing.B) {
	p, _ := PolicyFor("TLSv1.2_2021")
	var ok bool
	for b.Loop() {
		ok = p.Allows(tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256)
		ok = p.Allows(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256) && ok
	}
	if !ok {
		b.Fatal("refused")
	}
}

// TestTicketKeyFileProblems: a key file that is short, corrupt or not
// readable stops the start naming the field; one others may read is
// loaded, with a warning (whoever reads it can decrypt recorded sessions).
func TestTicketKeyFileProblems(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"short":   "00112233445566778899aabbccddeeff\n",
		"corrupt": strings.Repeat("zz", 32) + "\n",
		"empty":   "# nothing\n",
	} {
		file := filepath.Join(dir, name)
		os.WriteFile(file, []byte(data), 0o600)
		if _, err := loadTickets(file, time.Now()); err == nil || !strings.Contains(err.Error(), "edge.tls.session_ticket_key_file") {
			t.Errorf("%s key file: %v", name, err)
		}
	}
	good := strings.Repeat("ab", 32) + "\n"
	unreadable := filepath.Join(dir, "unreadable")
	os.WriteFile(unreadable, []byte(good), 0o000)
	if os.Getuid() != 0 { // root reads it anyway
		if _, err := loadTickets(unreadable, time.Now()); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable key file: %v", err)
		}
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(good), 0o644)
	os.Chmod(open, 0o644)
	rec := &recorder{}
	prev := slog.Default()
	slog.SetDefault(slog.New(rec))
	defer slog.SetDefault(prev)
	if _, err := loadTickets(open, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.find("WARN", "session ticket key file", open); !ok {
		t.Errorf("no warning for a key file others may read; log: %s", rec.String())
	}
}
