package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// The ACME challenge types Tern answers (RFC 8555 §8.3, RFC 8737). DNS-01,
// the only one that can prove control of a wildcard name, needs a DNS
// provider's API and is not offered.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// ACMEProtocol is the ALPN protocol name of the tls-alpn-01 challenge
// (RFC 8737 §6.2). When ACME.TLSALPN is true, the TLS listener's
// tls.Config.NextProtos must list it (after "h2" and "http/1.1"): Go's
// server refuses a handshake whose client offers no protocol the server
// lists, and the CA's validation offers only this one.
const ACMEProtocol = acmez.ACMETLS1Protocol

// ACMEOptions configures an ACME certificate manager. DirectoryURL,
// Email, CARootsFile, AgreeTOS, Storage, Challenges, RenewBefore and
// RenewInterval come from edge.tls.acme; HTTPPort, TLSPort and ListenHost
// from the edge's listeners.
type ACMEOptions struct {
	// DirectoryURL is the CA's ACME directory. Default: Let's Encrypt's
	// production directory.
	DirectoryURL string
	// Email is the account's contact address; "" registers an account
	// without one.
	Email string
	// CARootsFile is a PEM file of the root certificates that the ACME
	// server's own HTTPS certificate chains to, for a private CA. ""
	// trusts the system's roots.
	CARootsFile string
	// AgreeTOS accepts the CA's terms of service, without which no
	// account is created. Required.
	AgreeTOS bool
	// Storage is the directory holding the account, the certificates and
	// their keys; they survive restarts. Required.
	Storage string
	// Challenges are the challenge types to answer: ChallengeHTTP01,
	// ChallengeTLSALPN01. Default both.
	Challenges []string
	// HTTPPort is the port of the edge's plain-HTTP listener, at which the
	// CA's requests to port 80 arrive (80, or what a port forward maps 80
	// to). Default 80.
	HTTPPort int
	// TLSPort is the port of the edge's TLS listener, at which the CA's
	// tls-alpn-01 handshakes to port 443 arrive. Default 443.
	TLSPort int
	// ListenHost is the host the edge's listeners are bound to ("" for
	// every interface). The challenge solvers try to bind
	// ListenHost:HTTPPort and ListenHost:TLSPort; finding them taken by
	// the edge, they leave the answering to HTTPChallengeHandler and
	// GetCertificate on those listeners.
	ListenHost string
	// RenewBefore renews a certificate when less than this much of its
	// validity is left. A value as long as the certificate's lifetime or
	// longer renews it at half its lifetime. Default 0: when a third of
	// the lifetime is left, or earlier if the CA says so (ACME Renewal
	// Information).
	RenewBefore time.Duration
	// Logger receives certmagic's logs: orders, challenges, renewals and
	// their errors. Default slog.Default().
	Logger *slog.Logger

	// RenewInterval is how often certificates are checked for renewal.
	// Default 10 minutes.
	RenewInterval time.Duration
}

// ACME obtains certificates from an ACME CA (Let's Encrypt, a private CA)
// for the names it is told to manage, keeps them on disk and renews them
// in the background. Orders that fail are logged and retried with
// backoff; they never stop the names already served.
//
// The edge's TLS listener asks GetCertificate first; the edge's plain
// HTTP handler is wrapped by HTTPChallengeHandler.
type ACME struct {
	cache       *certmagic.Cache
	cfg         *certmagic.Config
	issuer      *certmagic.ACMEIssuer
	tlsALPN     bool
	renewBefore time.Duration

	// ctx is the parent of every name's management; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	managed map[string]context.CancelFunc // name → stops its retries
	// names is the set of managed names, read without a lock by
	// GetCertificate on every handshake.
	names atomic.Pointer[map[string]struct{}]
	// ratioConfigs holds, per renewal window ratio, the certmagic Config
	// used to judge certificates of that lifetime (see configFor).
	ratioConfigs map[float64]*certmagic.Config
	closeOnce    sync.Once
}

// NewACME checks opts, reads the CA roots and prepares the manager. No
// request goes to the CA until Manage names something.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if !opts.AgreeTOS {
		return nil, errors.New("acme: agree_tos must be true: the CA creates no account without its terms of service accepted")
	}
	if opts.Storage == "" {
		return nil, errors.New("acme: storage: a directory is required")
	}
	dir := opts.DirectoryURL
	if dir == "" {
		dir = certmagic.LetsEncryptProductionCA
	}
	if u, err := url.Parse(dir); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("acme: directory_url %q is not an https:// URL", dir)
	}
	challenges := opts.Challenges
	if len(challenges) == 0 {
		challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
	}
	for _, c := range challenges {
		if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
			return nil, fmt.Errorf("acme: challenges: %q is not %q nor %q", c, ChallengeHTTP01, ChallengeTLSALPN01)
		}
	}
	var roots *x509.CertPool
	if opts.CARootsFile != "" {
		pem, err := os.ReadFile(opts.CARootsFile)
		if err != nil {
			return nil, fmt.Errorf("acme: ca_roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme: ca_roots: %s holds no PEM certificate", opts.CARootsFile)
		}
	}
	if err := os.MkdirAll(opts.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("acme: storage: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	zl := zapToSlog(logger.With("component", "acme"))

	a := &ACME{
		tlsALPN:      slices.Contains(challenges, ChallengeTLSALPN01),
		renewBefore:  opts.RenewBefore,
		managed:      make(map[string]context.CancelFunc),
		ratioConfigs: make(map[float64]*certmagic.Config),
	}
	a.names.Store(&map[string]struct{}{})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   a.configFor,
		RenewCheckInterval: opts.RenewInterval,
		Logger:             zl,
	})
	a.cfg = certmagic.New(a.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: opts.Storage},
		Logger:  zl,
	})
	a.issuer = certmagic.NewACMEIssuer(a.cfg, certmagic.ACMEIssuer{
		CA:                      dir,
		Email:                   opts.Email,
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    !slices.Contains(challenges, ChallengeHTTP01),
		DisableTLSALPNChallenge: !a.tlsALPN,
		ListenHost:              opts.ListenHost,
		AltHTTPPort:             opts.HTTPPort,
		AltTLSALPNPort:          opts.TLSPort,
		Logger:                  zl,
	})
	a.cfg.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// configFor is the cache's GetConfigForCert: the Config that decides when
