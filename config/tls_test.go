package config

import (
	"strings"
	"testing"
)

func TestTLSDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	tl := c.Edge.TLS
	if c.Edge.ListenTLS != "" || tl.SecurityPolicy != PolicyTLSv12_2021 || !tl.HTTP3Enabled() {
		t.Errorf("defaults: listen_tls %q, policy %q, http3 %v", c.Edge.ListenTLS, tl.SecurityPolicy, tl.HTTP3Enabled())
	}
	h := tl.HTTP2
	if h.MaxConcurrentStreams != 250 || h.MaxHeaderListSize != 64*KiB || h.MaxReadFrameSize != MiB || h.StreamWindow != MiB || h.ConnectionWindow != 4*MiB {
		t.Errorf("http2 defaults: %+v", h)
	}
	c = mustParse(t, `
edge:
  listen_tls: ":8443"
  tls:
    default_certificate: {cert_file: a.pem, key_file: a.key}
    http3: false
    http2: {stream_window: 8MiB}
    acme: {agree_tos: true}
distributions:
  - id: site
    aliases: [shop.example.com]
    certificate: {acme: true}
    security_policy: TLSv1_2016
    origins: [{id: web, domain_name: origin.example.com}]
    default_cache_behavior: {target_origin_id: web}
`)
	if c.Edge.TLS.HTTP3Enabled() || c.Edge.TLS.HTTP2.ConnectionWindow != 8*MiB || !c.Distributions[0].Certificate.ACME {
		t.Errorf("parsed: %+v", c.Edge.TLS)
	}
}

func TestValidateTLS(t *testing.T) {
	withTLS := func(c *Config) {
		c.Edge.ListenTLS = "127.0.0.1:8443"
		c.Edge.TLS.DefaultCertificate = &Certificate{CertFile: "c.pem", KeyFile: "k.pem"}
	}
	tests := []struct {
		name    string
		mutate  func(c *Config)
		field   string
		problem string
	}{
		{"listen_tls", func(c *Config) { withTLS(c); c.Edge.ListenTLS = "8443" }, "edge.listen_tls", "not host:port"},
		{"listen_tls is listen", func(c *Config) { withTLS(c); c.Edge.ListenTLS = c.Edge.Listen }, "edge.listen_tls", "also edge.listen"},
		{"no certificate", func(c *Config) { withTLS(c); c.Edge.TLS.DefaultCertificate = nil }, "edge.tls.default_certificate", "required with edge.listen_tls"},
		{"no key", func(c *Config) { withTLS(c); c.Edge.TLS.DefaultCertificate.KeyFile = "" }, "edge.tls.default_certificate.key_file", "is required"},
		{"acme default", func(c *Config) { withTLS(c); c.Edge.TLS.DefaultCertificate = &Certificate{ACME: true} }, "edge.tls.default_certificate.acme", "per distribution"},
		{"policy", func(c *Config) { c.Edge.TLS.SecurityPolicy = "TLSv1.3" }, "edge.tls.security_policy", `"TLSv1.3" is not one of TLSv1.3_2025, TLSv1.2_2025, TLSv1.2_2021`},
		{"distribution policy", func(c *Config) { d0(c).SecurityPolicy = "SSLv3" }, "distributions[0].security_policy", "not one of"},
		{"streams", func(c *Config) { c.Edge.TLS.HTTP2.MaxConcurrentStreams = -1 }, "edge.tls.http2.max_concurrent_streams", "not between 1 and"},
		{"header list", func(c *Config) { c.Edge.TLS.HTTP2.MaxHeaderListSize = 2 * MiB }, "edge.tls.http2.max_header_list_size", "not between 1KiB and 1MiB"},
		{"frame size", func(c *Config) { c.Edge.TLS.HTTP2.MaxReadFrameSize = 1024 }, "edge.tls.http2.max_read_frame_size", "RFC 9113"},
		{"connection window", func(c *Config) { c.Edge.TLS.HTTP2.ConnectionWindow = 1024 }, "edge.tls.http2.connection_window", "not between stream_window"},
		{"acme and files", func(c *Config) {
			d0(c).Certificate = &Certificate{ACME: true, CertFile: "c.pem"}
		}, "distributions[0].certificate", "not both"},
		{"acme wildcard", func(c *Config) { d0(c).Certificate = &Certificate{ACME: true} }, "distributions[0].aliases[1]", "wildcard"},
		{"acme without edge.tls.acme", func(c *Config) {
			withTLS(c)
			c.Distributions[1].Aliases = []string{"o.example.com"}
			c.Distributions[1].Certificate = &Certificate{ACME: true}
		}, "distributions[1].certificate.acme", "needs edge.tls.acme"},
		{"edge.tls.acme without listen_tls", func(c *Config) { c.Edge.TLS.ACME = &ACME{AgreeTOS: true, DirectoryURL: DefaultACMEDirectory} }, "edge.tls.acme", "needs edge.listen_tls"},
		{"edge.tls.acme checked", func(c *Config) { withTLS(c); c.Edge.TLS.ACME = &ACME{DirectoryURL: DefaultACMEDirectory} }, "edge.tls.acme.agree_tos", "must be true"},
		{"distribution cert file", func(c *Config) { d0(c).Certificate = &Certificate{KeyFile: "k.pem"} }, "distributions[0].certificate.cert_file", "is required"},
	}
	for _, tc := range tests {
		c := mustParse(t, valid)
		tc.mutate(c)
		err := c.Validate()
		found := false
		for _, fe := range FieldErrors(err) {
			if fe.Field == tc.field && strings.Contains(fe.Problem, tc.problem) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want %s: %q, got %v", tc.name, tc.field, tc.problem, err)
		}
	}
	// A distribution's own certificate stands in for the default.
	c := mustParse(t, valid)
	c.Edge.ListenTLS = "127.0.0.1:8443"
	d0(c).Certificate = &Certificate{CertFile: "c.pem", KeyFile: "k.pem"}
	if err := c.Validate(); err != nil {
		t.Errorf("listen_tls with a distribution's certificate and no default: %v", err)
	}
}
