package origin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
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

// tlsOrigin is an HTTPS origin (httptest's certificate: example.com,
// 127.0.0.1 and ::1) that offers HTTP/2 when h2 is set. It counts the
// connections it accepts.
type tlsOrigin struct {
	srv   *httptest.Server
	conns atomic.Int32
}

func newTLSOrigin(t testing.TB, h2 bool, h http.Handler) *tlsOrigin {
	t.Helper()
	o := &tlsOrigin{srv: httptest.NewUnstartedServer(h)}
	o.srv.EnableHTTP2 = h2
	o.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.srv.Config.ErrorLog = discardLog()
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// certPEM is the origin's certificate in PEM, to trust as a CA.
func (o *tlsOrigin) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.srv.Certificate().Raw})
}

// origin returns an https-only Origin for o that trusts its certificate.
func (o *tlsOrigin) origin(t testing.TB, h2 bool) *Origin {
	t.Helper()
	host, port, _ := net.SplitHostPort(o.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return &Origin{
		ID: "tls", DomainName: host, HTTPSPort: p, ProtocolPolicy: HTTPSOnly,
		ConnectionAttempts: 1, ConnectionTimeout: 2 * time.Second, ResponseTimeout: 2 * time.Second,
		CAPEM: o.certPEM(), HTTP2: h2,
	}
}

// seen is what an origin handler saw of the request.
type seen struct {
	proto int
	sni   string
	host  string
}

func recordHandler(got chan<- seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{proto: r.ProtoMajor, sni: r.TLS.ServerName, host: r.Host}
		io.WriteString(w, "ok")
	})
}

func TestOriginCertificateVerification(t *testing.T) {
	got := make(chan seen, 1)
	srv := newTLSOrigin(t, true, recordHandler(got))
	otherCA := selfSignedPEM(t) // httptest's servers all share one certificate

	tests := []struct {
		name string
		edit func(o *Origin)
		kind ErrorKind // 0: success
	}{
		{"ca_file added to the system roots", func(o *Origin) {}, 0},
		{"ca_file alone", func(o *Origin) { o.NoSystemRoots = true }, 0},
		{"system roots only", func(o *Origin) { o.CAPEM = nil }, Certificate},
		{"wrong CA", func(o *Origin) { o.CAPEM, o.NoSystemRoots = otherCA, true }, Certificate},
		{"server name not in the certificate", func(o *Origin) { o.ServerName = "other.test" }, Certificate},
		{"server name in the certificate", func(o *Origin) { o.ServerName = "example.com" }, 0},
		{"no roots at all", func(o *Origin) { o.CAPEM, o.NoSystemRoots = nil, true }, Invalid},
		{"garbage CA", func(o *Origin) { o.CAPEM = []byte("not a certificate") }, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := srv.origin(t, true)
			tt.edit(o)
			c := NewClient(ClientOptions{})
			defer c.CloseIdle()
			resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
			if tt.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				<-got
				if b := readAll(t, resp); b != "ok" {
					t.Errorf("body %q", b)
				}
				return
			}
			e := asError(t, err)
			if e.Kind != tt.kind || StatusFor(err) != http.StatusBadGateway {
				t.Fatalf("got %v (kind %v, status %d), want kind %v and 502", err, e.Kind, StatusFor(err), tt.kind)
			}
			if tt.kind == Certificate && !strings.Contains(err.Error(), "certificate verification failed") {
				t.Errorf("error %q does not say what failed", err)
			}
		})
	}
}

