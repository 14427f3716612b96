package origin

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// originFor returns an Origin pointing at srv over plain HTTP.
func originFor(t testing.TB, id string, addr net.Addr) *Origin {
	t.Helper()
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &Origin{
		ID: id, DomainName: host, HTTPPort: p, ProtocolPolicy: HTTPOnly,
		ConnectionAttempts: 1, ConnectionTimeout: time.Second, ResponseTimeout: 2 * time.Second,
	}
}

func single(o *Origin) *Target { return &Target{ID: o.ID, Members: []*Origin{o}} }

// countingDialer counts connection attempts.
type countingDialer struct {
	n    atomic.Int32
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	if d.dial != nil {
		return d.dial(ctx, network, addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func readAll(t testing.TB, resp *Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) net.Addr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr()
	ln.Close()
	return addr
}

// blockingHandler never answers until the test ends.
func blockingHandler(t *testing.T) (http.HandlerFunc, *atomic.Int32) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var hits atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, &hits
}

func TestPoolReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := NewClient(ClientOptions{})
	defer c.CloseIdle()
	o := originFor(t, "web", srv.Listener.Addr())
	o.KeepaliveTimeout = 150 * time.Millisecond
	fetch := func() {
		resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	for range 5 {
		fetch()
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential requests opened %d connections, want 1", n)
	}
	time.Sleep(400 * time.Millisecond) // past KeepaliveTimeout
	fetch()
	if n := conns.Load(); n != 2 {
		t.Fatalf("after the keep-alive timeout: %d connections, want 2", n)
	}
	c.CloseIdle()
	fetch()
	if n := conns.Load(); n != 3 {
		t.Fatalf("after CloseIdle: %d connections, want 3", n)
	}
}

func TestConnectFailures(t *testing.T) {
	tests := []struct {
		name       string
		attempts   int
		dial       func(ctx context.Context, network, addr string) (net.Conn, error)
		addr       func(t *testing.T) net.Addr
		wantKind   ErrorKind
		wantDials  int32
		wantStatus int
		wantMsg    string
		minElapsed time.Duration
	}{
		{
			name: "connect timeout, every attempt used", attempts: 3,
			addr: fullBacklogAddr, wantKind: ConnectTimeout, wantDials: 3, wantStatus: 504,
			wantMsg: `fetch origin "web": connect timeout after 3 attempts: dial tcp 127.0.0.1:`, minElapsed: 300 * time.Millisecond,
		},
		{
			name: "refused, retried", attempts: 2,
			addr: refusedAddr, wantKind: Connect, wantDials: 2, wantStatus: 502,
			wantMsg: `fetch origin "web": connect failed after 2 attempts: dial tcp 127.0.0.1:`,
		},
		{
			name: "unknown name is not retried", attempts: 3,
			addr: refusedAddr,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "origin.invalid", IsNotFound: true}}
			},
			wantKind: DNS, wantDials: 1, wantStatus: 502,
			wantMsg: `fetch origin "web": DNS lookup failed: dial tcp: lookup origin.invalid: no such host`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &countingDialer{dial: tt.dial}
			c := NewClient(ClientOptions{DialContext: d.DialContext})
			o := originFor(t, "web", tt.addr(t))
			o.ConnectionAttempts = tt.attempts
			o.ConnectionTimeout = 100 * time.Millisecond
			start := time.Now()
			resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
			elapsed := time.Since(start)
			if err == nil {
				resp.Body.Close()
				t.Fatal("Do succeeded")
			}
			e := asError(t, err)
			if e.Kind != tt.wantKind {
				t.Errorf("Kind = %v, want %v (%v)", e.Kind, tt.wantKind, err)
			}
			if n := d.n.Load(); n != tt.wantDials {
				t.Errorf("%d connection attempts, want %d", n, tt.wantDials)
			}
			if s := StatusFor(err); s != tt.wantStatus {
				t.Errorf("StatusFor = %d, want %d", s, tt.wantStatus)
			}
			if !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("Error() = %q, want prefix %q", err, tt.wantMsg)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("gave up after %v, want at least %v", elapsed, tt.minElapsed)
			}
		})
	}
}

