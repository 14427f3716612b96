package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// ACME challenge types (edge.tls.acme.challenges).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// DefaultACMEDirectory is Let's Encrypt's production ACME directory, the
// default of edge.tls.acme.directory_url.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACME (edge.tls.acme) is how this edge obtains the certificates of the
// distributions whose certificate is {acme: true}: one certificate per
// alias, ordered from an ACME CA when the distribution appears, kept on
// disk, renewed in the background, and served by SNI. The CA checks that
// this edge answers for each name: it connects to the name's address on
// port 80 (http-01, answered by edge.listen) or 443 (tls-alpn-01, answered
// by edge.listen_tls), so DNS must point the aliases at this edge and those
// ports must reach it. An order that fails is logged and retried (after 1
// minute, then less and less often, up to every 6 hours, for 30 days); names already
// served are not affected, and a name without its certificate yet gets the
// default certificate. Wildcard aliases cannot be certified this way (they
// need the DNS-01 challenge). Several edges serving the same names each
// order their own certificates, and the CA's check may reach any of them:
// give them one shared storage directory (a shared file system), through
// which any edge answers another's challenge and all serve the same
// certificates.
//
// The set of names follows every configuration applied (reload, control
// plane revision): new aliases are ordered, removed ones stop being
// served. A change to this section itself takes a restart.
type ACME struct {
	// DirectoryURL is the CA's ACME directory, an https:// URL. Default
	// Let's Encrypt's production directory,
	// "https://acme-v02.api.letsencrypt.org/directory"; its staging one,
	// for trials without its rate limits, is
	// "https://acme-staging-v02.api.letsencrypt.org/directory".
	DirectoryURL string `yaml:"directory_url,omitempty"`
	// Email is the contact address of the account at the CA, which it may
	// use to warn of problems with the certificates. Default "" (an
	// account without a contact).
	Email string `yaml:"email,omitempty"`
	// CARoots is a PEM file of the root certificates that the ACME
	// server's own HTTPS certificate chains to, for a private CA (step-ca,
	// Pebble, an internal Boulder). Default "" (the system's roots).
	CARoots string `yaml:"ca_roots,omitempty"`
	// AgreeTOS accepts the CA's terms of service (for Let's Encrypt, its
	// Subscriber Agreement), without which it opens no account. Required:
	// must be true.
	AgreeTOS bool `yaml:"agree_tos,omitempty"`
	// Storage is the directory holding the ACME account key, the
	// certificates and their private keys (mode 0700), so that a restart
	// serves them without ordering again. Default "acme" under tern's
	// --data-dir; required when tern runs without one.
	Storage string `yaml:"storage,omitempty"`
	// Challenges are the ways the CA may check this edge answers for a
	// name: "http-01" (a request to port 80, answered on edge.listen) and
	// "tls-alpn-01" (a TLS handshake to port 443, answered on
	// edge.listen_tls). The CA uses one the edge offers. Default both.
	// When the edge's listeners are not on ports 80 and 443 themselves,
	// those ports must be forwarded to them.
	Challenges []string `yaml:"challenges,omitempty"`
	// RenewBefore renews a certificate when less than this much of its
	// validity is left, e.g. "720h" (30 days). A value as long as the
	// certificate's lifetime or longer renews at half its lifetime.
	// Default 0: when a third of its lifetime is left, or earlier when the
	// CA asks for it (ACME Renewal Information, RFC 9773).
	RenewBefore Duration `yaml:"renew_before,omitempty"`
	// RenewInterval is how often the certificates are checked against
	// renew_before, e.g. "1m"; a certificate is renewed at the first check
	// after its renewal time. At least 1s. Default 10m.
	RenewInterval Duration `yaml:"renew_interval,omitempty"`
}

// ACMEChallenges returns the challenge types to offer: Challenges, or
// both when none are listed.
func (a *ACME) ACMEChallenges() []string {
	if len(a.Challenges) == 0 {
		return []string{ChallengeHTTP01, ChallengeTLSALPN01}
	}
	return a.Challenges
}

// StorageDir returns the directory for the ACME account and certificates:
// Storage, or "acme" under dataDir. It is an error naming
// edge.tls.acme.storage when neither is set.
func (a *ACME) StorageDir(dataDir string) (string, error) {
	switch {
	case a.Storage != "":
		return a.Storage, nil
	case dataDir != "":
		return filepath.Join(dataDir, "acme"), nil
	}
	return "", errors.New("edge.tls.acme.storage: required when tern runs without --data-dir (the certificates and the account key are kept there)")
}

// DefaultACMERenewInterval is the default of edge.tls.acme.renew_interval.
const DefaultACMERenewInterval = 10 * time.Minute

func (a *ACME) applyDefaults() {
	setString(&a.DirectoryURL, DefaultACMEDirectory)
	if a.RenewInterval == 0 {
		a.RenewInterval = Duration(DefaultACMERenewInterval)
	}
}

// validate checks edge.tls.acme (f is its path). Whether ca_roots holds
// certificates is checked where it is read, on the edge that serves.
func (a *ACME) validate(p *problems, f string) {
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		p.add(f+".directory_url", "%q is not an https:// URL (ACME runs over HTTPS, RFC 8555 §6.1)", a.DirectoryURL)
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			p.add(f+".email", "%q is not an email address (name@example.com)", a.Email)
		}
	}
	if !a.AgreeTOS {
		p.add(f+".agree_tos", "must be true: the CA opens no account unless its terms of service are accepted")
	}
	for _, field := range []struct{ name, v string }{{"ca_roots", a.CARoots}, {"storage", a.Storage}} {
		if strings.ContainsAny(field.v, "\x00\r\n") {
			p.add(f+"."+field.name, "%q is not a file path", field.v)
		}
	}
	seen := map[string]bool{}
	for i, c := range a.Challenges {
		cf := fmt.Sprintf("%s.challenges[%d]", f, i)
		switch {
		case c != ChallengeHTTP01 && c != ChallengeTLSALPN01:
			p.add(cf, "%q is not %s nor %s (DNS-01 is not offered)", c, ChallengeHTTP01, ChallengeTLSALPN01)
		case seen[c]:
			p.add(cf, "%q is listed twice", c)
		}
		seen[c] = true
	}
	if a.RenewBefore < 0 {
		p.add(f+".renew_before", "%s is negative", time.Duration(a.RenewBefore))
	}
	if a.RenewInterval < Duration(time.Second) {
		p.add(f+".renew_interval", "%s is shorter than 1s", time.Duration(a.RenewInterval))
	}
}
