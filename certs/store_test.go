package certs

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/certstest"
	"github.com/terncdn/tern/config"
	"golang.org/x/crypto/ocsp"
)

// testConfig is a configuration with a default certificate and the
// distributions given, provisioned.
func testConfig(t *testing.T, def *certstest.Issued, dists ...*config.Distribution) *config.Config {
	t.Helper()
	c := &config.Config{Distributions: dists}
	c.Edge.ListenTLS = "127.0.0.1:0"
	if def != nil {
		c.Edge.TLS.DefaultCertificate = &config.Certificate{CertFile: def.CertFile, KeyFile: def.KeyFile}
	}
	for _, d := range dists {
		d.Origins = []*config.Origin{{ID: "o", DomainName: "127.0.0.1"}}
		d.DefaultCacheBehavior = &config.CacheBehavior{TargetOriginID: "o"}
	}
	if err := c.Provision(); err != nil {
		t.Fatal(err)
	}
	return c
}

func dist(id string, cert *certstest.Issued, aliases ...string) *config.Distribution {
	d := &config.Distribution{ID: id, Aliases: aliases}
	if cert != nil {
		d.Certificate = &config.Certificate{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	}
	return d
}

// serveTLS runs handshakes with s's TLS configuration on loopback and
// returns the address.
func serveTLS(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if tc, ok := c.(*tls.Conn); ok && tc.Handshake() == nil {
					c.Write([]byte("x")) // lets the client read the session ticket
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake connects with server name sni and returns the state.
func handshake(t *testing.T, addr, sni string, ca *certstest.CA, tweak func(*tls.Config)) (tls.ConnectionState, error) {
	t.Helper()
	conf := &tls.Config{ServerName: sni, RootCAs: ca.Pool}
	if sni == "" {
		conf.InsecureSkipVerify = true
	}
	if tweak != nil {
		tweak(conf)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	var b [1]byte
	c.Read(b[:])
	return c.ConnectionState(), nil
}

func serialOf(t *testing.T, addr, sni string, ca *certstest.CA) string {
	t.Helper()
	st, err := handshake(t, addr, sni, ca, nil)
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	return st.PeerCertificates[0].SerialNumber.String()
}

func TestSNISelectsCertificate(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	b := ca.Issue(t, []string{"*.b.test"}, certstest.Options{})
	other := ca.Issue(t, []string{"c.test", "shop.a.test"}, certstest.Options{})
	c := testConfig(t, def,
		dist("a", a, "a.test"),
		dist("b", b, "www.b.test", "*.b.test"),
		dist("c", other, "c.test"))
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	serial := func(is *certstest.Issued) string { return is.Cert.SerialNumber.String() }
	for _, tc := range []struct {
		sni  string
		want *certstest.Issued
	}{
		{"a.test", a},
		{"A.TEST", a},          // case-insensitive
		{"www.b.test", b},      // alias
		{"img.b.test", b},      // wildcard name in the certificate
		{"shop.a.test", other}, // a name another distribution's certificate covers
		{"c.test", other},
		{"", def}, // no SNI
	} {
		if got := serialOf(t, addr, tc.sni, ca); got != serial(tc.want) {
			t.Errorf("SNI %q: got certificate %s, want %s", tc.sni, got, serial(tc.want))
		}
	}
	// An unknown name gets the default certificate (which does not cover
	// it: the client is told so).
	st, err := handshake(t, addr, "unknown.test", ca, func(c *tls.Config) { c.InsecureSkipVerify = true })
	if err != nil {
		t.Fatal(err)
	}
	if got := st.PeerCertificates[0].SerialNumber.String(); got != serial(def) {
		t.Errorf("unknown SNI: got %s, want the default %s", got, serial(def))
	}
	// One label only: a wildcard does not cover a.b.b.test.
	st, _ = handshake(t, addr, "x.img.b.test", ca, func(c *tls.Config) { c.InsecureSkipVerify = true })
	if got := st.PeerCertificates[0].SerialNumber.String(); got != serial(def) {
		t.Errorf("two labels under a wildcard: got %s, want the default", got)
	}
}

func TestNoDefaultRefusesUnknownNames(t *testing.T) {
	ca := certstest.NewCA(t)
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	s, err := New(testConfig(t, nil, dist("a", a, "a.test")))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	if _, err := handshake(t, addr, "a.test", ca, nil); err != nil {
		t.Fatalf("a.test: %v", err)
	}
	if _, err := handshake(t, addr, "other.test", ca, func(c *tls.Config) { c.InsecureSkipVerify = true }); err == nil {
		t.Fatal("a name no certificate covers, without a default: handshake succeeded")
	}
}

func TestReloadChangedFiles(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	s, err := New(testConfig(t, def, dist("a", a, "a.test")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, 20*time.Millisecond)
	addr := serveTLS(t, s.TLSConfig())
	if got := serialOf(t, addr, "a.test", ca); got != a.Cert.SerialNumber.String() {
		t.Fatalf("before: %s", got)
	}

	// A renewed certificate copied over the files: new handshakes get it.
	a2 := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	replace(t, a.CertFile, a2.CertPEM)
	replace(t, a.KeyFile, a2.KeyPEM)
	waitFor(t, "the renewed certificate", func() bool {
		return serialOf(t, addr, "a.test", ca) == a2.Cert.SerialNumber.String()
	})

	// A broken file, or a key of another certificate: the one in service
	// stays.
	a3 := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	replace(t, a.CertFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"))
	time.Sleep(100 * time.Millisecond)
	replace(t, a.CertFile, a3.CertPEM) // the key is still a2's: mismatch
	time.Sleep(100 * time.Millisecond)
	if got := serialOf(t, addr, "a.test", ca); got != a2.Cert.SerialNumber.String() {
		t.Fatalf("after bad files: serving %s, want the last good %s", got, a2.Cert.SerialNumber)
	}
	// The key arrives: the pair loads.
	replace(t, a.KeyFile, a3.KeyPEM)
	waitFor(t, "the third certificate", func() bool {
		return serialOf(t, addr, "a.test", ca) == a3.Cert.SerialNumber.String()
	})
}

func TestApplyKeepsOldOnBadFiles(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	s, err := New(testConfig(t, def, dist("a", a, "a.test")))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	bad := testConfig(t, def, dist("a", a, "a.test"))
	bad.Distributions[0].Certificate.KeyFile = a.KeyFile + ".missing"
	if err := s.Apply(bad); err == nil || !strings.Contains(err.Error(), "distributions[0].certificate.key_file") {
		t.Fatalf("Apply with a missing key file: %v", err)
	}
	if got := serialOf(t, addr, "a.test", ca); got != a.Cert.SerialNumber.String() {
		t.Fatalf("after a refused Apply: %s", got)
	}
	// A new distribution with its own certificate, applied.
	b := ca.Issue(t, []string{"b.test"}, certstest.Options{})
	if err := s.Apply(testConfig(t, def, dist("a", a, "a.test"), dist("b", b, "b.test"))); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, addr, "b.test", ca); got != b.Cert.SerialNumber.String() {
		t.Fatalf("b.test after Apply: %s", got)
	}
}

func TestCheckNamesField(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	a := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	expired := ca.Issue(t, []string{"old.test"}, certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for _, tc := range []struct {
		name  string
		edit  func(c *config.Config)
		field string
		text  string
	}{
		{"missing cert", func(c *config.Config) { c.Distributions[0].Certificate.CertFile += ".nope" }, "distributions[0].certificate.cert_file", "no such file"},
		{"missing default key", func(c *config.Config) { c.Edge.TLS.DefaultCertificate.KeyFile += ".nope" }, "edge.tls.default_certificate.key_file", "no such file"},
		{"key mismatch", func(c *config.Config) { c.Distributions[0].Certificate.KeyFile = def.KeyFile }, "distributions[0].certificate", "private key does not match"},
		{"expired", func(c *config.Config) {
			c.Distributions[0].Certificate = &config.Certificate{CertFile: expired.CertFile, KeyFile: expired.KeyFile}
		}, "distributions[0].certificate.cert_file", "expired"},
	} {
		c := testConfig(t, def, dist("a", a, "a.test"))
		tc.edit(c)
		err := Check(c)
		fe := config.FieldErrors(err)
		if len(fe) != 1 || fe[0].Field != tc.field || !strings.Contains(fe[0].Problem, tc.text) {
			t.Errorf("%s: got %v, want field %s with %q", tc.name, err, tc.field, tc.text)
		}
	}
	if err := Check(testConfig(t, def, dist("a", a, "a.test"))); err != nil {
		t.Errorf("good files: %v", err)
	}
}

func TestSecurityPolicy(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	old := ca.Issue(t, []string{"old.test"}, certstest.Options{})
	d := dist("old", old, "old.test")
	d.SecurityPolicy = config.PolicyTLSv11_2016
	modern := dist("new", ca.Issue(t, []string{"new.test"}, certstest.Options{}), "new.test")
	modern.SecurityPolicy = config.PolicyTLSv13_2025
	s, err := New(testConfig(t, def, d, modern))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s.TLSConfig())
	tls11 := func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }
	if _, err := handshake(t, addr, "default.test", ca, tls11); err == nil {
		t.Error("a TLS 1.1 client was accepted under TLSv1.2_2021")
	}
	st, err := handshake(t, addr, "old.test", ca, tls11)
	if err != nil {
		t.Errorf("a TLS 1.1 client under the distribution's TLSv1.1_2016: %v", err)
	} else if st.Version != tls.VersionTLS11 {
		t.Errorf("version %x", st.Version)
	}
	// TLSv1.2_2021 has no CBC suites.
	cbc := func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	}
	if _, err := handshake(t, addr, "default.test", ca, cbc); err == nil {
		t.Error("a CBC-only TLS 1.2 client was accepted under TLSv1.2_2021")
	}
	if _, err := handshake(t, addr, "old.test", ca, cbc); err != nil {
		t.Errorf("a CBC-only client under TLSv1.1_2016: %v", err)
	}
	tls12 := func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }
	if _, err := handshake(t, addr, "new.test", ca, tls12); err == nil {
		t.Error("a TLS 1.2 client was accepted under TLSv1.3_2025")
	}
	if _, err := handshake(t, addr, "default.test", ca, tls12); err != nil {
		t.Errorf("a TLS 1.2 client under TLSv1.2_2021: %v", err)
	}
	st, err = handshake(t, addr, "default.test", ca, nil)
	if err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("a modern client: %v, version %x", err, st.Version)
	}
}

func TestEveryPolicyMaps(t *testing.T) {
	for _, name := range config.SecurityPolicies {
		p, err := PolicyFor(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range p.CipherSuites {
			if tls.CipherSuiteName(id) == "" || strings.HasPrefix(tls.CipherSuiteName(id), "0x") {
				t.Errorf("%s: suite %04x is not one crypto/tls knows", name, id)
			}
		}
	}
}

func TestOCSPStapling(t *testing.T) {
	ca := certstest.NewCA(t)
	resp := ca.NewOCSPResponder(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{OCSPServer: resp.URL})
	revoked := ca.Issue(t, []string{"revoked.test"}, certstest.Options{OCSPServer: resp.URL})
	noChain := ca.Issue(t, []string{"nochain.test"}, certstest.Options{OCSPServer: resp.URL, NoChain: true})
	resp.Revoke(revoked.Cert)
	s, err := New(testConfig(t, def, dist("r", revoked, "revoked.test"), dist("n", noChain, "nochain.test")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, 20*time.Millisecond)
	addr := serveTLS(t, s.TLSConfig())
	var st tls.ConnectionState
	waitFor(t, "a stapled OCSP response", func() bool {
		st, err = handshake(t, addr, "default.test", ca, nil)
		return err == nil && len(st.OCSPResponse) > 0
	})
	r, err := ocsp.ParseResponseForCert(st.OCSPResponse, st.PeerCertificates[0], ca.Cert)
	if err != nil || r.Status != ocsp.Good {
		t.Fatalf("staple: %v, status %d", err, r.Status)
	}
	// A revoked certificate, and one without its issuer, serve without.
	for _, sni := range []string{"revoked.test", "nochain.test"} {
		st, err := handshake(t, addr, sni, ca, func(c *tls.Config) { c.RootCAs = nil; c.InsecureSkipVerify = true })
		if err != nil {
			t.Fatalf("%s: %v", sni, err)
		}
		if len(st.OCSPResponse) != 0 {
			t.Errorf("%s: stapled a response", sni)
		}
	}
	// The responder goes down: handshakes still work, with the staple
	// while it is valid.
	resp.SetDown(true)
	s.mu.Lock()
	for _, p := range s.pairs {
		p.ocsp.next = time.Time{} // due now
	}
	s.mu.Unlock()
	n := resp.Requests()
	waitFor(t, "a refresh attempt", func() bool { return resp.Requests() > n+1 })
	st, err = handshake(t, addr, "default.test", ca, nil)
	if err != nil || len(st.OCSPResponse) == 0 {
		t.Fatalf("with the responder down: %v, staple %d bytes", err, len(st.OCSPResponse))
	}
}

func TestRefreshSchedule(t *testing.T) {
	ca := certstest.NewCA(t)
	resp := ca.NewOCSPResponder(t)
	resp.Validity = 10 * time.Hour
	c := ca.Issue(t, []string{"a.test"}, certstest.Options{OCSPServer: resp.URL})
	pair, err := loadPair(c.CertFile, c.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var f ocspFetcher
	f.init()
	now := time.Now()
	_, r, next, err := f.staple(context.Background(), pair, now)
	if err != nil {
		t.Fatal(err)
	}
	// Halfway to NextUpdate.
	if want := now.Add(r.NextUpdate.Sub(now) / 2); next.Sub(want).Abs() > time.Second {
		t.Errorf("next refresh %v, want %v", next, want)
	}
}

func TestSessionTicketsAcrossRestart(t *testing.T) {
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	file := t.TempDir() + "/tickets"
	c := testConfig(t, def)
	c.Edge.TLS.SessionTicketKeyFile = file
	s1, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	cache := tls.NewLRUClientSessionCache(4)
	tls12 := func(c *tls.Config) { c.ClientSessionCache = cache }
	addr1 := serveTLS(t, s1.TLSConfig())
	if _, err := handshake(t, addr1, "default.test", ca, tls12); err != nil {
		t.Fatal(err)
	}
	// A second store from the same file (a restart) resumes the session.
	s2, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	addr2 := serveTLS(t, s2.TLSConfig())
	st, err := handshake(t, addr2, "default.test", ca, tls12)
	if err != nil || !st.DidResume {
		t.Fatalf("after a restart: resumed %v, %v", st.DidResume, err)
	}
	// Without the file, a new store cannot resume it.
	c.Edge.TLS.SessionTicketKeyFile = ""
	s3, _ := New(c)
	addr3 := serveTLS(t, s3.TLSConfig())
	st, _ = handshake(t, addr3, "default.test", ca, tls12)
	if st.DidResume {
		t.Fatal("resumed with other keys")
	}
}

func TestTicketRotation(t *testing.T) {
	file := t.TempDir() + "/tickets"
	now := time.Now()
	tk, err := loadTickets(file, now)
	if err != nil {
		t.Fatal(err)
	}
	first := tk.keys[0]
	for i := 1; i <= 4; i++ {
		changed, err := tk.update(now.Add(time.Duration(i) * (TicketKeyRotation + time.Minute)))
		if err != nil || !changed {
			t.Fatalf("rotation %d: %v %v", i, changed, err)
		}
	}
	again, err := loadTickets(file, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.keys) != TicketKeysKept || again.keys[0] != tk.keys[0] {
		t.Fatalf("file after rotations: %d keys", len(again.keys))
	}
	for _, k := range again.keys {
		if k == first {
			t.Fatal("the first key is still kept after 4 rotations")
		}
	}
	if changed, _ := tk.update(now.Add(4*(TicketKeyRotation+time.Minute) + time.Hour)); changed {
		t.Fatal("rotated again within a day")
	}
	os.WriteFile(file, []byte("not hex\n"), 0o600)
	if _, err := tk.update(time.Now()); err == nil {
		t.Fatal("a bad file was not reported")
	}
	if _, err := loadTickets(file, now); err == nil || !strings.Contains(err.Error(), "session_ticket_key_file") {
		t.Fatalf("loading a bad file: %v", err)
	}
}

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cf, kf, err := SelfSigned(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadPair(cf, kf, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// Kept when still good.
	cf2, _, _ := SelfSigned(dir, []string{"localhost"})
	c2, _ := loadPair(cf2, kf, time.Now())
	if !c2.Leaf.Equal(c.Leaf) {
		t.Fatal("a good certificate was replaced")
	}
}

func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