func TestResponseTimeoutIsNotRetried(t *testing.T) {
	h, hits := blockingHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	d := &countingDialer{}
	c := NewClient(ClientOptions{DialContext: d.DialContext})
	o := originFor(t, "web", srv.Listener.Addr())
	o.ConnectionAttempts = 3
	o.ResponseTimeout = 100 * time.Millisecond

	start := time.Now()
	_, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
	e := asError(t, err)
	if e.Kind != ResponseTimeout || StatusFor(err) != 504 {
		t.Fatalf("got %v (kind %v, status %d), want a response timeout and 504", err, e.Kind, StatusFor(err))
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 2*time.Second {
		t.Errorf("timed out after %v, want about 100ms", el)
	}
	if hits.Load() != 1 || d.n.Load() != 1 {
		t.Errorf("origin saw %d requests over %d connections, want 1 and 1", hits.Load(), d.n.Load())
	}
}

func TestBodyGapTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/stall":
			io.WriteString(w, "first")
			rc.Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second): // the client never gave up
			}
		case "/steady":
			// Slow in total (1.6x the timeout) but never silent for
			// as long as the timeout.
			for range 8 {
				io.WriteString(w, "chunk")
				rc.Flush()
				time.Sleep(80 * time.Millisecond)
			}
		}
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	o := originFor(t, "web", srv.Listener.Addr())
	o.ResponseTimeout = 400 * time.Millisecond

	resp, err := c.Do(context.Background(), single(o), &Request{Path: "/steady"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != strings.Repeat("chunk", 8) {
		t.Fatalf("steady body = %q", got)
	}

	resp, err = c.Do(context.Background(), single(o), &Request{Path: "/stall"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if string(got) != "first" {
		t.Errorf("read %q before the stall, want %q", got, "first")
	}
	e := asError(t, err)
	if e.Kind != ResponseTimeout || e.Origin != "web" || StatusFor(err) != 504 {
		t.Errorf("stalled body read: %v (kind %v), want a response timeout from web", err, e.Kind)
	}
}

func TestSlowConsumerIsNotATimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 1000))
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	o := originFor(t, "web", srv.Listener.Addr())
	o.ResponseTimeout = 100 * time.Millisecond
	resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the edge is busy; the origin is not late
	if got := readAll(t, resp); len(got) != 1000 {
		t.Errorf("read %d bytes, want 1000", len(got))
	}
}

func TestFailover(t *testing.T) {
	type origin struct {
		status int  // 0: nothing listens
		block  bool // never answers
	}
	tests := []struct {
		name          string
		method        string
		primary       origin
		secondary     origin
		wantFrom      string // "primary", "secondary" or "" for an error
		wantKind      ErrorKind
		wantSecondary int32
	}{
		{"GET on failover status", "GET", origin{status: 503}, origin{status: 200}, "secondary", 0, 1},
		{"HEAD on failover status", "HEAD", origin{status: 503}, origin{status: 200}, "secondary", 0, 1},
		{"OPTIONS on failover status", "OPTIONS", origin{status: 404}, origin{status: 200}, "secondary", 0, 1},
		{"status not configured", "GET", origin{status: 500}, origin{status: 200}, "primary", 0, 0},
		{"POST never fails over on status", "POST", origin{status: 503}, origin{status: 200}, "primary", 0, 0},
		{"GET on connect failure", "GET", origin{}, origin{status: 200}, "secondary", 0, 1},
		{"POST never fails over on connect failure", "POST", origin{}, origin{status: 200}, "", Connect, 0},
		{"GET on response timeout", "GET", origin{block: true}, origin{status: 200}, "secondary", 0, 1},
		{"secondary status is final", "GET", origin{status: 503}, origin{status: 503}, "secondary", 0, 1},
		{"secondary error is final", "GET", origin{status: 503}, origin{}, "", Connect, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits [2]atomic.Int32
			block, _ := blockingHandler(t)
			members := make([]*Origin, 2)
			for i, spec := range []origin{tt.primary, tt.secondary} {
				id := [2]string{"primary", "secondary"}[i]
				if spec.status == 0 && !spec.block {
					members[i] = originFor(t, id, refusedAddr(t))
					continue
				}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits[i].Add(1)
					if spec.block {
						block(w, r)
						return
					}
					w.WriteHeader(spec.status)
					io.WriteString(w, id)
				}))
				t.Cleanup(srv.Close)
				members[i] = originFor(t, id, srv.Listener.Addr())
				if spec.block {
					members[i].ResponseTimeout = 100 * time.Millisecond
				}
			}
			target := &Target{ID: "group", Members: members, FailoverStatus: map[int]bool{503: true, 404: true}}
			c := NewClient(ClientOptions{})
			resp, err := c.Do(context.Background(), target, &Request{Method: tt.method, Path: "/"})
			if tt.wantFrom == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered by %s, want an error", resp.Origin.ID)
				}
				// The error names the origin that failed last.
				wantOrigin := "primary"
				if tt.wantSecondary > 0 || tt.primary.status != 0 {
					wantOrigin = "secondary"
				}
				if e := asError(t, err); e.Kind != tt.wantKind || e.Origin != wantOrigin {
					t.Errorf("error %v: kind %v from %q, want %v from %q", err, e.Kind, e.Origin, tt.wantKind, wantOrigin)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.Origin.ID != tt.wantFrom || resp.FailedOver != (tt.wantFrom == "secondary") {
					t.Errorf("answered by %s (failed over %v), want %s", resp.Origin.ID, resp.FailedOver, tt.wantFrom)
				}
				if tt.method != "HEAD" && body != tt.wantFrom {
					t.Errorf("body %q, want %q", body, tt.wantFrom)
				}
			}
			if n := hits[1].Load(); n != tt.wantSecondary {
				t.Errorf("secondary saw %d requests, want %d", n, tt.wantSecondary)
			}
		})
	}
}

