package edge

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHTTPSURL(t *testing.T) {
	for _, tc := range []struct {
		port int
		host string
		uri  string
		want string
	}{
		{0, "example.com:8080", "/a?b=1", "https://example.com:8080/a?b=1"}, // no listener of its own: Host kept
		{443, "example.com:8080", "/a?b=1", "https://example.com/a?b=1"},
		{443, "example.com", "/a", "https://example.com/a"},
		{8443, "example.com:8080", "/a%20b?c", "https://example.com:8443/a%20b?c"},
		{8443, "example.com", "/", "https://example.com:8443/"},
		{8443, "[::1]:8080", "/", "https://[::1]:8443/"},
		{443, "[2001:db8::1]", "/", "https://[2001:db8::1]/"},
		{8443, "127.0.0.1:8080", "/x", "https://127.0.0.1:8443/x"},
	} {
		s := &Server{}
		s.SetHTTPS(tc.port, true)
		r := httptest.NewRequest("GET", "http://"+tc.host+tc.uri, nil)
		r.Host = tc.host
		if got := s.httpsURL(r); got != tc.want {
			t.Errorf("port %d, Host %q, %s: %q, want %q", tc.port, tc.host, tc.uri, got, tc.want)
		}
	}
}

func TestAltSvc(t *testing.T) {
	s := &Server{}
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	r.TLS = &tls.ConnectionState{}
	h := http.Header{"Alt-Svc": {`h2="origin:443"`}}
	s.advertiseHTTP3(r, h)
	if h.Get("Alt-Svc") != `h2="origin:443"` {
		t.Errorf("without SetHTTPS: %q", h.Get("Alt-Svc"))
	}
	s.SetHTTPS(8443, true)
	s.advertiseHTTP3(r, h)
	if got := h.Get("Alt-Svc"); got != `h3=":8443"; ma=86400` {
		t.Errorf("over TLS: %q", got)
	}
	h = http.Header{}
	s.advertiseHTTP3(httptest.NewRequest("GET", "http://example.com/", nil), h)
	if h.Get("Alt-Svc") != "" {
		t.Errorf("over plain HTTP: %q", h.Get("Alt-Svc"))
	}
	s.SetHTTPS(8443, false) // HTTP/3 off
	s.advertiseHTTP3(r, h)
	if h.Get("Alt-Svc") != "" {
		t.Errorf("HTTP/3 off: %q", h.Get("Alt-Svc"))
	}
}
