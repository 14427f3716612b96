package edge

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/certstest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// newHostKeyServer is an edge whose catch-all "*.example.com"
// distribution keys its cache on the Host header (as Managed-Amplify
// does), in front of an origin that answers with the Host it was sent.
func newHostKeyServer(t *testing.T) *Server {
	t.Helper()
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "host="+r.Host)
	}))
	t.Cleanup(o.Close)
	return newTestServer(t, o.URL, `  - id: hosts
    aliases: ["*.hosts.test"]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: `+o.Listener.Addr().String()[strings.LastIndexByte(o.Listener.Addr().String(), ':')+1:]+`}]
    default_cache_behavior:
      target_origin_id: o
      cache_policy: {headers: {behavior: whitelist, names: [host]}}
      origin_request_policy: {headers: {behavior: whitelist, names: [host]}}
`)
}

// TestHostInCacheKeyHTTP1: with Host in the cache key, two names of one
// wildcard distribution are two objects. net/http moves an HTTP/1.1
// request's Host into Request.Host and out of the header map, so a key
// read from the header map alone has no Host at all: the second name
// would be served the first name's object.
func TestHostInCacheKeyHTTP1(t *testing.T) {
	s := newHostKeyServer(t)
	for _, host := range []string{"a.hosts.test", "b.hosts.test", "a.hosts.test"} {
		r := httptest.NewRequest("GET", "http://"+host+"/page", nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if got := w.Body.String(); got != "host="+host {
			t.Errorf("GET %s/page: body %q, want %q", host, got, "host="+host)
		}
	}
}

// TestHostInCacheKeyHTTP2Authority: an HTTP/2 request's :authority picks
// the distribution and is the Host sent to the origin, so it is also
// what the cache key holds. A host field that disagrees with :authority
// (RFC 9113 §8.3.1) must not put the :authority's object under another
// name's key: that poisons the other name for every viewer.
func TestHostInCacheKeyHTTP2Authority(t *testing.T) {
	s := newHostKeyServer(t)
	ts := httptest.NewUnstartedServer(s)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()

	// The attacker: :authority a, host b.
	status, body := rawH2Get(t, ts.Listener.Addr().String(), "a.hosts.test", "b.hosts.test", "/page")
	t.Logf("attacker (:authority a, host b): %d %q", status, body)

	// The victim, over HTTP/2 and over HTTP/1.1, asks for b.
	c := ts.Client()
	for _, proto := range []string{"h2", "h1"} {
		req, _ := http.NewRequest("GET", ts.URL+"/page", nil)
		req.Host = "b.hosts.test"
		tr := c.Transport.(*http.Transport).Clone()
		if proto == "h1" {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			tr.ForceAttemptHTTP2 = false
			tr.Protocols = nil
			var p http.Protocols
			p.SetHTTP1(true)
			tr.Protocols = &p
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(got) != "host=b.hosts.test" {
			t.Errorf("victim over %s (%s) asking b.hosts.test: body %q, want host=b.hosts.test", proto, resp.Proto, got)
		}
	}
}

// rawH2Get sends one GET over HTTP/2 with the given :authority and, when
// host is not "", a host field, and returns the status and body.
func rawH2Get(t *testing.T, addr, authority, host, path string) (int, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if host != "" {
		enc.WriteField(hpack.HeaderField{Name: "host", Value: host})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	status := 0
	var body strings.Builder
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" {
				for _, c := range v {
					status = status*10 + int(c-'0')
				}
			}
			if f.StreamEnded() {
				return status, body.String()
			}
		case *http2.DataFrame:
			body.Write(f.Data())
			if f.StreamEnded() {
				return status, body.String()
			}
		case *http2.RSTStreamFrame:
			return -int(f.ErrCode), body.String()
		case *http2.GoAwayFrame:
			return -1000 - int(f.ErrCode), body.String()
		}
	}
}

