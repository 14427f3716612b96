package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terncdn/tern/certs/acmetest"
	"github.com/terncdn/tern/certs/certstest"
)

// weakStrongTern is a tern with two distributions on one HTTPS listener:
// "weak" (weak.test, security policy TLSv1) and "strong" (strong.test,
// the edge's TLSv1.2_2021, or strongPolicy), each with its own
// certificate.
func weakStrongTern(t *testing.T, strongPolicy ...string) (*node, string, *certstest.CA) {
	t.Helper()
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "object "+r.Host+r.URL.Path)
	})
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	weak := ca.Issue(t, []string{"weak.test"}, certstest.Options{})
	strong := ca.Issue(t, []string{"strong.test"}, certstest.Options{})
	tlsAddr := freeAddr(t)
	cfg := tlsEdgeHead(tlsAddr, def) + `  - id: weak
    aliases: [weak.test]
    certificate: {cert_file: "` + weak.CertFile + `", key_file: "` + weak.KeyFile + `"}
    security_policy: TLSv1
    origins: [{id: web, domain_name: 127.0.0.1, http_port: ` + o.port() + `}]
    default_cache_behavior: {target_origin_id: web}
  - id: strong
    aliases: [strong.test]
    certificate: {cert_file: "` + strong.CertFile + `", key_file: "` + strong.KeyFile + `"}
` + policyLine(strongPolicy) + `    origins: [{id: web, domain_name: 127.0.0.1, http_port: ` + o.port() + `}]
    default_cache_behavior: {target_origin_id: web}
`
	return startTern(t, cfg), tlsAddr, ca
}

// tlsEdgeHead is the configuration of an edge with an HTTPS listener at
// tlsAddr (HTTP/3 off) whose default certificate is def, up to its
// distributions: the list's entries follow.
func tlsEdgeHead(tlsAddr string, def *certstest.Issued) string {
	return `edge:
  listen: "%EDGE%"
  node_id: e2e-1
  listen_tls: "` + tlsAddr + `"
  tls:
    default_certificate: {cert_file: "` + def.CertFile + `", key_file: "` + def.KeyFile + `"}
    http3: false
admin:
  listen: "%ADMIN%"
distributions:
`
}

// policyLine is a distribution's security_policy line, if one is given.
func policyLine(policy []string) string {
	if len(policy) == 0 {
		return ""
	}
	return "    security_policy: " + policy[0] + "\n"
}

// TestSecurityPolicyNotBypassedByHost: a viewer that negotiates TLS 1.1
// under the SNI of a distribution whose security policy allows it must
// not reach, by the Host header, a distribution whose policy refuses TLS
// 1.1. The edge answers 421 Misdirected Request (RFC 9110 §15.5.20), which
// tells a client to try again on a connection of its own for that host.
func TestSecurityPolicyNotBypassedByHost(t *testing.T) {
	_, tlsAddr, ca := weakStrongTern(t)
	// The policy holds at the handshake.
	old := &tls.Config{ServerName: "strong.test", RootCAs: ca.Pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", tlsAddr, old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake for strong.test succeeded under TLSv1.2_2021")
	}
	get := func(sni, host string, maxVersion uint16) int {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: ca.Pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion}}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/x", nil)
		req.Host = host
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("SNI %s, Host %s: %v", sni, host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("weak.test", "weak.test", tls.VersionTLS11); got != 200 {
		t.Fatalf("TLS 1.1 to weak.test: %d", got)
	}
	if got := get("weak.test", "strong.test", tls.VersionTLS11); got != http.StatusMisdirectedRequest {
		t.Errorf("TLS 1.1 under SNI weak.test, Host strong.test: %d, want 421", got)
	}
	// A TLS 1.2 connection with an AEAD suite meets both policies: one
	// connection may serve both names (HTTP/2 connection reuse).
	if got := get("weak.test", "strong.test", tls.VersionTLS12); got != 200 {
		t.Errorf("TLS 1.2 under SNI weak.test, Host strong.test: %d, want 200", got)
	}
	// TLS 1.2 with a CBC suite only TLSv1 allows.
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "weak.test", RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/y", nil)
	req.Host = "strong.test"
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("TLS 1.2 CBC under SNI weak.test, Host strong.test: %d, want 421", resp.StatusCode)
	}
}

