package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxEarlyHints caps the 103 responses accepted before the final one; past
// it the origin is misbehaving and the fetch fails as a Protocol error.
const maxEarlyHints = 16

var errTooManyHints = errors.New("more than 16 informational (1xx) responses")

// Client fetches from origins. It holds one keep-alive pool (an
// *http.Transport speaking HTTP/1.1, and HTTP/2 to HTTPS origins with
// Origin.HTTP2) per *Origin, created on first use. One Client serves a
// whole edge and is safe for concurrent use.
type Client struct {
	userAgent string // "" sends none
	via       string
	maxIdle   int
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)

	pools sync.Map // *Origin -> *pool
}

// NewClient returns a Client with no pools yet.
func NewClient(o ClientOptions) *Client {
	c := &Client{userAgent: o.UserAgent, via: o.Via, maxIdle: o.MaxIdlePerOrigin, dial: o.DialContext}
	if c.userAgent == "" && !o.NoUserAgent {
		c.userAgent = "Tern"
	}
	if c.maxIdle <= 0 {
		c.maxIdle = 64
	}
	if c.dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		c.dial = d.DialContext
	}
	return c
}

// CloseIdle closes the idle connections of every pool.
func (c *Client) CloseIdle() {
	c.pools.Range(func(_, p any) bool {
		p.(*pool).closeIdle()
		return true
	})
}

// Forget drops the pool of o, closing its idle connections; responses in
// flight finish normally. Call it when a configuration change replaces o.
func (c *Client) Forget(o *Origin) {
	if p, ok := c.pools.LoadAndDelete(o); ok {
		p.(*pool).closeIdle()
	}
}

// pool is one origin's connection pool and the settings derived from it.
type pool struct {
	o *Origin
	// tr carries every request; tr1 is HTTP/1.1 only, for WebSocket
	// upgrades, which HTTP/2 cannot carry. They are the same Transport
	// unless the origin has HTTP2.
	tr, tr1           *http.Transport
	dial              func(ctx context.Context, network, addr string) (net.Conn, error)
	tls               tlsSettings
	attempts          int
	connectTimeout    time.Duration
	responseTimeout   time.Duration
	httpHost, tlsHost string // URL hosts: DomainName, with the port when not the default
	tlsAddr           string // where HTTPS connections go: DomainName:HTTPSPort
	err               error  // the origin's TLS settings are unusable
}

func (p *pool) closeIdle() {
	p.tr.CloseIdleConnections()
	if p.tr1 != p.tr {
		p.tr1.CloseIdleConnections()
	}
}

func (c *Client) pool(o *Origin) *pool {
	if p, ok := c.pools.Load(o); ok {
		return p.(*pool)
	}
	// Two first uses may race to build a pool; the loser's Transport has
	// no connections yet and is dropped.
	p, _ := c.pools.LoadOrStore(o, c.newPool(o))
	return p.(*pool)
}

func (c *Client) newPool(o *Origin) *pool {
	httpsPort := o.HTTPSPort
	if httpsPort == 0 {
		httpsPort = 443
	}
	p := &pool{
		o:               o,
		dial:            c.dial,
		attempts:        orDefault(o.ConnectionAttempts, DefaultConnectionAttempts),
		connectTimeout:  orDefault(o.ConnectionTimeout, DefaultConnectionTimeout),
		responseTimeout: orDefault(o.ResponseTimeout, DefaultResponseTimeout),
		httpHost:        urlHost(o.DomainName, o.HTTPPort, 80),
		tlsHost:         urlHost(o.DomainName, o.HTTPSPort, 443),
		tlsAddr:         net.JoinHostPort(o.DomainName, strconv.Itoa(httpsPort)),
	}
	p.tls, p.err = newTLSSettings(o)
	p.tr = c.newTransport(p, o.HTTP2)
	p.tr1 = p.tr
	if o.HTTP2 {
		p.tr1 = c.newTransport(p, false)
	}
	return p
}

