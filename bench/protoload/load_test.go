package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// newServers is one handler behind an HTTPS server (HTTP/1.1 and HTTP/2)
// and an HTTP/3 server with the same certificate; it returns both ports'
// URLs and a client TLS config trusting the certificate.
func newServers(t *testing.T, h http.Handler) (tcpURL, udpURL string, roots *tlsRoots) {
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	roots = &tlsRoots{config: &tls.Config{RootCAs: pool}}

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h3 := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(s.TLS.Clone())}
	go h3.Serve(udp)
	t.Cleanup(func() { h3.Close(); udp.Close() })
	return s.URL, "https://" + udp.LocalAddr().String(), roots
}

func TestRunEachProtocol(t *testing.T) {
	body := strings.Repeat("x", 1024)
	tcpURL, udpURL, roots := newServers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(body))
	}))
	for _, tc := range []struct {
		proto, base, answer string
		conns               int
	}{
		{"h1", tcpURL, "HTTP/1.1", 2 * 3},
		{"h2", tcpURL, "HTTP/2.0", 2},
		{"h3", udpURL, "HTTP/3.0", 2},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			cfg := config{url: tc.base + "/obj/1k/1", proto: tc.proto, serverName: "example.com",
				conns: 2, streams: 3, duration: 300 * time.Millisecond, wantLen: 1024, roots: roots}
			r, err := run(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK < 6 || r.Errors != 0 {
				t.Fatalf("ok %d errors %d (first: %v), want at least 6 answers and no errors", r.OK, r.Errors, r.FirstErr)
			}
			if len(r.Seen) != 1 || r.Seen[tc.answer] != r.OK {
				t.Errorf("answers by protocol %v, want all %d %s", r.Seen, r.OK, tc.answer)
			}
			if r.Bytes != int64(r.OK)*1024 {
				t.Errorf("bytes %d, want %d", r.Bytes, r.OK*1024)
			}
			line := protocolLine(r, cfg)
			if want := fmt.Sprintf("conns=%d", tc.conns); !strings.Contains(line, want) {
				t.Errorf("%q does not say %s", line, want)
			}
			if !strings.HasPrefix(r.Line(), "RESULT requests=") {
				t.Errorf("result line %q", r.Line())
			}
		})
	}
}

func TestRunCountsBadAnswers(t *testing.T) {
	tcpURL, _, roots := newServers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("short"))
	}))
	r, err := run(config{url: tcpURL + "/", proto: "h2", serverName: "example.com",
		conns: 1, streams: 2, duration: 100 * time.Millisecond, wantLen: 1024, roots: roots})
	if err == nil {
		t.Fatalf("a first answer of the wrong length is not an error: %+v", r)
	}
	if !strings.Contains(err.Error(), "5 body bytes, want 1024") {
		t.Errorf("error %q does not name the length", err)
	}
}

func TestRunCount(t *testing.T) {
	tcpURL, _, roots := newServers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r, err := run(config{url: tcpURL + "/", proto: "h1", serverName: "example.com",
		conns: 2, streams: 2, duration: 10 * time.Second, count: 10, wantLen: 0, roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 10 || r.Elapsed > 5*time.Second {
		t.Errorf("ok %d in %s, want 10 requests and an early stop", r.OK, r.Elapsed)
	}
}

func TestRunRejects(t *testing.T) {
	for _, cfg := range []config{
		{url: "https://127.0.0.1:1/", proto: "h4", conns: 1, streams: 1, duration: time.Second},
		{url: "https://127.0.0.1:1/", proto: "h2", conns: 0, streams: 1, duration: time.Second},
		{url: "https://127.0.0.1:1/", proto: "h2", conns: 1, streams: 1, duration: 0},
	} {
		if _, err := run(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
