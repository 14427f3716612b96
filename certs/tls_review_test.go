package certs

import (
	"crypto/tls"
	"testing"

	"github.com/terncdn/tern/certs/certstest"
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