// newTransport returns a Transport for p's origin that offers HTTP/2 in
// ALPN when h2 is set, and speaks HTTP/1.1 only otherwise: offering h2
// to a Transport that cannot speak it would let the origin pick a
// protocol the connection then does not speak.
func (c *Client) newTransport(p *pool, h2 bool) *http.Transport {
	alpn := []string{"http/1.1"}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if h2 {
		alpn = []string{"h2", "http/1.1"}
		protocols.SetHTTP2(true)
	}
	return &http.Transport{
		Proxy: nil, // never the environment's proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return p.connect(ctx, network, addr, nil)
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return p.connect(ctx, network, addr, alpn)
		},
		Protocols: &protocols,
		// The Transport keeps connections per URL host, which for HTTPS
		// is the server name, and that may follow the viewer's Host:
		// the idle connections of all names together stay under the
		// one origin's bound.
		MaxIdleConns:          c.maxIdle,
		MaxIdleConnsPerHost:   c.maxIdle,
		IdleConnTimeout:       orDefault(p.o.KeepaliveTimeout, DefaultKeepaliveTimeout),
		ResponseHeaderTimeout: p.responseTimeout,
		// One HTTP/2 connection carries every request to the origin: a
		// connection that went silent is found by a PING after 15s
		// without a frame and closed when the PING goes unanswered,
		// instead of holding every request until its response timeout.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 15 * time.Second},
		// Accept-Encoding is the cache key's business: never add gzip
		// and decode behind the edge's back.
		DisableCompression: true,
	}
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func urlHost(domain string, port, defaultPort int) string {
	if port == 0 || port == defaultPort {
		if strings.IndexByte(domain, ':') >= 0 { // IPv6 literal
			return "[" + domain + "]"
		}
		return domain
	}
	return net.JoinHostPort(domain, strconv.Itoa(port))
}

// connect makes up to p.attempts connection attempts. It runs before any
// byte of the request is written, so retrying here can never send a request
// twice. Only failures that another try may cure are retried: refused or
// timed-out connections, not TLS verification or unknown names.
//
// With alpn (an HTTPS connection), addr is the URL host outgoing chose:
// its host is the TLS server name, and the connection goes to the
// origin's own address (see serverName).
func (p *pool) connect(ctx context.Context, network, addr string, alpn []string) (net.Conn, error) {
	var cfg *tls.Config
	if alpn != nil {
		if p.err != nil {
			return nil, &dialError{kind: Invalid, err: p.err}
		}
		name, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, &dialError{kind: Invalid, err: err}
		}
		cfg = p.tls.config(name, alpn)
		addr = p.tlsAddr
	}
	for attempt := 1; ; attempt++ {
		conn, kind, err := p.connectOnce(ctx, network, addr, cfg)
		if err == nil {
			return conn, nil
		}
		if kind == Canceled {
			return nil, err
		}
		if attempt >= p.attempts || (kind != Connect && kind != ConnectTimeout) {
			return nil, &dialError{kind: kind, attempts: attempt, err: err}
		}
	}
}

func (p *pool) connectOnce(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, ErrorKind, error) {
	actx, cancel := context.WithTimeout(ctx, p.connectTimeout)
	defer cancel()
	conn, err := p.dial(actx, network, addr)
	if err != nil {
		return nil, dialKind(ctx, actx, err), err
	}
	if cfg == nil {
		return conn, 0, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(actx); err != nil {
		conn.Close()
		kind := handshakeKind(err)
		if k := dialKind(ctx, actx, err); k == Canceled || k == ConnectTimeout {
			kind = k
		}
		return nil, kind, fmt.Errorf("TLS handshake with %s (server name %q): %w", addr, cfg.ServerName, err)
	}
	return tc, 0, nil
}

// Do sends r to t and returns the response head; the body streams from the
// origin and must be closed.
//
// For an origin group, the primary is tried first. CloudFront's failover
// rules apply: only GET, HEAD and OPTIONS requests (and only without a body,
// which cannot be sent twice) fail over, when the primary cannot be
// connected to after its attempts (DNS, Connect, ConnectTimeout, TLS,
// Certificate), times out (ResponseTimeout) or answers a status in
// t.FailoverStatus. The primary's body is then closed, and the
// secondary's answer or error is final.
func (c *Client) Do(ctx context.Context, t *Target, r *Request) (*Response, error) {
	if t == nil || len(t.Members) == 0 || len(t.Members) > 2 {
		id := ""
		if t != nil {
			id = t.ID
		}
		return nil, &Error{Kind: Invalid, Origin: id, Err: errors.New("target needs one or two members")}
	}
	resp, err := c.fetch(ctx, t.Members[0], r, false)
	if len(t.Members) == 1 || !canFailOver(r) {
		return resp, err
	}
	if err == nil {
		if !t.FailoverStatus[resp.StatusCode] {
			return resp, nil
		}
		resp.Body.Close()
	} else if !failsOver(err) {
		return nil, err
	}
	resp, err = c.fetch(ctx, t.Members[1], r, false)
	if resp != nil {
		resp.FailedOver = true
	}
	return resp, err
}

// canFailOver reports whether a request may be sent to a second origin:
// CloudFront fails over only GET, HEAD and OPTIONS, and a streamed body
// cannot be replayed.
func canFailOver(r *Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
}

// failsOver reports whether a primary's error sends a group to its
// secondary: it could not be connected to, or it timed out.
func failsOver(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case DNS, Connect, ConnectTimeout, TLS, Certificate, ResponseTimeout:
		return true
	}
	return false
}

