// Package certs holds the certificates the edge presents to HTTPS viewers:
// PEM files loaded, indexed by the names they cover and by the aliases of
// the distributions they belong to, chosen per handshake by SNI, reloaded
// when their files change, and stapled with fresh OCSP responses.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/terncdn/tern/config"
)

// pair is one certificate loaded from its files. cert is swapped whole on
// reload and on each new OCSP staple; handshakes read it without locks.
type pair struct {
	field             string // the config field, for logs: "distributions[1].certificate"
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	certStamp         stamp // of the files last loaded (or last refused)
	keyStamp          stamp
	ocsp              ocspState // guarded by Store.mu
}

// stamp identifies a version of a file well enough to notice a new one.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// index answers "which certificate, which policy" for a server name.
type index struct {
	exact    map[string]*pair // aliases, then names in certificates
	wildcard map[string]*pair // "example.com" for "*.example.com"
	def      *pair
	acme     map[string]bool // names the ACME hook answers for
	// The security policy of each enabled distribution (its own, else
	// defPolicy) by what the edge routes by: exact alias, wildcard alias
	// ("example.com" for "*.example.com"), generated label, and the
	// catch-all distribution (nil: none); defPolicy for the rest.
	policy, wildPolicy, labelPolicy map[string]*tls.Config
	catchAllPolicy, defPolicy       *tls.Config
}

// Store chooses the certificate and the security policy of each viewer
// handshake. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex             // serialises Apply, reloads and OCSP refreshes
	pairs   map[[2]string]*pair    // by cert and key file
	idx     atomic.Pointer[index]  // swapped whole
	acme    atomic.Pointer[ACME]   // nil: no ACME certificates
	confs   map[string]*tls.Config // by security policy name
	ocsp    ocspFetcher            // OCSP client (ocsp.go)
	now     func() time.Time       // the clock, for tests
	tickets *tickets               // session ticket keys; guarded by mu
}

// New loads the certificates c names (edge.tls.default_certificate and the
// distributions' certificate files) and builds the handshake settings of
// each security policy. An error names the field whose files are wrong.
func New(c *config.Config) (*Store, error) {
	s := &Store{pairs: make(map[[2]string]*pair), confs: make(map[string]*tls.Config), now: time.Now}
	s.ocsp.init()
	for _, name := range config.SecurityPolicies {
		p, err := PolicyFor(name)
		if err != nil {
			return nil, err
		}
		s.confs[name] = &tls.Config{
			MinVersion:     p.MinVersion,
			CipherSuites:   p.CipherSuites,
			NextProtos:     []string{"h2", "http/1.1", ACMEProtocol},
			GetCertificate: s.GetCertificate,
			// edge.tls.session_tickets: false: full handshakes only.
			SessionTicketsDisabled: !c.Edge.TLS.SessionTicketsEnabled(),
		}
	}
	if err := s.Apply(c); err != nil {
		return nil, err
	}
	var err error
	if s.tickets, err = loadTickets(c.Edge.TLS.SessionTicketKeyFile, s.now()); err != nil {
		return nil, err
	}
	s.setTicketKeys()
	return s, nil
}

// TLSConfig is the configuration for the HTTPS listener: each handshake
// gets the settings of its server name's security policy, and the
// certificate GetCertificate picks. NextProtos offers h2 and http/1.1
// (and acme-tls/1, for the CA's tls-alpn-01 handshakes);
// HTTP/3 replaces them with h3 (http3.ConfigureTLSConfig).
func (s *Store) TLSConfig() *tls.Config {
	base := s.confs[config.DefaultSecurityPolicy].Clone()
	base.GetConfigForClient = s.configForClient
	return base
}

// configForClient picks the security policy of hello's server name: the
// policy of the distribution the edge routes that name to as a Host
// (exact alias, then the wildcard alias with the longest suffix, at any
// depth, then the generated name, then the catch-all), else the edge's.
// The edge answers 421 to a request whose Host names a distribution whose
// policy the connection does not meet, so the two must agree.
func (s *Store) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	idx := s.idx.Load()
	name := serverName(hello)
	if name == "" {
		return idx.defPolicy, nil
	}
	if c := idx.policy[name]; c != nil {
		return c, nil
	}
	for p := parentDomain(name); p != ""; p = parentDomain(p) {
		if c := idx.wildPolicy[p]; c != nil {
			return c, nil
		}
	}
	if len(name) > 10 && name[9] == '.' {
		if c := idx.labelPolicy[name[:9]]; c != nil {
			return c, nil
		}
	}
	if idx.catchAllPolicy != nil {
		return idx.catchAllPolicy, nil
	}
	return idx.defPolicy, nil
}

