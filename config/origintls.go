package config

import (
	"crypto/tls"
	"net"
	"strings"
)

// OriginTLS configures HTTPS connections to an origin: which certificate
// authorities are trusted, the name checked, and the oldest TLS version
// allowed. The origin's certificate is always verified, as CloudFront
// verifies it: an untrusted, expired or misnamed certificate fails the
// fetch with 502 (error origin-certificate-error). There is no switch to
// turn verification off; for a self-signed certificate, put the
// certificate itself in ca_file.
type OriginTLS struct {
	// CAFile is a PEM file of CA certificates (or self-signed server
	// certificates) the origin's certificate may chain to, for a private
	// CA. Each edge reads it from its own disk when the configuration is
	// applied; a relative path is relative to the edge's working
	// directory. Every PEM block must be a CERTIFICATE. Default "" (none).
	CAFile string `yaml:"ca_file,omitempty"`
	// SystemRoots trusts the system's root certificates, in addition to
	// ca_file. Default true; false trusts ca_file alone, and then needs
	// it.
	SystemRoots *bool `yaml:"system_roots,omitempty"`
	// ServerName is the name sent in TLS SNI and checked against the
	// origin's certificate, for an origin reached by an address its
	// certificate does not name. Default "": as CloudFront, the origin's
	// domain_name, or the viewer's Host when the origin request policy
	// forwards Host (a certificate for domain_name is then accepted
	// too). It does not change the Host header sent.
	ServerName string `yaml:"server_name,omitempty"`
	// MinProtocolVersion is the oldest TLS version Tern will speak to the
	// origin (CloudFront's origin SSL protocols): TLSv1, TLSv1.1,
	// TLSv1.2 or TLSv1.3. Default TLSv1.2. SSLv3 is not supported.
	MinProtocolVersion string `yaml:"min_protocol_version,omitempty"`
}

// TLS protocol versions for min_protocol_version.
const (
	TLSv10 = "TLSv1"
	TLSv11 = "TLSv1.1"
	TLSv12 = "TLSv1.2"
	TLSv13 = "TLSv1.3"
)

var tlsVersions = map[string]uint16{
	TLSv10: tls.VersionTLS10,
	TLSv11: tls.VersionTLS11,
	TLSv12: tls.VersionTLS12,
	TLSv13: tls.VersionTLS13,
}

// MinVersion is MinProtocolVersion as a crypto/tls version; zero for a
// nil t or an unknown name.
func (t *OriginTLS) MinVersion() uint16 {
	if t == nil {
		return 0
	}
	return tlsVersions[t.MinProtocolVersion]
}

// UsesSystemRoots reports whether the system's root certificates are
// trusted.
func (t *OriginTLS) UsesSystemRoots() bool {
	return t == nil || t.SystemRoots == nil || *t.SystemRoots
}

func (t *OriginTLS) applyDefaults() {
	if t != nil {
		setString(&t.MinProtocolVersion, TLSv12)
	}
}

// validateTLS checks the HTTPS settings of o: tls and http2.
func (o *Origin) validateTLS(p *problems, f string) {
	httpOnly := o.ProtocolPolicy == OriginHTTPOnly
	if o.HTTP2 && httpOnly {
		p.add(f+".http2", "needs HTTPS (HTTP/2 is negotiated in the TLS handshake); protocol_policy is http-only")
	}
	t := o.TLS
	if t == nil {
		return
	}
	f += ".tls"
	if httpOnly {
		p.add(f, "applies to HTTPS only; protocol_policy is http-only (set https-only or match-viewer)")
	}
	if !t.UsesSystemRoots() && t.CAFile == "" {
		p.add(f+".system_roots", "is false and ca_file is empty: no certificate could be trusted")
	}
	if t.CAFile != "" && strings.TrimSpace(t.CAFile) != t.CAFile {
		p.add(f+".ca_file", "%q has leading or trailing spaces", t.CAFile)
	}
	if n := t.ServerName; n != "" && (!validHostname(n) || net.ParseIP(n) != nil) {
		p.add(f+".server_name", "%q is not a host name (an IP address cannot be sent in SNI; leave server_name out to check the address)", n)
	}
	switch v := t.MinProtocolVersion; {
	case strings.EqualFold(v, "SSLv3"):
		p.add(f+".min_protocol_version", "SSLv3 is not supported (it is broken, RFC 7568); use TLSv1 or later")
	case tlsVersions[v] == 0:
		checkWord(p, f+".min_protocol_version", v, TLSv10, TLSv11, TLSv12, TLSv13)
	}
}
