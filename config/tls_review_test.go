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