// GetCertificate picks the certificate for a handshake: the one of the
// distribution whose alias the server name (SNI) is, else one whose names
// cover it exactly, else one whose wildcard name or wildcard alias covers
// it, else the default. A handshake without SNI gets the default.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	idx := s.idx.Load()
	name := serverName(hello)
	// Only the names of distributions with certificate: {acme: true} go
	// to the ACME manager, the CA's validation handshakes (acme-tls/1)
	// included: it orders for no other name, so a handshake for any other
	// costs it nothing and gets the file certificates below.
	if a := s.acme.Load(); a != nil && idx.acme[name] {
		// A name whose certificate is not issued yet gets the default.
		if c, err := a.GetCertificate(hello); c != nil || err != nil {
			return c, err
		}
	}
	if name != "" {
		if p := idx.exact[name]; p != nil {
			return p.cert.Load(), nil
		}
		if p := idx.wildcard[parentDomain(name)]; p != nil {
			return p.cert.Load(), nil
		}
	}
	if idx.def != nil {
		return idx.def.cert.Load(), nil
	}
	if name == "" {
		return nil, errors.New("no certificate for a handshake without a server name (SNI): set edge.tls.default_certificate")
	}
	return nil, fmt.Errorf("no certificate covers %q", name)
}

// SetACME installs the ACME manager: handshakes for the aliases of the
// distributions with certificate: {acme: true}, and TLS-ALPN-01
// challenges, go to a. Call it before the listener serves.
func (s *Store) SetACME(a *ACME) {
	s.acme.Store(a)
}

// ACMENames are the host names whose certificates come from ACME: the
// aliases of the distributions with certificate: {acme: true}.
func ACMENames(c *config.Config) []string {
	var out []string
	for _, d := range c.Distributions {
		if d != nil && d.Certificate != nil && d.Certificate.ACME && d.IsEnabled() {
			out = append(out, d.Aliases...)
		}
	}
	return out
}

// serverName is hello's SNI in lower case, without a trailing dot.
func serverName(hello *tls.ClientHelloInfo) string {
	return strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
}

// parentDomain is name without its first label ("" for a single label):
// a TLS wildcard covers exactly one label (RFC 6125 §6.4.3).
func parentDomain(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[i+1:]
	}
	return ""
}

// Check loads every certificate file c names and reports each problem
// (missing file, key that does not match, certificate expired or not yet
// valid) naming its field, as a *config.FieldError. Run it where the files
// are (tern validate). New and Apply are stricter about nothing but this:
// they serve a certificate outside its validity period, and log it, rather
// than refuse the whole configuration.
func Check(c *config.Config) error {
	_, err := loadAll(c, nil, false)
	return err
}

// certSources lists the file certificates of c with their fields.
func certSources(c *config.Config) []source {
	var out []source
	if d := c.Edge.TLS.DefaultCertificate; d.IsFile() {
		out = append(out, source{field: "edge.tls.default_certificate", cert: d, isDefault: true})
	}
	for i, d := range c.Distributions {
		if d == nil || !d.Certificate.IsFile() {
			continue
		}
		out = append(out, source{field: fmt.Sprintf("distributions[%d].certificate", i), cert: d.Certificate, dist: d})
	}
	return out
}

type source struct {
	field     string
	cert      *config.Certificate
	dist      *config.Distribution
	isDefault bool
}

// loadAll loads the file certificates of c, reusing from have those whose
// files did not change. With expiredOK a certificate outside its validity
// period is loaded, and logged, instead of being an error.
func loadAll(c *config.Config, have map[[2]string]*pair, expiredOK bool) (map[[2]string]*pair, error) {
	out := make(map[[2]string]*pair)
	var errs []error
	for _, src := range certSources(c) {
		k := [2]string{src.cert.CertFile, src.cert.KeyFile}
		if _, done := out[k]; done {
			continue
		}
		if p := have[k]; p != nil {
			out[k] = p
			continue
		}
		p := &pair{field: src.field, certFile: k[0], keyFile: k[1]}
		if err := p.load(time.Now(), expiredOK); err != nil {
			errs = append(errs, err)
			continue
		}
		out[k] = p
	}
	return out, errors.Join(errs...)
}

// load reads p's files into p.cert; on error p keeps what it had. With
// expiredOK, a certificate outside its validity period is put in service
// all the same and the problem logged: a certificate that expired in
// service (nobody renewed it) must not keep the edge from starting again,
// nor a revision of other distributions from being applied; viewers of
// its names get what they got before. A file replaced on disk is read with
// expiredOK false: an expired replacement does not displace the one in
// service.
func (p *pair) load(now time.Time, expiredOK bool) error {
	cs, err1 := stampOf(p.certFile)
	ks, err2 := stampOf(p.keyFile)
	cert, err := loadPair(p.certFile, p.keyFile, now)
	if err != nil {
		field := p.field
		var fe *fieldProblem
		if errors.As(err, &fe) {
			field += "." + fe.field
		}
		if cert != nil && expiredOK {
			slog.Error("certificate outside its validity period; serving it until its files are replaced", "field", field, "error", err)
			p.certStamp, p.keyStamp = cs, ks
			p.cert.Store(cert)
			return nil
		}
		if err1 == nil && err2 == nil {
			// A refused version is not tried again until it changes.
			p.certStamp, p.keyStamp = cs, ks
		}
		return &config.FieldError{Field: field, Problem: err.Error()}
	}
	p.certStamp, p.keyStamp = cs, ks
	p.cert.Store(cert)
	return nil
}