// TestEdgeHTTPSWithoutDefaultCertificate: `tern edge` takes its
// distributions, and with them their certificates, from the control
// plane; its own file (listen_tls, no default_certificate) has none. It
// starts, serves each distribution's certificate by SNI, and refuses a
// handshake no certificate covers.
func TestEdgeHTTPSWithoutDefaultCertificate(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "object "+r.URL.Path)
	})
	ca := certstest.NewCA(t)
	shop := ca.Issue(t, []string{"shop.test"}, certstest.Options{})
	nw := startNetwork(t, `distributions:
  - id: shop
    aliases: [shop.test]
    certificate: {cert_file: "`+shop.CertFile+`", key_file: "`+shop.KeyFile+`"}
    origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
    default_cache_behavior: {target_origin_id: web}
`)
	tlsAddr := freeAddr(t)
	e := nw.startNode("eu", "eu-1", strings.Replace(edgeFile, "edge:\n", "edge:\n  listen_tls: \""+tlsAddr+"\"\n  tls: {http3: false}\n", 1))
	waitLong(t, "the distribution on the edge", func() bool { return slices.Contains(e.distributionIDs(), "shop") })
	c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "shop.test", RootCAs: ca.Pool})
	if err != nil {
		t.Fatalf("handshake for shop.test: %v", err)
	}
	c.Close()
	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Error("a handshake for a name no certificate covers succeeded")
	}
	// A revision that leaves no certificate at all is refused at the
	// edge, naming what is missing; the one in service stays.
	rev := e.configRevision()
	doc := filepath.Join(t.TempDir(), "shop.yaml")
	os.WriteFile(doc, []byte(`id: shop
aliases: [shop.test]
origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
default_cache_behavior: {target_origin_id: web}
`), 0o644)
	if out, err := nw.cli("apply", "-f", doc); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitLong(t, "the refusal in the edge's log", func() bool {
		return strings.Contains(e.output.String(), "edge.tls.default_certificate: is required")
	})
	if got := e.configRevision(); got != rev {
		t.Errorf("revision in service %v, want %v kept", got, rev)
	}
	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "shop.test", RootCAs: ca.Pool}); err != nil {
		t.Errorf("after the refused revision: %v", err)
	} else {
		c.Close()
	}
}