func TestHopByHopStripped(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		h := w.Header()
		h.Set("Connection", "X-Bar")
		h.Set("X-Bar", "secret")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("X-Kept", "1")
		h.Set("Alt-Svc", `h3=":443"; ma=86400`)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	o := originFor(t, "web", srv.Listener.Addr())

	// Do strips hop-by-hop fields even when the caller left them in.
	req := &Request{Path: "/", Header: http.Header{
		"Connection":          {"X-Foo"},
		"X-Foo":               {"secret"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"trailers"},
		"Proxy-Authorization": {"Basic abc"},
		"Proxy-Connection":    {"keep-alive"},
		"Upgrade":             {"h2c"},
		"X-Kept":              {"1"},
	}}
	resp, err := c.Do(context.Background(), single(o), req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	for _, name := range []string{"X-Foo", "Keep-Alive", "Te", "Proxy-Authorization", "Proxy-Connection", "Upgrade"} {
		if v, ok := seen[name]; ok {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
	if c := seen.Get("Connection"); c != "" && !strings.EqualFold(c, "keep-alive") {
		t.Errorf("origin received Connection: %q", c)
	}
	if seen.Get("X-Kept") != "1" {
		t.Error("origin did not receive X-Kept")
	}
	// Alt-Svc names the origin's alternative endpoints, not the edge's:
	// passed on, it would send viewers' HTTP/3 to the edge's host and a
	// port it may not serve.
	for _, name := range []string{"Connection", "X-Bar", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Alt-Svc"} {
		if v, ok := resp.Header[name]; ok {
			t.Errorf("response kept %s: %q", name, v)
		}
	}
	if resp.Header.Get("X-Kept") != "1" {
		t.Error("response lost X-Kept")
	}
}

func TestRequestOnTheWire(t *testing.T) {
	type seenReq struct {
		uri, host string
		header    http.Header
	}
	seen := make(chan seenReq, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- seenReq{r.RequestURI, r.Host, r.Header.Clone()}
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{Via: "1.1 edge-1 (tern)"})
	o := originFor(t, "web", srv.Listener.Addr())
	o.OriginPath = "/base"
	o.CustomHeaders = []Field{{"X-Origin-Secret", "s3"}, {"X-Custom", "origin"}}

	tests := []struct {
		name     string
		fwd      Forwarding
		viewer   *http.Request
		path     string // replaces the viewer's, as the edge may
		wantURI  string
		wantHost string
		want     map[string][]string // nil value: absent
	}{
		{
			name: "defaults",
			viewer: viewerRequest("GET", "/a%2Fb/c?x=1&y=2", http.Header{
				"User-Agent": {"curl/8"}, "X-Custom": {"viewer"}, "Via": {"1.1 corp"}, "X-Forwarded-For": {"203.0.113.1"},
			}, ""),
			fwd:      Forwarding{QueryStrings: Selection{Behavior: Whitelist, Names: []string{"y"}}},
			wantURI:  "/base/a%2Fb/c?y=2",
			wantHost: srv.Listener.Addr().String(),
			want: map[string][]string{
				"User-Agent":      {"Tern"},
				"X-Custom":        {"origin"},
				"X-Origin-Secret": {"s3"},
				"Via":             {"1.1 corp", "1.1 edge-1 (tern)"},
				"X-Forwarded-For": {"203.0.113.1, 192.0.2.7"},
				"Accept-Encoding": nil,
			},
		},
		{
			name: "viewer Host and User-Agent forwarded",
			viewer: viewerRequest("GET", "/", http.Header{
				"User-Agent": {"curl/8"}, "X-Custom": {"viewer"},
			}, ""),
			fwd:      Forwarding{Headers: Selection{Behavior: AllViewer}},
			path:     "index.html",
			wantURI:  "/base/index.html",
			wantHost: "cdn.example",
			want: map[string][]string{
				"User-Agent":      {"curl/8"},
				"X-Custom":        {"origin"},
				"Via":             {"1.1 edge-1 (tern)"},
				"X-Forwarded-For": {"192.0.2.7"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			tt.fwd.Apply(tt.viewer, "192.0.2.7", "", &r)
			if tt.path != "" {
				r.Path = tt.path
			}
			resp, err := c.Do(context.Background(), single(o), &r)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			got := <-seen
			if got.uri != tt.wantURI || got.host != tt.wantHost {
				t.Errorf("origin saw %q with Host %q, want %q with Host %q", got.uri, got.host, tt.wantURI, tt.wantHost)
			}
			for name, want := range tt.want {
				v, ok := got.header[name]
				switch {
				case want == nil && ok:
					t.Errorf("%s = %q, want absent", name, v)
				case want != nil && strings.Join(v, "|") != strings.Join(want, "|"):
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
		})
	}
}

func TestProtocolPolicy(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			io.WriteString(w, "https")
		} else {
			io.WriteString(w, "http")
		}
	})
	plain := httptest.NewServer(handler)
	defer plain.Close()
	secure := httptest.NewTLSServer(handler)
	defer secure.Close()
	_, tlsPort, _ := net.SplitHostPort(secure.Listener.Addr().String())
	port, _ := strconv.Atoi(tlsPort)

	tests := []struct {
		policy      string
		viewerHTTPS bool
		want        string
	}{
		{HTTPOnly, true, "http"},
		{HTTPSOnly, false, "https"},
		{MatchViewer, false, "http"},
		{MatchViewer, true, "https"},
		{"", true, "https"},
	}
	c := NewClient(ClientOptions{})
	for _, tt := range tests {
		t.Run(tt.policy+"/"+strconv.FormatBool(tt.viewerHTTPS), func(t *testing.T) {
			o := originFor(t, "web", plain.Listener.Addr())
			o.HTTPSPort = port
			o.ProtocolPolicy = tt.policy
			o.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
			resp, err := c.Do(context.Background(), single(o), &Request{Path: "/", ViewerHTTPS: tt.viewerHTTPS})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, resp); got != tt.want {
				t.Errorf("served over %s, want %s", got, tt.want)
			}
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		d := &countingDialer{}
		c := NewClient(ClientOptions{DialContext: d.DialContext})
		o := originFor(t, "web", plain.Listener.Addr())
		o.HTTPSPort, o.ProtocolPolicy, o.ConnectionAttempts = port, HTTPSOnly, 3
		_, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
		e := asError(t, err)
		if e.Kind != Certificate || StatusFor(err) != 502 || d.n.Load() != 1 {
			t.Errorf("got %v (kind %v) after %d attempts, want a Certificate error after 1", err, e.Kind, d.n.Load())
		}
	})
	t.Run("unescaped path", func(t *testing.T) {
		o := originFor(t, "web", plain.Listener.Addr())
		_, err := c.Do(context.Background(), single(o), &Request{Path: "/a b"})
		if e := asError(t, err); e.Kind != Invalid {
			t.Errorf("Kind = %v, want %v", e.Kind, Invalid)
		}
	})
	t.Run("unknown policy", func(t *testing.T) {
		o := originFor(t, "web", plain.Listener.Addr())
		o.ProtocolPolicy = "gopher"
		_, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
		if e := asError(t, err); e.Kind != Invalid {
			t.Errorf("Kind = %v, want %v", e.Kind, Invalid)
		}
	})
}

func TestMalformedResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			conn.Read(buf)
			io.WriteString(conn, "SMTP ready\r\n\r\n")
			conn.Close()
		}
	}()
	c := NewClient(ClientOptions{})
	_, err = c.Do(context.Background(), single(originFor(t, "web", ln.Addr())), &Request{Path: "/"})
	if e := asError(t, err); e.Kind != Protocol || StatusFor(err) != 502 {
		t.Errorf("got %v (kind %v), want a protocol error and 502", err, e.Kind)
	}
}

