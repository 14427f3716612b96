package config

import (
	"strings"
	"testing"
)

func TestSessionTicketsField(t *testing.T) {
	c := mustParse(t, minimal)
	if !c.Edge.TLS.SessionTicketsEnabled() {
		t.Error("session tickets are off by default")
	}
	c = mustParse(t, `
edge:
  listen_tls: ":8443"
  tls:
    default_certificate: {cert_file: a.pem, key_file: a.key}
    session_tickets: false
distributions:
  - id: site
    origins: [{id: web, domain_name: origin.example.com}]
    default_cache_behavior: {target_origin_id: web}
`)
	if c.Edge.TLS.SessionTicketsEnabled() {
		t.Error("session_tickets: false parsed as on")
	}
	c.Edge.TLS.SessionTicketKeyFile = "/var/lib/tern/tickets"
	err := c.Validate()
	found := false
	for _, fe := range FieldErrors(err) {
		if fe.Field == "edge.tls.session_ticket_key_file" && strings.Contains(fe.Problem, "session_tickets: false") {
			found = true
		}
	}
	if !found {
		t.Errorf("a key file with session_tickets: false: %v", err)
	}
}

func TestPublicPortField(t *testing.T) {
	base := `
edge:
  listen_tls: ":8443"
  tls:
    default_certificate: {cert_file: a.pem, key_file: a.key}
    public_port: 443
distributions:
  - id: site
    origins: [{id: web, domain_name: origin.example.com}]
    default_cache_behavior: {target_origin_id: web}
`
	if c := mustParse(t, base); c.Edge.TLS.PublicPort != 443 {
		t.Errorf("public_port parsed as %d", c.Edge.TLS.PublicPort)
	}
	for _, tc := range []struct {
		port   int
		noTLS  bool
		reason string
	}{
		{port: 70000, reason: "is not a port"},
		{port: -1, reason: "is not a port"},
		{port: 443, noTLS: true, reason: "without edge.listen_tls"},
	} {
		c := mustParse(t, base)
		c.Edge.TLS.PublicPort = tc.port
		if tc.noTLS {
			c.Edge.ListenTLS = ""
		}
		found := false
		for _, fe := range FieldErrors(c.Validate()) {
			if fe.Field == "edge.tls.public_port" && strings.Contains(fe.Problem, tc.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("public_port %d (listen_tls %q): no error naming the field with %q", tc.port, c.Edge.ListenTLS, tc.reason)
		}
	}
}
