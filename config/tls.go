package config

import (
	"fmt"
	"strings"
)

// Security policies (edge.tls.security_policy and a distribution's
// security_policy): CloudFront's names for the TLS versions and cipher
// suites viewers may use. The certs package maps each to crypto/tls
// settings.
const (
	PolicyTLSv13_2025 = "TLSv1.3_2025"
	PolicyTLSv12_2025 = "TLSv1.2_2025"
	PolicyTLSv12_2021 = "TLSv1.2_2021"
	PolicyTLSv12_2019 = "TLSv1.2_2019"
	PolicyTLSv12_2018 = "TLSv1.2_2018"
	PolicyTLSv11_2016 = "TLSv1.1_2016"
	PolicyTLSv1_2016  = "TLSv1_2016"
	PolicyTLSv1       = "TLSv1"
)

// SecurityPolicies are the security policy names, newest first.
var SecurityPolicies = []string{PolicyTLSv13_2025, PolicyTLSv12_2025, PolicyTLSv12_2021, PolicyTLSv12_2019, PolicyTLSv12_2018, PolicyTLSv11_2016, PolicyTLSv1_2016, PolicyTLSv1}

// Defaults of edge.tls.
const (
	DefaultSecurityPolicy         = PolicyTLSv12_2021
	DefaultHTTP2MaxStreams        = 250
	DefaultHTTP2MaxHeaderListSize = 64 * KiB
	DefaultHTTP2MaxReadFrameSize  = 1 * MiB
	DefaultHTTP2StreamWindow      = 1 * MiB
	DefaultHTTP2ConnectionWindow  = 4 * MiB
	minHTTP2FrameSize             = 16 * KiB   // RFC 9113 §6.5.2
	maxHTTP2FrameSize             = 16*MiB - 1 // RFC 9113 §6.5.2
	maxHTTP2Window                = 1<<31 - 1  // RFC 9113 §6.9.1
	maxHTTP2HeaderListSize        = 1 * MiB    // beyond it a head is an attack, not a request
	maxHTTP2Streams               = 100000     // a bound that still fails loudly on a typo
)