func TestCanceled(t *testing.T) {
	h, _ := blockingHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := NewClient(ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, single(originFor(t, "web", srv.Listener.Addr())), &Request{Path: "/"})
	if e := asError(t, err); e.Kind != Canceled {
		t.Errorf("Kind = %v, want %v (%v)", e.Kind, Canceled, err)
	}
}

func TestRequestBodyStreams(t *testing.T) {
	firstChunk := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(firstChunk) // the viewer is still sending
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, string(buf)+string(rest)+" "+strings.Join(r.TransferEncoding, ","))
	}))
	defer srv.Close()

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("hello"))
		select {
		case <-firstChunk:
			pw.Write([]byte(" world"))
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(errors.New("origin never saw the first chunk: the body was buffered"))
		}
	}()
	c := NewClient(ClientOptions{})
	resp, err := c.Do(context.Background(), single(originFor(t, "web", srv.Listener.Addr())),
		&Request{Method: "POST", Path: "/", Body: pr, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "hello world chunked" {
		t.Errorf("origin answered %q", got)
	}
}

func TestEarlyHints(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.Header().Set("Connection", "X-Hint-Secret")
		w.Header().Set("X-Hint-Secret", "1")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Link", "</app.js>; rel=preload; as=script")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "page")
	}))
	defer srv.Close()
	var mu sync.Mutex
	var hints []http.Header
	c := NewClient(ClientOptions{})
	resp, err := c.Do(context.Background(), single(originFor(t, "web", srv.Listener.Addr())), &Request{
		Path: "/",
		OnEarlyHints: func(h http.Header) {
			mu.Lock()
			hints = append(hints, h.Clone())
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "page" || resp.StatusCode != 200 {
		t.Errorf("final response %d %q", resp.StatusCode, got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hints) != 2 || hints[0].Get("Link") != "</app.css>; rel=preload; as=style" || hints[1].Get("Link") != "</app.js>; rel=preload; as=script" {
		t.Fatalf("hints = %v", hints)
	}
	if _, ok := hints[0]["X-Hint-Secret"]; ok {
		t.Error("a hint kept a field its Connection named")
	}
}

func TestAgeTimes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	before := time.Now()
	resp, err := c.Do(context.Background(), single(originFor(t, "web", srv.Listener.Addr())), &Request{Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.RequestTime.Before(before) || resp.ResponseTime.Sub(resp.RequestTime) < 30*time.Millisecond || resp.ResponseTime.After(time.Now()) {
		t.Errorf("RequestTime %v, ResponseTime %v (started %v)", resp.RequestTime, resp.ResponseTime, before)
	}
}

func BenchmarkDo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{Via: "1.1 edge (tern)"})
	t := single(originFor(b, "web", srv.Listener.Addr()))
	req := &Request{Path: "/obj", Header: http.Header{"X-Forwarded-For": {"192.0.2.7"}}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(context.Background(), t, req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
