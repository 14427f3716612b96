package edge

import (
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/memory"
)

// httpsOrigin is a TLS origin with httptest's certificate (example.com,
// 127.0.0.1), offering HTTP/2, and the CA file that trusts it.
type httpsOrigin struct {
	srv    *httptest.Server
	caFile string
	port   string
}

func newHTTPSOrigin(tb testing.TB, h http.Handler) *httpsOrigin {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	caFile := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return &httpsOrigin{srv: srv, caFile: caFile, port: port}
}

// httpsEdge is an edge with one distribution whose origin is described
// by originYAML (a flow mapping).
func httpsEdge(tb testing.TB, originYAML string) (*Server, error) {
	tb.Helper()
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: site
    aliases: ["*"]
    origins: [`+originYAML+`]
    default_cache_behavior: {target_origin_id: o}
`), "test")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(64<<20, 8<<20)})
	if err == nil {
		tb.Cleanup(s.Close)
	}
	return s, err
}

func TestHTTPSOriginVerified(t *testing.T) {
	type seen struct {
		proto int
		sni   string
	}
	got := make(chan seen, 1)
	o := newHTTPSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.ProtoMajor, r.TLS.ServerName}
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "secure")
	}))
	otherCA := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherCA, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		tls      string // the origin's tls mapping
		http2    bool
		status   int
		errToken string
		proto    int
		sni      string
	}{
		{"custom CA, HTTP/2", `{ca_file: ` + o.caFile + `, server_name: example.com}`, true, 200, "", 2, "example.com"},
		{"custom CA, HTTP/1.1", `{ca_file: ` + o.caFile + `}`, false, 200, "", 1, ""},
		{"system roots only", `{server_name: example.com}`, true, 502, "origin-certificate-error", 0, ""},
		{"wrong CA", `{ca_file: ` + otherCA + `, system_roots: false}`, true, 502, "origin-certificate-error", 0, ""},
		{"name not in the certificate", `{ca_file: ` + o.caFile + `, server_name: wrong.test}`, true, 502, "origin-certificate-error", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := httpsEdge(t, fmt.Sprintf(`{id: o, domain_name: 127.0.0.1, https_port: %s, protocol_policy: https-only, connection_attempts: 1, http2: %t, tls: %s}`,
				o.port, tt.http2, tt.tls))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "http://site.test/a", nil))
			if rec.Code != tt.status || rec.Header().Get(HeaderError) != tt.errToken {
				t.Fatalf("status %d, %s %q; want %d, %q", rec.Code, HeaderError, rec.Header().Get(HeaderError), tt.status, tt.errToken)
			}
			if tt.status != 200 {
				return
			}
			if s := <-got; s.proto != tt.proto || s.sni != tt.sni {
				t.Errorf("origin saw HTTP/%d, SNI %q; want HTTP/%d, %q", s.proto, s.sni, tt.proto, tt.sni)
			}
			if rec.Body.String() != "secure" {
				t.Errorf("body %q", rec.Body)
			}
		})
	}
}

// TestHTTPSOriginBadCAFile: a ca_file that cannot be read or holds no
// certificate keeps the configuration from being applied, and says why.
func TestHTTPSOriginBadCAFile(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for file, want := range map[string]string{
		filepath.Join(t.TempDir(), "missing.pem"): "no such file",
		empty: "no PEM certificates",
	} {
		_, err := httpsEdge(t, `{id: o, domain_name: 127.0.0.1, protocol_policy: https-only, tls: {ca_file: `+file+`}}`)
		if err == nil || !strings.Contains(err.Error(), `origin "o": tls.ca_file`) || !strings.Contains(err.Error(), want) {
			t.Errorf("ca_file %s: got %v, want an error naming tls.ca_file: %s", filepath.Base(file), err, want)
		}
	}
}

// TestMatchViewer: a match-viewer origin is fetched over HTTPS (on
// https_port) for a viewer that came over TLS, over HTTP otherwise.
func TestMatchViewer(t *testing.T) {
	schemes := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		schemes <- scheme
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, scheme)
	})
	secure := newHTTPSOrigin(t, h)
	plain := httptest.NewServer(h)
	defer plain.Close()
	_, httpPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	s, err := httpsEdge(t, fmt.Sprintf(`{id: o, domain_name: 127.0.0.1, http_port: %s, https_port: %s, protocol_policy: match-viewer, http2: true, tls: {ca_file: %s}}`,
		httpPort, secure.port, secure.caFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, viewerTLS := range []bool{false, true, false} {
		req := httptest.NewRequest("GET", "http://site.test/page", nil)
		want := "http"
		if viewerTLS {
			// What the TLS listener hands the pipeline: the request's
			// connection state.
			req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, ServerName: "site.test"}
			want = "https"
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("viewer TLS %t: %d %q, want 200 %q", viewerTLS, rec.Code, rec.Body, want)
		}
		if got := <-schemes; got != want {
			t.Errorf("viewer TLS %t: origin reached over %s, want %s", viewerTLS, got, want)
		}
	}
}

// TestHTTPSOriginCollapsesOverHTTP2: concurrent misses for one object
// become one origin request over HTTP/2, and every viewer gets the whole
// body.
func TestHTTPSOriginCollapsesOverHTTP2(t *testing.T) {
	var requests, h2 atomic.Int32
	body := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	o := newHTTPSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		time.Sleep(200 * time.Millisecond) // the other misses arrive meanwhile
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, body)
	}))
	s, err := httpsEdge(t, fmt.Sprintf(`{id: o, domain_name: 127.0.0.1, https_port: %s, protocol_policy: https-only, http2: true, tls: {ca_file: %s}}`, o.port, o.caFile))
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(s)
	defer edge.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := http.Get(edge.URL + "/big")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || len(b) != len(body) {
				t.Errorf("viewer got %d, %d bytes, %v", resp.StatusCode, len(b), err)
			}
		})
	}
	wg.Wait()
	if requests.Load() != 1 || h2.Load() != 1 {
		t.Errorf("origin saw %d requests (%d over HTTP/2), want 1 over HTTP/2", requests.Load(), h2.Load())
	}
}

// BenchmarkServeMissHTTPS is the miss path to an HTTPS origin, over
// HTTP/1.1 and over HTTP/2: every request is for a new object, stored
// after the fetch. "parallel" runs GOMAXPROCS*8 viewers at once.
func BenchmarkServeMissHTTPS(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := newHTTPSOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	}))
	for _, h2 := range []bool{false, true} {
		name := "h1"
		if h2 {
			name = "h2"
		}
		s, err := httpsEdge(b, fmt.Sprintf(`{id: o, domain_name: 127.0.0.1, https_port: %s, protocol_policy: https-only, http2: %t, tls: {ca_file: %s}}`, o.port, h2, o.caFile))
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		miss := func(w *discardWriter) {
			clear(w.h)
			req := httptest.NewRequest("GET", fmt.Sprintf("http://site.test/obj/%d", n.Add(1)), nil)
			req.RemoteAddr = "127.0.0.1:5000"
			s.ServeHTTP(w, req)
			if w.h.Get("X-Cache") != "Miss from tern" {
				b.Fatalf("not a miss: %q %q", w.h.Get("X-Cache"), w.h.Get(HeaderError))
			}
		}
		b.Run(name+"/serial", func(b *testing.B) {
			w := &discardWriter{h: make(http.Header, 16)}
			b.ReportAllocs()
			for b.Loop() {
				miss(w)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: make(http.Header, 16)}
				for pb.Next() {
					miss(w)
				}
			})
		})
	}
}

// selfSignedCA returns a new self-signed CA certificate in PEM.
func selfSignedCA(t *testing.T) []byte {
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
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestApplyReadsCAFile: a reload with the same configuration keeps an
// HTTPS origin (and its warm connections); a ca_file whose contents
// changed on disk replaces it.
func TestApplyReadsCAFile(t *testing.T) {
	o := newHTTPSOrigin(t, http.NotFoundHandler())
	yaml := `{id: o, domain_name: 127.0.0.1, https_port: ` + o.port + `, protocol_policy: https-only, tls: {ca_file: ` + o.caFile + `}}`
	s, err := httpsEdge(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() *config.Config {
		c, err := config.Parse([]byte(`
distributions:
  - id: site
    origins: [`+yaml+`]
    default_cache_behavior: {target_origin_id: o}
`), "test")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := s.origins["site\x00o"]
	if err := s.Apply(parse()); err != nil {
		t.Fatal(err)
	}
	if s.origins["site\x00o"] != first {
		t.Error("an unchanged HTTPS origin was replaced on reload")
	}
	if err := os.WriteFile(o.caFile, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(parse()); err != nil {
		t.Fatal(err)
	}
	if s.origins["site\x00o"] == first {
		t.Error("an origin whose ca_file changed was kept")
	}
}