// TLS configures the edge's HTTPS listener (edge.listen_tls).
type TLS struct {
	// DefaultCertificate is served to viewers whose TLS handshake names no
	// host (no SNI), or a host no distribution's certificate covers.
	// Required when edge.listen_tls is set, unless some distribution has
	// a certificate of its own (then viewers without SNI, or with an
	// unknown name, are refused at the handshake). It is this node's
	// setting, from its own file: `tern edge` gets only the distributions
	// from the control plane, so its file may leave it out when they
	// carry certificates; a revision whose distributions carry none is
	// then refused at the edge with this field named.
	DefaultCertificate *Certificate `yaml:"default_certificate,omitempty"`
	// SecurityPolicy is CloudFront's name for the lowest TLS version and
	// the cipher suites viewers may use: TLSv1.3_2025 (TLS 1.3 only),
	// TLSv1.2_2025 (TLS 1.2 with ECDHE AES-GCM only), TLSv1.2_2021
	// (default: TLS 1.2 and 1.3, AEAD suites with forward secrecy),
	// TLSv1.2_2019 (adds the ECDHE CBC-SHA256 suites), TLSv1.2_2018 (adds
	// ECDHE CBC-SHA and the RSA key exchange suites), TLSv1.1_2016 (TLS
	// 1.1 and up, same suites), TLSv1_2016 (TLS 1.0 and up) and TLSv1
	// (adds 3DES). Go's crypto/tls does not implement every suite
	// CloudFront lists: ECDHE-*-AES256-SHA384 and RC4-MD5 are left out
	// of the policies that have them (clients that offer those offer
	// others too), SSLv3 is not offered at all, and the TLS 1.3 suites
	// are always Go's three (TLSv1.3_2025 and TLSv1.2_2025 leave
	// TLS_CHACHA20_POLY1305_SHA256 out at CloudFront; Go cannot). A
	// distribution may name its own (its security_policy), chosen by the
	// handshake's SNI as the edge routes a Host; a request whose Host
	// names a distribution whose policy the connection does not meet
	// (one made under another distribution's name) gets 421 Misdirected
	// Request.
	SecurityPolicy string `yaml:"security_policy,omitempty"`
	// HTTP2 tunes HTTP/2 on the TLS listener (negotiated by ALPN; plain
	// HTTP stays HTTP/1.1).
	HTTP2 HTTP2 `yaml:"http2,omitempty"`
	// HTTP3 serves HTTP/3 (QUIC) on UDP at edge.listen_tls's port and
	// advertises it on HTTPS responses (Alt-Svc: h3=":PORT"; ma=86400).
	// Default true.
	HTTP3 *bool `yaml:"http3,omitempty"`
	// SessionTickets lets viewers resume TLS sessions by session tickets
	// (RFC 5077, and RFC 8446's PSK resumption for TLS 1.3): a returning
	// viewer skips the certificate and key exchange. false turns them off
	// on HTTPS and HTTP/3: every connection makes a full handshake, which
	// costs the edge's CPU but means no ticket key can ever decrypt a
	// recorded session, and a session cannot be carried from one edge to
	// another. Changing it takes a restart. Default true.
	SessionTickets *bool `yaml:"session_tickets,omitempty"`
	// SessionTicketKeyFile keeps the keys that encrypt TLS session tickets
	// across restarts (and lets edges behind one name share them, when
	// they share the file), so that viewers resume sessions after a
	// restart. The file holds one key per line, 64 hex digits, the
	// newest first: the newest encrypts new tickets, every one decrypts.
	// A missing file is created (mode 0600) with one random key; when
	// the newest key is older than a day Tern adds a new one and keeps
	// the three newest, so that a ticket lives at most three days. A
	// file changed by someone else is read again within seconds; naming
	// another file takes a restart. Default
	// "" (keys live in memory: tickets issued before a restart are not
	// resumed after it).
	SessionTicketKeyFile string `yaml:"session_ticket_key_file,omitempty"`
	// ACME obtains the certificates of the distributions whose
	// certificate is {acme: true} (see ACME). Default: none.
	ACME *ACME `yaml:"acme,omitempty"`
	// PublicPort is the port viewers reach edge.listen_tls at, when it is
	// not the port bound: a port forward or a load balancer that passes
	// TCP and UDP 443 to the edge's 8443, say. redirect-to-https sends
	// viewers to it (left out of the URL when 443) and Alt-Svc advertises
	// HTTP/3 at it, so the same UDP port must reach the edge. Default 0
	// (the port of edge.listen_tls).
	PublicPort int `yaml:"public_port,omitempty"`
}

// SessionTicketsEnabled reports whether viewers may resume sessions by
// tickets (SessionTickets, default true).
func (t *TLS) SessionTicketsEnabled() bool { return t.SessionTickets == nil || *t.SessionTickets }

// HTTP3Enabled reports whether HTTP/3 is served (HTTP3, default true).
func (t *TLS) HTTP3Enabled() bool { return t.HTTP3 == nil || *t.HTTP3 }

// HTTP2 are HTTP/2 server settings (RFC 9113 §6.5.2).
type HTTP2 struct {
	// MaxConcurrentStreams is how many requests one connection may have
	// in flight (SETTINGS_MAX_CONCURRENT_STREAMS). Default 250; at most
	// 100000.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams,omitempty"`
	// MaxHeaderListSize is the largest request head accepted, its header
	// fields uncompressed (SETTINGS_MAX_HEADER_LIST_SIZE), e.g. "64KiB".
	// It bounds HTTP/1.1 and HTTP/3 request heads on the TLS listener
	// too. Default 64KiB; between 1KiB and 1MiB.
	MaxHeaderListSize ByteSize `yaml:"max_header_list_size,omitempty"`
	// MaxReadFrameSize is the largest frame a viewer may send
	// (SETTINGS_MAX_FRAME_SIZE). Default 1MiB; between 16KiB and 16MiB-1.
	MaxReadFrameSize ByteSize `yaml:"max_read_frame_size,omitempty"`
	// StreamWindow is how much request body one stream may send before
	// the edge reads it (SETTINGS_INITIAL_WINDOW_SIZE). Default 1MiB; at
	// most 2GiB-1.
	StreamWindow ByteSize `yaml:"stream_window,omitempty"`
	// ConnectionWindow is the same for a whole connection. Default 4MiB;
	// at least stream_window, at most 2GiB-1.
	ConnectionWindow ByteSize `yaml:"connection_window,omitempty"`
}

