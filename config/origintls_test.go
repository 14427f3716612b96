package config

import (
	"crypto/tls"
	"strings"
	"testing"
)

func originTLSConfig(origin string) string {
	return `
distributions:
  - id: site
    origins:
      - ` + origin + `
    default_cache_behavior: {target_origin_id: o}
`
}

func TestOriginTLS(t *testing.T) {
	c := mustParse(t, originTLSConfig(`{id: o, domain_name: 10.0.0.1, protocol_policy: https-only, http2: true,
         tls: {ca_file: ca.pem, system_roots: false, server_name: origin.example.com}}`))
	o := c.Distributions[0].Origins[0]
	if !o.HTTP2 || o.TLS.CAFile != "ca.pem" || o.TLS.UsesSystemRoots() || o.TLS.ServerName != "origin.example.com" {
		t.Errorf("parsed %+v, tls %+v", o, o.TLS)
	}
	if o.TLS.MinProtocolVersion != TLSv12 || o.TLS.MinVersion() != tls.VersionTLS12 {
		t.Errorf("min_protocol_version %q (%#x), want the default TLSv1.2", o.TLS.MinProtocolVersion, o.TLS.MinVersion())
	}

	c = mustParse(t, originTLSConfig(`{id: o, domain_name: a.example.com, protocol_policy: match-viewer, tls: {min_protocol_version: TLSv1.3}}`))
	if o := c.Distributions[0].Origins[0]; o.HTTP2 || !o.TLS.UsesSystemRoots() || o.TLS.MinVersion() != tls.VersionTLS13 {
		t.Errorf("parsed %+v, tls %+v", o, o.TLS)
	}
	var none *OriginTLS
	if !none.UsesSystemRoots() || none.MinVersion() != 0 {
		t.Error("a nil OriginTLS should use the system roots and the client's default version")
	}
}

func TestOriginTLSValidate(t *testing.T) {
	const f = "distributions[0].origins[0]."
	tests := []struct {
		origin  string
		field   string
		problem string
	}{
		{`{id: o, domain_name: a.example.com, http2: true}`, f + "http2", "protocol_policy is http-only"},
		{`{id: o, domain_name: a.example.com, tls: {ca_file: ca.pem}}`, f + "tls", "protocol_policy is http-only"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {system_roots: false}}`, f + "tls.system_roots", "no certificate could be trusted"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {server_name: 10.0.0.1}}`, f + "tls.server_name", "not a host name"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {server_name: "a b"}}`, f + "tls.server_name", "not a host name"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {min_protocol_version: SSLv3}}`, f + "tls.min_protocol_version", "SSLv3 is not supported"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {min_protocol_version: TLSv1.4}}`, f + "tls.min_protocol_version", "not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"},
		{`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {ca_file: " ca.pem"}}`, f + "tls.ca_file", "spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.problem, func(t *testing.T) {
			_, err := Parse([]byte(originTLSConfig(tt.origin)), "test.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			fes := FieldErrors(err)
			if len(fes) != 1 || fes[0].Field != tt.field || !strings.Contains(fes[0].Problem, tt.problem) {
				t.Fatalf("got %v, want one problem at %s: %s", err, tt.field, tt.problem)
			}
		})
	}
	// Verification cannot be turned off: the field does not exist.
	_, err := Parse([]byte(originTLSConfig(`{id: o, domain_name: a.example.com, protocol_policy: https-only, tls: {insecure_skip_verify: true}}`)), "test.yaml")
	if err == nil || !strings.Contains(err.Error(), "insecure_skip_verify") {
		t.Errorf("insecure_skip_verify: got %v, want an unknown-field error", err)
	}
}