// TestHTTPSOriginCertificateErrorNotCached: an origin whose certificate
// is expired, or is for another name, is a 502 origin-certificate-error,
// and that answer is not kept: once the origin presents a good
// certificate, the next request is served.
func TestHTTPSOriginCertificateErrorNotCached(t *testing.T) {
	ca := certstest.NewCA(t)
	good := ca.Issue(t, []string{"origin.test"}, certstest.Options{})
	bad := map[string]*certstest.Issued{
		"expired":    ca.Issue(t, []string{"origin.test"}, certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}),
		"other name": ca.Issue(t, []string{"other.test"}, certstest.Options{}),
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			var current atomic.Pointer[tls.Certificate]
			load := func(i *certstest.Issued) {
				c, err := tls.X509KeyPair(i.CertPEM, i.KeyPEM)
				if err != nil {
					t.Fatal(err)
				}
				current.Store(&c)
			}
			load(b)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				io.WriteString(w, "secure")
			}))
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }}
			srv.StartTLS()
			defer srv.Close()
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			s, err := httpsEdge(t, `{id: o, domain_name: 127.0.0.1, https_port: `+port+`, protocol_policy: https-only, connection_attempts: 1, http2: true, tls: {ca_file: `+caFile+`, server_name: origin.test, system_roots: false}}`)
			if err != nil {
				t.Fatal(err)
			}
			get := func() *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest("GET", "http://site.test/a", nil))
				return rec
			}
			if rec := get(); rec.Code != 502 || rec.Header().Get(HeaderError) != "origin-certificate-error" {
				t.Fatalf("%s certificate: %d %q", name, rec.Code, rec.Header().Get(HeaderError))
			}
			load(good)
			if rec := get(); rec.Code != 200 || rec.Body.String() != "secure" {
				t.Errorf("after the origin's certificate was fixed: %d %q %q", rec.Code, rec.Header().Get(HeaderError), rec.Body)
			}
		})
	}
}

// TestHTTPSOriginOneStream: an HTTP/2 origin that allows one stream per
// connection still serves a burst of misses (the client opens more
// connections or queues, it does not fail them), and a burst on one key
// is one origin request.
func TestHTTPSOriginOneStream(t *testing.T) {
	var inFlight, peak, total atomic.Int64
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "object "+r.URL.Path+" "+r.Proto)
	}))
	o.EnableHTTP2 = true
	o.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1}
	o.Config.ErrorLog = log.New(io.Discard, "", 0)
	o.StartTLS()
	defer o.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(o.Listener.Addr().String())
	s, err := httpsEdge(t, `{id: o, domain_name: 127.0.0.1, https_port: `+port+`, protocol_policy: https-only, http2: true, tls: {ca_file: `+caFile+`, server_name: example.com}}`)
	if err != nil {
		t.Fatal(err)
	}
	burst := func(path func(i int) string) []string {
		out := make([]string, 20)
		done := make(chan struct{})
		for i := range out {
			go func() {
				defer func() { done <- struct{}{} }()
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest("GET", "http://site.test"+path(i), nil))
				out[i] = fmt.Sprintf("%d %s", rec.Code, rec.Body)
			}()
		}
		for range out {
			<-done
		}
		return out
	}
	for i, got := range burst(func(i int) string { return fmt.Sprintf("/d/%d", i) }) {
		if want := fmt.Sprintf("200 object /d/%d HTTP/2.0", i); got != want {
			t.Errorf("distinct miss %d: %q, want %q", i, got, want)
		}
	}
	t.Logf("20 distinct misses: %d origin requests, at most %d at once", total.Load(), peak.Load())
	total.Store(0)
	for i, got := range burst(func(int) string { return "/same" }) {
		if got != "200 object /same HTTP/2.0" {
			t.Errorf("same-key miss %d: %q", i, got)
		}
	}
	if n := total.Load(); n != 1 {
		t.Errorf("20 misses of one key: %d origin requests, want 1", n)
	}
}