// Certificate is a certificate for viewers' TLS handshakes: PEM files, or
// one Tern obtains with ACME.
type Certificate struct {
	// CertFile is the PEM file of the certificate, followed by the
	// intermediates that chain it to a root (as a CA delivers
	// "fullchain.pem"). With the issuer in it, the certificate's OCSP
	// response is fetched and stapled to handshakes, and refreshed before
	// it expires. A file replaced on disk is read again within seconds;
	// one that does not load (or does not match its key, or is expired)
	// is logged and the certificate in service kept. A certificate that
	// is expired when first loaded (at start, or in a new configuration)
	// is served all the same, with an error logged, rather than refusing
	// the whole configuration; tern validate reports it.
	CertFile string `yaml:"cert_file,omitempty"`
	// KeyFile is the PEM file of the certificate's private key.
	KeyFile string `yaml:"key_file,omitempty"`
	// ACME obtains and renews the certificate for the distribution's
	// aliases from an ACME CA (Let's Encrypt by default) instead of
	// files. Only in a distribution's certificate; not with
	// cert_file/key_file.
	ACME bool `yaml:"acme,omitempty"`
}

// IsFile reports whether the certificate comes from PEM files.
func (c *Certificate) IsFile() bool { return c != nil && !c.ACME }

func (t *TLS) applyDefaults() {
	if t.ACME != nil {
		t.ACME.applyDefaults()
	}
	setString(&t.SecurityPolicy, DefaultSecurityPolicy)
	h := &t.HTTP2
	setInt(&h.MaxConcurrentStreams, DefaultHTTP2MaxStreams)
	setSize(&h.MaxHeaderListSize, DefaultHTTP2MaxHeaderListSize)
	setSize(&h.MaxReadFrameSize, DefaultHTTP2MaxReadFrameSize)
	setSize(&h.StreamWindow, DefaultHTTP2StreamWindow)
	setSize(&h.ConnectionWindow, max(DefaultHTTP2ConnectionWindow, h.StreamWindow))
}

func setSize(b *ByteSize, def ByteSize) {
	if *b == 0 {
		*b = def
	}
}