// fetch sends r to one origin. With upgrade, the Connection and Upgrade
// fields of r.Header are kept and a 101 response's body is the raw
// connection.
func (c *Client) fetch(ctx context.Context, o *Origin, r *Request, upgrade bool) (*Response, error) {
	p := c.pool(o)
	req, err := c.outgoing(p, r, upgrade)
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &Error{Kind: Invalid, Origin: o.ID, Err: err}
	}

	// The request context outlives Do: cancelling it is how a body read
	// that waited ResponseTimeout aborts the connection.
	rctx, cancel := context.WithCancelCause(ctx)
	ct := connTimes{start: time.Now()}
	hints := 0
	trace := &httptrace.ClientTrace{
		DNSDone: func(httptrace.DNSDoneInfo) { ct.resolved() },
		// GotConn runs on this goroutine just before the request is
		// written: the request_time of RFC 9111 §4.2.3.
		GotConn: func(info httptrace.GotConnInfo) { ct.got(time.Now(), info.Reused) },
	}
	if r.OnEarlyHints != nil {
		trace.Got1xxResponse = func(code int, h textproto.MIMEHeader) error {
			if hints++; hints > maxEarlyHints {
				return errTooManyHints
			}
			if code == http.StatusEarlyHints {
				hh := http.Header(h)
				removeHopByHop(hh, false)
				r.OnEarlyHints(hh)
			}
			return nil
		}
	}
	req = req.WithContext(httptrace.WithClientTrace(rctx, trace))

	tr := p.tr
	if upgrade {
		tr = p.tr1
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		cancel(nil)
		return nil, classify(ctx, o.ID, err)
	}
	resp := &Response{Response: res, Origin: o, RequestTime: ct.sent, ResponseTime: time.Now(), DNSTime: ct.dns, ConnectTime: ct.connect}
	if upgrade && res.StatusCode == http.StatusSwitchingProtocols {
		removeHopByHop(res.Header, true)
		res.Body = &upgradedBody{ReadWriteCloser: res.Body.(io.ReadWriteCloser), cancel: cancel}
		return resp, nil
	}
	removeHopByHop(res.Header, false)
	// Alt-Svc advertises the origin's alternative endpoints (RFC 7838),
	// for clients of the origin. Viewers talk to the edge: passed on, it
	// would send their HTTP/3 to the edge's host at a port it may not
	// serve. The edge advertises its own over TLS.
	delete(res.Header, "Alt-Svc")
	if res.Body == http.NoBody {
		cancel(nil)
		return resp, nil
	}
	res.Body = newBody(res.Body, o.ID, p.responseTimeout, ctx, cancel)
	return resp, nil
}

// outgoing builds the http.Request for one origin: its scheme, host and
// path prefix, its custom headers, and the edge's User-Agent and Via.
func (c *Client) outgoing(p *pool, r *Request, upgrade bool) (*http.Request, error) {
	o := p.o
	u := &url.URL{Scheme: "http", Host: p.httpHost}
	host := r.Host
	switch o.ProtocolPolicy {
	case HTTPOnly:
	case HTTPSOnly:
		u.Scheme = "https"
	case MatchViewer, "":
		if r.ViewerHTTPS {
			u.Scheme = "https"
		}
	default:
		return nil, fmt.Errorf("unknown protocol policy %q", o.ProtocolPolicy)
	}
	if u.Scheme == "https" {
		// The URL host is the TLS server name, so that the Transport
		// keeps one set of connections per name; connect sends them to
		// the origin's address. The Host header stays what it was.
		u.Host = p.serverName(r.Host)
		if host == "" {
			host = p.tlsHost
		}
	}
	path := r.Path
	if path == "" || path[0] != '/' {
		path = "/" + path // e.g. a default root object named without its slash
	}
	if i := strings.IndexFunc(path, func(c rune) bool { return c <= ' ' || c == 0x7f }); i >= 0 {
		return nil, fmt.Errorf("path %q is not in escaped form", path)
	}
	// Opaque carries the path as the viewer sent it, escapes and all: the
	// request line is Opaque + "?" + RawQuery.
	u.Opaque = strings.TrimSuffix(o.OriginPath, "/") + path
	u.RawQuery = r.RawQuery

	h := r.Header.Clone()
	if h == nil {
		h = make(http.Header, 4)
	}
	removeHopByHop(h, upgrade)
	for _, f := range o.CustomHeaders {
		h.Set(f.Name, f.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		// An empty value keeps net/http from sending its own.
		h["User-Agent"] = []string{c.userAgent}
	}
	if c.via != "" {
		h.Add("Via", c.via)
	}

	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       host,
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		req.Body, req.ContentLength = r.Body, r.ContentLength
	} else if r.Body != nil {
		r.Body.Close()
	}
	return req, nil
}
