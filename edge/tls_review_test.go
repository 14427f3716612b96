package edge

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTLSPolicyOfHost: an HTTPS request is answered only if its
// connection meets the security policy of the distribution its Host
// names (421 otherwise); the edge's policy stands for distributions
// without their own.
func TestTLSPolicyOfHost(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer o.Close()
	s := newTestServer(t, o.URL, `  - id: strict
    aliases: [strict.test]
    security_policy: TLSv1.3_2025
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 1}]
    default_cache_behavior: {target_origin_id: o}
`)
	for _, tc := range []struct {
		host           string
		version, suite uint16
		want           int
	}{
		{"strict.test", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, 200},
		{"strict.test", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 421},
		{"www.example.com", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 200},
		{"www.example.com", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA, 421}, // TLSv1.2_2021 has no CBC
		{"www.example.com", tls.VersionTLS11, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, 421},
	} {
		r := httptest.NewRequest("GET", "https://"+tc.host+"/x", nil)
		r.TLS = &tls.ConnectionState{Version: tc.version, CipherSuite: tc.suite}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if tc.want == 200 && w.Code == 421 || tc.want == 421 && w.Code != 421 {
			t.Errorf("%s over %s %s: %d, want %d", tc.host, tls.VersionName(tc.version), tls.CipherSuiteName(tc.suite), w.Code, tc.want)
		}
	}
}

// BenchmarkServeHitTLS12 is the hit path of a request over TLS 1.2 whose
// cipher suite is the last the policy lists (the longest policy check).
func BenchmarkServeHitTLS12(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, strings.Repeat("x", 1024))
	}))
	defer o.Close()
	s := newTestServer(b, o.URL, "")
	req := httptest.NewRequest("GET", "https://bench.test/obj/1k", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	s.ServeHTTP(httptest.NewRecorder(), req)
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	if w.h.Get("X-Cache") != "Hit from tern" {
		b.Fatalf("not a hit: %q", w.h.Get("X-Cache"))
	}
}
