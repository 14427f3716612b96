package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/acmetest"
	"github.com/terncdn/tern/certs/certstest"
)

// TestACMEObtainServeRenewRestart runs the tern binary with edge.tls.acme
// pointed at Pebble, Let's Encrypt's test CA, run in the test process: the
// CA's validation connects to the edge's own listeners (http-01 on
// edge.listen, tls-alpn-01 on edge.listen_tls). The two aliases of the
// distribution get certificates whose chains verify against Pebble's
// root and HTTPS reaches the origin; another name gets the default
// certificate; a restart serves the stored certificates and orders
// nothing; the certificates are renewed in the background and the new
// ones served.
func TestACMEObtainServeRenewRestart(t *testing.T) {
	plainAddr, tlsAddr := freeAddr(t), freeAddr(t)
	// Ten-day certificates renewed when less than ten days minus 20 s are
	// left: the first renewal is due 20 s after issuance, checked every
	// second (renew_interval). The restart happens before then.
	const validity = 10 * 24 * time.Hour
	pebble := acmetest.StartPebble(t, port(t, plainAddr), port(t, tlsAddr), validity)
	roots := pebble.Root(t)
	def := certstest.NewCA(t).Issue(t, []string{"default.test"}, certstest.Options{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "object "+r.URL.Path)
	})
	cfg := fmt.Sprintf(`edge:
  listen: "%s"
  listen_tls: "%s"
  node_id: e2e-1
  pop: test-pop
  cache: {memory: 64MiB}
  access_log: "%%DIR%%/access.log"
  tls:
    http3: false
    default_certificate: {cert_file: "%s", key_file: "%s"}
    acme:
      directory_url: "%s"
      ca_roots: "%s"
      agree_tos: true
      email: ops@tern.test
      renew_before: %s
      renew_interval: 1s
admin:
  listen: "%%ADMIN%%"
distributions:
  - id: site
    aliases: [a.tern.test, b.tern.test]
    certificate: {acme: true}
    origins: [{id: web, domain_name: 127.0.0.1, http_port: %s}]
    default_cache_behavior: {target_origin_id: web}
`, plainAddr, tlsAddr, def.CertFile, def.KeyFile, pebble.DirectoryURL, pebble.RootsFile, validity-20*time.Second, o.port())
	n := startTern(t, cfg, "--data-dir", filepath.Join(t.TempDir(), "data"))

	aliases := []string{"a.tern.test", "b.tern.test"}
	serials := map[string]*big.Int{}
	for _, name := range aliases {
		serials[name] = waitACMECert(t, tlsAddr, name, roots, nil, 60*time.Second).SerialNumber
	}
	if serials["a.tern.test"].Cmp(serials["b.tern.test"]) == 0 {
		t.Error("one certificate for both aliases; want one per alias")
	}
	if got := pebble.Orders(); got != 2 {
		t.Errorf("%d orders, want 2 (one per alias)", got)
	}
	for _, name := range aliases {
		path := "/hello/" + name
		if body := httpsGet(t, tlsAddr, name, roots, path); body != "object "+path || o.count(path) != 1 {
			t.Errorf("https://%s%s answered %q (origin asked %d times), want the origin's answer", name, path, body, o.count(path))
		}
	}
	// A name the edge does not manage gets edge.tls.default_certificate
	// (which is not valid for it: the comparison is of the certificate).
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("unmanaged name: %v", err)
	}
	if leaf := conn.ConnectionState().PeerCertificates[0]; !leaf.Equal(def.Cert) {
		t.Errorf("unmanaged name got a certificate for %v, want the default certificate", leaf.DNSNames)
	}
	conn.Close()

	// Restart: the stored certificates are served and nothing is ordered.
	n.restart(os.Interrupt)
	for _, name := range aliases {
		leaf, err := tlsLeaf(tlsAddr, name, roots)
		if err != nil {
			t.Fatalf("%s after restart: %v", name, err)
		}
		if leaf.SerialNumber.Cmp(serials[name]) != 0 {
			t.Errorf("%s after restart: serial %x, want the stored %x", name, leaf.SerialNumber, serials[name])
		}
	}
	if got := pebble.Orders(); got != 2 {
		t.Errorf("%d orders after the restart, want still 2", got)
	}

	// Renewal: the restarted edge renews each certificate in the
	// background and serves the new one.
	start := time.Now()
	for _, name := range aliases {
		renewed := waitACMECert(t, tlsAddr, name, roots, serials[name], 40*time.Second)
		t.Logf("%s: serial %x renewed to %x, %v after the restart", name, serials[name], renewed.SerialNumber, time.Since(start).Round(time.Second))
	}
	if body := httpsGet(t, tlsAddr, "a.tern.test", roots, "/after-renewal"); body != "object /after-renewal" {
		t.Errorf("after renewal https://a.tern.test answered %q", body)
	}
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

// tlsLeaf handshakes with addr for name, verifying the chain against
// roots, and returns the leaf certificate.
func tlsLeaf(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitACMECert waits until addr serves name a certificate that verifies
// against roots and, if old is not nil, has another serial.
func waitACMECert(t *testing.T, addr, name string, roots *x509.CertPool, old *big.Int, within time.Duration) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		leaf, err := tlsLeaf(addr, name, roots)
		if err == nil && (old == nil || leaf.SerialNumber.Cmp(old) != 0) {
			return leaf
		}
		if err == nil {
			err = fmt.Errorf("still serial %x", leaf.SerialNumber)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no certificate served within %v: %v", name, within, lastErr)
	return nil
}

// httpsGet fetches https://name/path from the edge at addr, the chain
// verified against roots, and returns the body of a 200 response.
func httpsGet(t *testing.T, addr, name string, roots *x509.CertPool, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + name + path)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", name, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET https://%s%s: %d %s", name, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b)
}
