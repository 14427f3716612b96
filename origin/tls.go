package origin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
)

// tlsSettings are the parts of an origin's TLS client configuration that
// do not depend on the request: a connection's server name does (see
// pool.serverName), so config builds a tls.Config per connection.
type tlsSettings struct {
	roots      *x509.CertPool // nil: the system roots
	minVersion uint16
	sessions   tls.ClientSessionCache
	// fixedHost is the URL host for every HTTPS request when
	// Origin.ServerName is set ("" otherwise).
	fixedHost string
	// fallback is the name a certificate may also be for when the server
	// name came from the viewer's Host: the origin's DomainName. It is ""
	// when Origin.ServerName is set, which is then the only name checked.
	fallback string
}

func newTLSSettings(o *Origin) (tlsSettings, error) {
	s := tlsSettings{
		minVersion: o.MinTLSVersion,
		sessions:   tls.NewLRUClientSessionCache(64),
	}
	if s.minVersion == 0 {
		s.minVersion = tls.VersionTLS12
	}
	if o.ServerName != "" {
		s.fixedHost = urlHost(strings.ToLower(o.ServerName), o.HTTPSPort, 443)
	} else {
		s.fallback = o.DomainName
	}
	if len(o.CAPEM) == 0 && !o.NoSystemRoots {
		return s, nil
	}
	if o.NoSystemRoots {
		s.roots = x509.NewCertPool()
	} else if sys, err := x509.SystemCertPool(); err == nil {
		s.roots = sys // a copy: adding to it leaves the system's alone
	} else {
		s.roots = x509.NewCertPool()
	}
	certs, err := ParseCAPEM(o.CAPEM)
	if err != nil {
		return s, err
	}
	if len(certs) == 0 {
		return s, errors.New("no certificate authorities to trust: the system roots are excluded and no CA certificates are given")
	}
	for _, c := range certs {
		s.roots.AddCert(c)
	}
	return s, nil
}

// ParseCAPEM parses a PEM bundle of CA certificates, as an origin's
// ca_file holds. Unlike x509.CertPool.AppendCertsFromPEM it fails on a
// block that is not a certificate, or does not parse, instead of skipping
// it, and on text outside PEM blocks that is not whitespace.
func ParseCAPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		b, rest := pem.Decode(data)
		if b == nil {
			if strings.TrimSpace(string(rest)) != "" {
				return nil, fmt.Errorf("PEM block %d: not PEM data", n)
			}
			return certs, nil
		}
		data = rest
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
}

// serverName returns the URL host of an HTTPS request: the TLS server
// name (with the port when it is not 443). forwardedHost is the Host
// header sent when the viewer's is forwarded, else "".
//
// CloudFront sends the origin's domain name in SNI, or the Host header
// when the origin request policy forwards it, and accepts a certificate
// for either; Origin.ServerName overrides both.
func (p *pool) serverName(forwardedHost string) string {
	if p.tls.fixedHost != "" {
		return p.tls.fixedHost
	}
	if forwardedHost == "" {
		return p.tlsHost
	}
	name := forwardedHost
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	if name == "" || name == p.o.DomainName {
		return p.tlsHost
	}
	return urlHost(name, p.o.HTTPSPort, 443)
}

// config returns the client configuration of one connection to name.
func (s *tlsSettings) config(name string, alpn []string) *tls.Config {
	cfg := &tls.Config{
		ServerName:         name,
		RootCAs:            s.roots,
		MinVersion:         s.minVersion,
		NextProtos:         alpn,
		ClientSessionCache: s.sessions,
	}
	if s.fallback != "" && !strings.EqualFold(name, s.fallback) {
		// The name is the viewer's Host. crypto/tls checks one name only,
		// so its check is replaced by verifyEither, which runs the same
		// chain verification for this name and then for DomainName;
		// a connection is never left unverified.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = verifyEither(s.roots, name, s.fallback)
	}
	return cfg
}

// verifyEither verifies a server's certificate chain as crypto/tls does
// (roots, the intermediates the server sent, server authentication, the
// current time), accepting a leaf valid for any of names.
func verifyEither(roots *x509.CertPool, names ...string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		if len(certs) == 0 {
			return errors.New("origin sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
		var first error
		for _, n := range names {
			opts.DNSName = n
			_, err := certs[0].Verify(opts)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: first}
	}
}

// handshakeKind classifies a failed TLS handshake: Certificate when the
// origin's certificate was refused, TLS for anything else.
func handshakeKind(err error) ErrorKind {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	if errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return Certificate
	}
	return TLS
}