func TestOriginServerName(t *testing.T) {
	got := make(chan seen, 1)
	srv := newTLSOrigin(t, false, recordHandler(got))
	_, port, _ := net.SplitHostPort(srv.srv.Listener.Addr().String())

	tests := []struct {
		name       string
		serverName string // Origin.ServerName
		host       string // Request.Host (the viewer's, forwarded)
		wantSNI    string
		wantHost   string
		wantKind   ErrorKind
	}{
		// An IP address is never sent in SNI (RFC 6066 §3); the
		// certificate's IP address is checked.
		{"domain name", "", "", "", "127.0.0.1:" + port, 0},
		{"configured", "Example.COM", "", "example.com", "127.0.0.1:" + port, 0},
		{"forwarded Host", "", "example.com:8443", "example.com", "example.com:8443", 0},
		// The viewer's Host is not in the certificate, the origin's
		// domain (127.0.0.1) is: accepted, as CloudFront does.
		{"forwarded Host, certificate for the domain", "", "www.viewer.test", "www.viewer.test", "www.viewer.test", 0},
		{"configured wins over forwarded Host", "example.com", "www.viewer.test", "example.com", "www.viewer.test", 0},
		// A configured name is the only one checked.
		{"configured, not in the certificate", "www.viewer.test", "", "", "", Certificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := srv.origin(t, false)
			o.ServerName = tt.serverName
			c := NewClient(ClientOptions{})
			defer c.CloseIdle()
			resp, err := c.Do(context.Background(), single(o), &Request{Path: "/", Host: tt.host})
			if tt.wantKind != 0 {
				if e := asError(t, err); e.Kind != tt.wantKind {
					t.Fatalf("got %v, want kind %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			s := <-got
			if s.sni != tt.wantSNI || s.host != tt.wantHost {
				t.Errorf("origin saw SNI %q, Host %q; want %q, %q", s.sni, s.host, tt.wantSNI, tt.wantHost)
			}
		})
	}
}

func TestOriginHTTP2(t *testing.T) {
	tests := []struct {
		name          string
		offer, accept bool // the edge offers h2, the origin accepts it
		want          int
	}{
		{"negotiated", true, true, 2},
		{"origin speaks HTTP/1.1 only", true, false, 1},
		{"not offered", false, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan seen, 8)
			srv := newTLSOrigin(t, tt.accept, recordHandler(got))
			c := NewClient(ClientOptions{})
			defer c.CloseIdle()
			o := srv.origin(t, tt.offer)
			for i := 0; i < 3; i++ {
				resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
				if err != nil {
					t.Fatal(err)
				}
				if resp.ProtoMajor != tt.want {
					t.Errorf("response over %s, want HTTP/%d", resp.Proto, tt.want)
				}
				readAll(t, resp)
				if s := <-got; s.proto != tt.want {
					t.Errorf("origin saw HTTP/%d, want HTTP/%d", s.proto, tt.want)
				}
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("%d connections for 3 sequential requests, want 1 (reused)", n)
			}
		})
	}
}

// TestOriginHTTP2Multiplexes sends concurrent requests that the origin
// holds until all arrived: over HTTP/2 they share one connection, over
// HTTP/1.1 each needs its own.
func TestOriginHTTP2Multiplexes(t *testing.T) {
	const n = 8
	for _, h2 := range []bool{true, false} {
		t.Run("h2="+strconv.FormatBool(h2), func(t *testing.T) {
			var arrived sync.WaitGroup
			srv := newTLSOrigin(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/warm" {
					arrived.Done()
					arrived.Wait()
				}
				io.WriteString(w, r.URL.Path)
			}))
			c := NewClient(ClientOptions{})
			defer c.CloseIdle()
			o := srv.origin(t, h2)
			// A warm connection first: concurrent requests to an origin
			// not yet connected each dial (net/http learns that the
			// origin speaks HTTP/2 only when a handshake ends), and the
			// extra HTTP/2 connections are closed at once.
			resp, err := c.Do(context.Background(), single(o), &Request{Path: "/warm"})
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			arrived.Add(n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					path := fmt.Sprintf("/%d", i)
					resp, err := c.Do(context.Background(), single(o), &Request{Path: path})
					if err != nil {
						t.Error(err)
						return
					}
					if b := readAll(t, resp); b != path {
						t.Errorf("body %q, want %q", b, path)
					}
				})
			}
			wg.Wait()
			want := int32(n)
			if h2 {
				want = 1
			}
			if got := srv.conns.Load(); got != want {
				t.Errorf("%d connections, want %d", got, want)
			}
		})
	}
}