// fieldProblem is an error about one of the two files (cert_file or
// key_file).
type fieldProblem struct {
	field string
	err   error
}

func (e *fieldProblem) Error() string { return e.err.Error() }

// loadPair reads and checks a certificate and its key. A certificate
// outside its validity period is returned with the error.
func loadPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &fieldProblem{"cert_file", err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &fieldProblem{"key_file", err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &fieldProblem{"cert_file", fmt.Errorf("%s: %w", certFile, err)}
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return &cert, &fieldProblem{"cert_file", fmt.Errorf("%s: the certificate expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return &cert, &fieldProblem{"cert_file", fmt.Errorf("%s: the certificate is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return &cert, nil
}

// Apply puts c's certificates and policies in service: files already
// loaded are kept, new ones read. If a file does not load, nothing
// changes and the error names its field.
func (s *Store) Apply(c *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pairs, err := loadAll(c, s.pairs, true)
	if err != nil {
		return err
	}
	idx := &index{
		exact: make(map[string]*pair), wildcard: make(map[string]*pair), acme: make(map[string]bool),
		policy: make(map[string]*tls.Config), wildPolicy: make(map[string]*tls.Config),
		labelPolicy: make(map[string]*tls.Config),
		defPolicy:   s.confs[c.Edge.TLS.SecurityPolicy],
	}
	if idx.defPolicy == nil {
		idx.defPolicy = s.confs[config.DefaultSecurityPolicy]
	}
	srcs := certSources(c)
	// Aliases first: a distribution's own certificate wins over another
	// that merely covers the name.
	for _, src := range srcs {
		p := pairs[[2]string{src.cert.CertFile, src.cert.KeyFile}]
		if src.isDefault {
			idx.def = p
			continue
		}
		for _, a := range src.dist.Aliases {
			addName(idx, a, p)
		}
	}
	for _, src := range srcs {
		p := pairs[[2]string{src.cert.CertFile, src.cert.KeyFile}]
		for _, n := range p.cert.Load().Leaf.DNSNames {
			addName(idx, n, p)
		}
	}
	for _, n := range ACMENames(c) {
		idx.acme[strings.ToLower(n)] = true
	}
	for _, d := range c.Distributions {
		if d == nil || !d.IsEnabled() {
			continue
		}
		conf := idx.defPolicy
		if d.SecurityPolicy != "" {
			conf = s.confs[d.SecurityPolicy]
		}
		idx.labelPolicy[config.GeneratedLabel(d.ID)] = conf
		if len(d.Aliases) == 0 {
			idx.catchAllPolicy = conf
		}
		for _, a := range d.Aliases {
			a = strings.TrimSuffix(strings.ToLower(a), ".")
			if w, ok := strings.CutPrefix(a, "*."); ok {
				idx.wildPolicy[w] = conf
			} else if a == "*" {
				idx.catchAllPolicy = conf
			} else {
				idx.policy[a] = conf
			}
		}
	}
	s.pairs = pairs
	s.idx.Store(idx)
	return nil
}

// addName indexes p under name unless the name is taken.
func addName(idx *index, name string, p *pair) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	m := idx.exact
	if w, ok := strings.CutPrefix(name, "*."); ok {
		m, name = idx.wildcard, w
	} else if name == "*" || net.ParseIP(name) != nil {
		return
	}
	if _, taken := m[name]; !taken {
		m[name] = p
	}
}

// reload reads again every certificate whose files changed since they
// were last read. A pair that no longer loads is logged and the one in
// service kept.
func (s *Store) reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pairs {
		cs, err1 := stampOf(p.certFile)
		ks, err2 := stampOf(p.keyFile)
		if err1 != nil || err2 != nil {
			if cs != p.certStamp || ks != p.keyStamp {
				slog.Error("certificate files not readable; keeping the certificate in service", "field", p.field, "error", errors.Join(err1, err2))
				p.certStamp, p.keyStamp = cs, ks
			}
			continue
		}
		if cs == p.certStamp && ks == p.keyStamp {
			continue
		}
		if err := p.load(s.now(), false); err != nil {
			slog.Error("certificate not reloaded; keeping the one in service", "error", err)
			continue
		}
		p.ocsp = ocspState{} // a new certificate needs its own staple
		slog.Info("certificate reloaded", "field", p.field, "cert_file", p.certFile, "names", p.cert.Load().Leaf.DNSNames)
	}
}