// validateTLS checks edge.listen_tls, edge.tls and the distributions'
// certificates and security policies. Whether the files exist and hold a
// matching, unexpired pair is the certs package's check (certs.Check), on
// the machine that serves them.
func (c *Config) validateTLS(p *problems) {
	e := &c.Edge
	if e.ListenTLS != "" {
		if problem := checkListen(e.ListenTLS); problem != "" {
			p.add("edge.listen_tls", "%s", problem)
		} else if e.ListenTLS == e.Listen && !strings.HasSuffix(e.ListenTLS, ":0") {
			p.add("edge.listen_tls", "%q is also edge.listen", e.ListenTLS)
		} else if e.ListenTLS == c.Admin.Listen && !strings.HasSuffix(e.ListenTLS, ":0") {
			p.add("edge.listen_tls", "%q is also admin.listen", e.ListenTLS)
		}
	}
	t := &e.TLS
	checkWord(p, "edge.tls.security_policy", t.SecurityPolicy, SecurityPolicies...)
	if d := t.DefaultCertificate; d != nil {
		if d.ACME {
			p.add("edge.tls.default_certificate.acme", "ACME certificates are per distribution (its certificate: {acme: true}); the default certificate is files (cert_file, key_file)")
		} else {
			checkCertificateFiles(p, "edge.tls.default_certificate", d)
		}
	}
	h := &t.HTTP2
	if h.MaxConcurrentStreams < 1 || h.MaxConcurrentStreams > maxHTTP2Streams {
		p.add("edge.tls.http2.max_concurrent_streams", "%d is not between 1 and %d", h.MaxConcurrentStreams, maxHTTP2Streams)
	}
	if h.MaxHeaderListSize < KiB || h.MaxHeaderListSize > maxHTTP2HeaderListSize {
		p.add("edge.tls.http2.max_header_list_size", "%s is not between 1KiB and 1MiB", h.MaxHeaderListSize)
	}
	if h.MaxReadFrameSize < minHTTP2FrameSize || h.MaxReadFrameSize > maxHTTP2FrameSize {
		p.add("edge.tls.http2.max_read_frame_size", "%s is not between 16KiB and 16MiB-1 (RFC 9113 §6.5.2)", h.MaxReadFrameSize)
	}
	if h.StreamWindow < 1 || h.StreamWindow > maxHTTP2Window {
		p.add("edge.tls.http2.stream_window", "%s is not between 1B and 2GiB-1 (RFC 9113 §6.9.1)", h.StreamWindow)
	}
	if h.ConnectionWindow < h.StreamWindow || h.ConnectionWindow > maxHTTP2Window {
		p.add("edge.tls.http2.connection_window", "%s is not between stream_window (%s) and 2GiB-1", h.ConnectionWindow, h.StreamWindow)
	}
	if strings.ContainsAny(t.SessionTicketKeyFile, "\x00\r\n") {
		p.add("edge.tls.session_ticket_key_file", "%q is not a file path", t.SessionTicketKeyFile)
	} else if t.SessionTicketKeyFile != "" && !t.SessionTicketsEnabled() {
		p.add("edge.tls.session_ticket_key_file", "has no use with edge.tls.session_tickets: false (no tickets are issued); remove one of them")
	}

	if t.PublicPort < 0 || t.PublicPort > 65535 {
		p.add("edge.tls.public_port", "%d is not a port (1 to 65535, or 0 for edge.listen_tls's)", t.PublicPort)
	} else if t.PublicPort != 0 && e.ListenTLS == "" {
		p.add("edge.tls.public_port", "has no use without edge.listen_tls")
	}

	if t.ACME != nil {
		t.ACME.validate(p, "edge.tls.acme")
		if e.ListenTLS == "" {
			p.add("edge.tls.acme", "needs edge.listen_tls: ACME certificates are served there")
		}
	}
	haveOwn := false
	for i, d := range c.Distributions {
		if d == nil {
			continue
		}
		f := fmt.Sprintf("distributions[%d]", i)
		if d.SecurityPolicy != "" {
			checkWord(p, f+".security_policy", d.SecurityPolicy, SecurityPolicies...)
		}
		cert := d.Certificate
		if cert == nil {
			continue
		}
		haveOwn = true
		switch {
		case cert.ACME && (cert.CertFile != "" || cert.KeyFile != ""):
			p.add(f+".certificate", "give either cert_file and key_file or acme: true, not both")
		case cert.ACME:
			if t.ACME == nil {
				p.add(f+".certificate.acme", "needs edge.tls.acme (at least agree_tos: true)")
			}
			if d.CatchAll() {
				p.add(f+".certificate.acme", "ACME needs the names to certify: give the distribution aliases (not \"*\")")
			}
			for k, a := range d.Aliases {
				if strings.HasPrefix(a, "*.") {
					p.add(fmt.Sprintf("%s.aliases[%d]", f, k), "%q: ACME certificates (HTTP and TLS-ALPN challenges) cannot cover wildcard names; use cert_file and key_file", a)
				}
			}
		default:
			checkCertificateFiles(p, f+".certificate", cert)
		}
	}
	// Without distributions there is nothing to serve either way: the
	// file of a `tern edge`, whose distributions (and their certificates)
	// come from the control plane, is checked again with them.
	if e.ListenTLS != "" && t.DefaultCertificate == nil && !haveOwn && len(c.Distributions) > 0 {
		p.add("edge.tls.default_certificate", "is required with edge.listen_tls when no distribution has a certificate (no HTTPS handshake would find one)")
	}
}

func checkCertificateFiles(p *problems, f string, c *Certificate) {
	if c.CertFile == "" {
		p.add(f+".cert_file", "is required (the certificate's PEM file)")
	} else if strings.ContainsAny(c.CertFile, "\x00\r\n") {
		p.add(f+".cert_file", "%q is not a file path", c.CertFile)
	}
	if c.KeyFile == "" {
		p.add(f+".key_file", "is required (the private key's PEM file)")
	} else if strings.ContainsAny(c.KeyFile, "\x00\r\n") {
		p.add(f+".key_file", "%q is not a file path", c.KeyFile)
	}
}