// TestRefusedReloadKeepsCertificates: a configuration the edge refuses
// (here an origin's tls.ca_file that does not load) leaves the
// certificates as they were: the HTTPS side is not applied without the
// rest.
func TestRefusedReloadKeepsCertificates(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	shop := ca.Issue(t, []string{"shop.test"}, certstest.Options{})
	tlsAddr := freeAddr(t)
	head := tlsEdgeHead(tlsAddr, def) + `  - id: shop
    aliases: [shop.test]
    origins: [{id: web, domain_name: 127.0.0.1, http_port: ` + o.port() + `}]
    default_cache_behavior: {target_origin_id: web}
`
	n := startTern(t, head+`    certificate: {cert_file: "`+shop.CertFile+`", key_file: "`+shop.KeyFile+`"}
`)
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "shop.test", RootCAs: ca.Pool, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := served(); got != shop.Cert.SerialNumber.String() {
		t.Fatalf("shop.test served %s", got)
	}
	// The new file drops shop's certificate and names a CA file that
	// does not exist: the edge refuses it whole.
	bad := strings.Replace(head, "http_port: "+o.port()+"}", "http_port: "+o.port()+", protocol_policy: https-only, tls: {ca_file: \"%DIR%/missing-ca.pem\"}}", 1)
	bad = strings.NewReplacer("%EDGE%", n.Edge, "%ADMIN%", n.Admin, "%DIR%", n.Dir).Replace(bad)
	if err := os.WriteFile(filepath.Join(n.Dir, "tern.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd.Process.Signal(syscall.SIGHUP)
	waitLong(t, "the refused reload", func() bool { return strings.Contains(n.output.String(), "reload refused") })
	if got := served(); got != shop.Cert.SerialNumber.String() {
		t.Errorf("after a refused reload shop.test gets %s, want its own certificate %s still", got, shop.Cert.SerialNumber)
	}
}

// TestExpiredCertificateDoesNotStopTheEdge: a certificate that expired in
// service (nobody renewed it) must not keep the edge from starting again:
// every other distribution is served, the expired one is served with what
// it has (as the edge did before the restart) and the problem is logged
// naming the field; `tern validate` still reports it.
func TestExpiredCertificateDoesNotStopTheEdge(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	old := ca.Issue(t, []string{"old.test"}, certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	shop := ca.Issue(t, []string{"shop.test"}, certstest.Options{})
	tlsAddr := freeAddr(t)
	n := startTern(t, tlsEdgeHead(tlsAddr, def)+`  - id: old
    aliases: [old.test]
    certificate: {cert_file: "`+old.CertFile+`", key_file: "`+old.KeyFile+`"}
    origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
    default_cache_behavior: {target_origin_id: web}
  - id: shop
    aliases: [shop.test]
    certificate: {cert_file: "`+shop.CertFile+`", key_file: "`+shop.KeyFile+`"}
    origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
    default_cache_behavior: {target_origin_id: web}
`)
	if c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "shop.test", RootCAs: ca.Pool}); err != nil {
		t.Errorf("shop.test: %v", err)
	} else {
		c.Close()
	}
	c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "old.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("old.test: %v", err)
	}
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(old.Cert.SerialNumber) != 0 {
		t.Errorf("old.test: serial %v, want its own (expired) certificate", got)
	}
	c.Close()
	if !strings.Contains(n.output.String(), "distributions[0].certificate.cert_file") {
		t.Error("the expired certificate is not logged with its field")
	}
	out, err := exec.Command(ternBin, "validate", "--config", filepath.Join(n.Dir, "tern.yaml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "expired") {
		t.Errorf("tern validate: %v\n%s", err, out)
	}
}

// TestACMEAliasFromRevision: an alias added by a control-plane revision,
// on a distribution with certificate: {acme: true}, gets its certificate;
// handshakes for names nobody manages, with or without the acme-tls/1
// protocol, order nothing.
func TestACMEAliasFromRevision(t *testing.T) {
	plainAddr, tlsAddr := freeAddr(t), freeAddr(t)
	pebble := acmetest.StartPebble(t, port(t, plainAddr), port(t, tlsAddr), 90*24*time.Hour)
	roots := pebble.Root(t)
	def := certstest.NewCA(t).Issue(t, []string{"default.test"}, certstest.Options{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "object "+r.URL.Path) })
	cfg := `edge:
  listen: "` + plainAddr + `"
  listen_tls: "` + tlsAddr + `"
  node_id: e2e-1
  tls:
    http3: false
    default_certificate: {cert_file: "` + def.CertFile + `", key_file: "` + def.KeyFile + `"}
    acme: {directory_url: "` + pebble.DirectoryURL + `", ca_roots: "` + pebble.RootsFile + `", agree_tos: true}
admin:
  listen: "%ADMIN%"
distributions:
  - id: site
    aliases: [a.tern.test]
    certificate: {acme: true}
    origins: [{id: web, domain_name: 127.0.0.1, http_port: ` + o.port() + `}]
    default_cache_behavior: {target_origin_id: web}
`
	dataDir := filepath.Join(t.TempDir(), "data")
	startTern(t, cfg, "--data-dir", dataDir)
	waitACMECert(t, tlsAddr, "a.tern.test", roots, nil, 60*time.Second)

	doc := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(doc, []byte(`id: site
aliases: [a.tern.test, c.tern.test]
certificate: {acme: true}
origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
default_cache_behavior: {target_origin_id: web}
`), 0o644)
	if out, err := exec.Command(ternBin, "apply", "-f", doc, "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitACMECert(t, tlsAddr, "c.tern.test", roots, nil, 60*time.Second)
	if body := httpsGet(t, tlsAddr, "c.tern.test", roots, "/x"); body != "object /x" {
		t.Errorf("https://c.tern.test/x: %q", body)
	}
	orders := pebble.Orders()
	for i := range 10 {
		for _, protos := range [][]string{nil, {"acme-tls/1"}} {
			c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: fmt.Sprintf("n%d.attacker.test", i), NextProtos: protos, InsecureSkipVerify: true})
			if err == nil {
				c.Close()
			}
		}
	}
	time.Sleep(time.Second)
	if got := pebble.Orders(); got != orders {
		t.Errorf("%d orders after handshakes for unknown names", got-orders)
	}
}
