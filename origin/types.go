package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// Origin protocol policies: how Tern talks to an origin.
const (
	HTTPOnly    = "http-only"
	HTTPSOnly   = "https-only"
	MatchViewer = "match-viewer"
)

// CloudFront's defaults, used where an Origin field is zero.
const (
	DefaultConnectionAttempts = 3
	DefaultConnectionTimeout  = 10 * time.Second
	DefaultResponseTimeout    = 30 * time.Second
	DefaultKeepaliveTimeout   = 5 * time.Second
)

// Origin is one server Tern fetches from. A Client keys its connection pool
// by the *Origin pointer: do not change an Origin after its first use; make
// a new one (and Forget the old) when the configuration changes.
type Origin struct {
	// ID names the origin in errors, logs and headers.
	ID string
	// DomainName is the host to connect to and, unless the viewer's Host is
	// forwarded, the Host header sent.
	DomainName string
	// HTTPPort and HTTPSPort are the ports for each scheme; zero means 80
	// and 443.
	HTTPPort, HTTPSPort int
	// ProtocolPolicy is HTTPOnly, HTTPSOnly or MatchViewer ("" means
	// MatchViewer).
	ProtocolPolicy string
	// OriginPath is a prefix added to the request path ("" or "/a/b").
	OriginPath string
	// CustomHeaders are added to every request, replacing viewer values of
	// the same name.
	CustomHeaders []Field
	// ConnectionAttempts is how many times a connection is tried per
	// request (CloudFront: 1-3; zero means 3). Only failures to connect are
	// retried, never a request of which any byte was sent.
	ConnectionAttempts int
	// ConnectionTimeout bounds each connection attempt, TCP and TLS
	// handshake together (zero means 10s).
	ConnectionTimeout time.Duration
	// ResponseTimeout is how long to wait for the response head after the
	// request was sent, and the longest a single body read may wait for
	// data (CloudFront's "response timeout"; zero means 30s).
	ResponseTimeout time.Duration
	// KeepaliveTimeout is how long an idle pooled connection is kept (zero
	// means 5s).
	KeepaliveTimeout time.Duration
	// CAPEM holds PEM certificates an HTTPS origin's certificate may chain
	// to, in addition to the system roots unless NoSystemRoots. A
	// self-signed certificate may be listed itself. Certificates are
	// always verified; there is no way to turn that off.
	CAPEM         []byte
	NoSystemRoots bool
	// ServerName is the name sent in TLS SNI and checked against the
	// origin's certificate. "" means the host of the Host header the
	// origin receives: Request.Host when the viewer's Host is forwarded
	// (a certificate for DomainName is then accepted too, as CloudFront
	// does), else DomainName.
	ServerName string
	// MinTLSVersion is the lowest TLS version offered (tls.VersionTLS12,
	// ...); zero means TLS 1.2.
	MinTLSVersion uint16
	// HTTP2 offers HTTP/2 in ALPN ("h2", then "http/1.1") on HTTPS
	// connections, so that an origin that accepts it multiplexes
	// requests on one connection. Plain HTTP stays HTTP/1.1 (no h2c), as
	// do WebSocket tunnels.
	HTTP2 bool
}

// Field is one header field.
type Field struct{ Name, Value string }

// Target is what a cache behavior points at: one origin, or an origin group.
type Target struct {
	ID string
	// Members holds one origin, or two: primary then secondary.
	Members []*Origin
	// FailoverStatus holds the statuses of the primary that make a group
	// try the secondary.
	FailoverStatus map[int]bool
}

// ClientOptions configures a Client.
type ClientOptions struct {
	// UserAgent is sent when the viewer's User-Agent is not forwarded
	// (CloudFront sends "Amazon CloudFront"); "" means "Tern".
	UserAgent string
	// NoUserAgent sends no User-Agent of the client's own: a request
	// goes with the User-Agent it carries, or none. Tier-to-tier requests
	// use it, so the next node sees the viewer's request as it was.
	NoUserAgent bool
	// Via is this edge's Via entry (RFC 9110 §7.6.3), e.g.
	// "1.1 edge-1 (tern)"; "" sends none.
	Via string
	// MaxIdlePerOrigin caps the idle connections kept per origin; zero
	// means 64.
	MaxIdlePerOrigin int
	// DialContext opens TCP connections; nil means a net.Dialer. It is
	// called once per connection attempt.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Request is what Do sends to the origin. Forwarding.Apply fills it from a
// viewer request; the edge may change it afterwards.
type Request struct {
	// Method is the request method; "" means GET.
	Method string
	// Path is the viewer's path in its escaped (wire) form, as
	// url.URL.EscapedPath returns it; Do prefixes the origin's OriginPath
	// and sends it byte for byte (a path without a leading slash gets one).
	Path string
	// RawQuery is the query without '?', sent as is.
	RawQuery string
	// Header is the outgoing header, already filtered by Forwarding.Apply.
	// Do adds the origin's custom headers, User-Agent and Via to a copy.
	Header http.Header
	// Body is streamed to the origin, never buffered; ContentLength is its
	// length, -1 when unknown (sent chunked). A zero ContentLength sends no
	// body.
	Body          io.ReadCloser
	ContentLength int64
	// ViewerHTTPS selects HTTPS for MatchViewer origins.
	ViewerHTTPS bool
	// Host is the Host header to send; "" means the origin's DomainName.
	Host string
	// OnEarlyHints is called with the header of each 103 response (RFC
	// 8297), hop-by-hop fields removed. It runs on a transport goroutine
	// before Do returns and must not block.
	OnEarlyHints func(http.Header)
}

// Response is an origin's response head; its Body streams.
type Response struct {
	// Response is the origin's response with hop-by-hop fields removed
	// from Header. A body read that fails returns an *Error: Kind
	// ResponseTimeout when the origin sent nothing for ResponseTimeout.
	*http.Response
	// Origin is the member that answered.
	Origin *Origin
	// FailedOver is set when the secondary of a group answered.
	FailedOver bool
	// RequestTime and ResponseTime are when the request was sent (the
	// connection was handed to it) and when the head arrived, for the age
	// calculation of RFC 9111 §4.2.3.
	RequestTime, ResponseTime time.Time
	// DNSTime is how long the origin's name took to resolve, and
	// ConnectTime how long the TCP connection (with its TLS handshake)
	// took after that, for this request's connection: both 0 when it
	// reused one (CloudFront's cdn-upstream-dns and cdn-upstream-connect).
	DNSTime, ConnectTime time.Duration
}