// cert is renewed. certmagic measures the renewal window as a fraction of
// a certificate's lifetime, so RenewBefore becomes, per lifetime, a Config
// with that fraction; they share the issuer, storage and cache.
func (a *ACME) configFor(cert certmagic.Certificate) (*certmagic.Config, error) {
	if a.renewBefore <= 0 || cert.Leaf == nil {
		return a.cfg, nil
	}
	lifetime := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
	if lifetime <= 0 {
		return a.cfg, nil
	}
	ratio := float64(a.renewBefore) / float64(lifetime)
	if ratio >= 1 {
		ratio = 0.5
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.ratioConfigs[ratio]; ok {
		return c, nil
	}
	c := certmagic.New(a.cache, certmagic.Config{
		RenewalWindowRatio: ratio,
		Storage:            a.cfg.Storage,
		Issuers:            a.cfg.Issuers,
		Logger:             a.cfg.Logger,
	})
	a.ratioConfigs[ratio] = c
	return c, nil
}

// Manage makes names the set of managed names: certificates for names not
// managed before are loaded from storage, or ordered from the CA in the
// background; names no longer listed stop being served and renewed (their
// files stay in storage, so listing them again needs no new order). An
// empty name or a wildcard is refused, and then nothing changes.
func (a *ACME) Manage(ctx context.Context, names []string) error {
	want := make(map[string]struct{}, len(names))
	var bad []error
	for _, n := range names {
		n = normalizeName(n)
		switch {
		case n == "":
			bad = append(bad, errors.New("acme: an empty name cannot have a certificate"))
		case strings.Contains(n, "*"):
			bad = append(bad, fmt.Errorf("acme: %q: a wildcard name needs the DNS-01 challenge, which Tern does not answer", n))
		}
		want[n] = struct{}{}
	}
	if len(bad) > 0 {
		return errors.Join(bad...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx.Err() != nil {
		return errors.New("acme: closed")
	}
	var removed []certmagic.SubjectIssuer
	for n, stop := range a.managed {
		if _, ok := want[n]; !ok {
			stop()
			delete(a.managed, n)
			removed = append(removed, certmagic.SubjectIssuer{Subject: n})
		}
	}
	var added []string
	for n := range want {
		if _, ok := a.managed[n]; !ok {
			added = append(added, n)
		}
	}
	set := make(map[string]struct{}, len(want))
	for n := range want {
		set[n] = struct{}{}
	}
	a.names.Store(&set)
	if len(removed) > 0 {
		a.cache.RemoveManaged(removed)
	}
	slices.Sort(added)
	for _, n := range added {
		// Each name has its own context, so that removing it cancels
		// an order still being retried.
		nctx, stop := context.WithCancel(a.ctx)
		if err := a.cfg.ManageAsync(nctx, []string{n}); err != nil {
			stop()
			return fmt.Errorf("acme: manage %q: %w", n, err)
		}
		a.managed[n] = stop
	}
	return nil
}

// GetCertificate answers the CA's tls-alpn-01 validation handshakes and
// returns the certificate of a managed name. For a name that is not
// managed, or whose certificate has not been issued yet, it returns nil,
// nil: the listener then goes on to its other certificates (files, the
// default one).
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if a.tlsALPN && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ACMEProtocol {
		return a.cfg.GetCertificate(hello)
	}
	name := normalizeName(hello.ServerName)
	if _, ok := (*a.names.Load())[name]; !ok {
		return nil, nil
	}
	c, err := a.cfg.GetCertificate(hello)
	if err != nil {
		return nil, nil
	}
	return c, nil
}

// TLSALPN reports whether the tls-alpn-01 challenge is enabled, and so
// whether the TLS listener must list ACMEProtocol in NextProtos.
func (a *ACME) TLSALPN() bool { return a.tlsALPN }

// HTTPChallengeHandler answers the CA's http-01 requests
// (/.well-known/acme-challenge/TOKEN for a name with a pending order) and
// passes every other request to next. It wraps the edge's plain-HTTP
// handler, ahead of any redirect to HTTPS.
func (a *ACME) HTTPChallengeHandler(next http.Handler) http.Handler {
	return a.issuer.HTTPChallengeHandler(next)
}

// Close stops renewals and pending orders and releases the storage
// locks. The certificates stay in storage.
func (a *ACME) Close() {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.cancel()
		a.mu.Unlock()
		a.cache.Stop()
	})
}

// normalizeName lowercases a host name and drops a trailing dot, as SNI
// and aliases are compared.
func normalizeName(n string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
}
