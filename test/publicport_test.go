package test

import (
	"net/http"
	"testing"
	"time"
)

// TestHTTPSPublicPort: an edge behind a port forward (viewers' 443 to
// its listen_tls port) redirects to and advertises HTTP/3 at the port
// viewers use, edge.tls.public_port, not the one it bound.
func TestHTTPSPublicPort(t *testing.T) {
	tn := startTLSTernHTTP2(t, "{}\n    public_port: 443")
	plain := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := fetch(t, plain, "http://"+tn.Edge+"/secure/a?b=1")
	if want := "https://127.0.0.1/secure/a?b=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, _ = fetch(t, tn.client(false), "https://"+tn.TLS+"/x")
	if got, want := resp.Header.Get("Alt-Svc"), `h3=":443"; ma=86400`; got != want {
		t.Errorf("Alt-Svc %q, want %q", got, want)
	}
}