// TestOriginHTTP2Streams checks that a large body streams over HTTP/2:
// the first bytes reach the caller while the origin is still writing.
func TestOriginHTTP2Streams(t *testing.T) {
	const chunk, chunks = 1 << 20, 16
	firstRead := make(chan struct{})
	srv := newTLSOrigin(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(chunk*chunks))
		buf := make([]byte, chunk)
		for i := range chunks {
			w.Write(buf)
			w.(http.Flusher).Flush()
			if i == 0 {
				select {
				case <-firstRead:
				case <-time.After(5 * time.Second):
					t.Error("the caller read nothing while the origin held the rest of the body")
					return
				}
			}
		}
	}))
	c := NewClient(ClientOptions{})
	defer c.CloseIdle()
	resp, err := c.Do(context.Background(), single(srv.origin(t, true)), &Request{Path: "/big"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("response over %s, want HTTP/2", resp.Proto)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	close(firstRead)
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n+1024 != chunk*chunks {
		t.Fatalf("read %d more bytes, %v; want %d", n, err, chunk*chunks-1024)
	}
}

// TestOriginHTTP2Timeouts checks the response timeout over HTTP/2, for
// the head and for a body that stalls, and that a stream reset mid-body
// is a truncated body.
func TestOriginHTTP2Timeouts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newTLSOrigin(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-head":
			<-release
		case "/slow-body":
			w.Write([]byte("part"))
			w.(http.Flusher).Flush()
			<-release
		case "/reset":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("part"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // RST_STREAM
		}
	}))
	c := NewClient(ClientOptions{})
	defer c.CloseIdle()
	o := srv.origin(t, true)
	o.ResponseTimeout = 300 * time.Millisecond

	_, err := c.Do(context.Background(), single(o), &Request{Path: "/slow-head"})
	if e := asError(t, err); e.Kind != ResponseTimeout || StatusFor(err) != http.StatusGatewayTimeout {
		t.Errorf("slow head: %v (kind %v), want a response timeout", err, e.Kind)
	}

	resp, err := c.Do(context.Background(), single(o), &Request{Path: "/slow-body"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := asError(t, err); e.Kind != ResponseTimeout || resp.ProtoMajor != 2 {
		t.Errorf("slow body over %s: %v (kind %v), want a response timeout", resp.Proto, err, e.Kind)
	}

	resp, err = c.Do(context.Background(), single(o), &Request{Path: "/reset"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := asError(t, err); e.Kind != Truncated {
		t.Errorf("reset stream: %v (kind %v), want a truncated body", err, e.Kind)
	}

	// The connection survived its streams' failures.
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestOriginMinTLSVersion(t *testing.T) {
	srv := newTLSOrigin(t, false, http.NotFoundHandler())
	srv.srv.TLS.MaxVersion = tls.VersionTLS12
	o := srv.origin(t, false)
	o.MinTLSVersion = tls.VersionTLS13
	c := NewClient(ClientOptions{})
	_, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
	if e := asError(t, err); e.Kind != TLS || StatusFor(err) != http.StatusBadGateway {
		t.Errorf("got %v (kind %v), want a TLS error", err, e.Kind)
	}
}

// TestTunnelOverHTTP2Origin checks that a WebSocket upgrade to an origin
// with HTTP2 goes over HTTP/1.1, which can carry it.
func TestTunnelOverHTTP2Origin(t *testing.T) {
	srv := newTLSOrigin(t, true, echoHandler(t))
	testTunnelEchoes(t, tunnelEdge(t, srv.origin(t, true)))
}

func TestParseCAPEM(t *testing.T) {
	srv := newTLSOrigin(t, false, http.NotFoundHandler())
	cert := srv.certPEM()
	for _, tt := range []struct {
		name string
		data string
		n    int
		err  string
	}{
		{"one", string(cert), 1, ""},
		{"two with text between", string(cert) + "\n\n" + string(cert), 2, ""},
		{"empty", "", 0, ""},
		{"not PEM", "hello", 0, "PEM block 1: not PEM data"},
		{"a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0, `PEM block 1 is a "PRIVATE KEY"`},
		{"bad certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, "PEM block 1: x509"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCAPEM([]byte(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(certs) != tt.n {
				t.Fatalf("%d certificates, %v; want %d", len(certs), err, tt.n)
			}
		})
	}
}

// discardLog silences the expected handshake failures of an origin.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// selfSignedPEM returns a new self-signed CA certificate in PEM.
func selfSignedPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		DNSNames:              []string{"example.com"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
