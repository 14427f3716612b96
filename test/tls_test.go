package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/terncdn/tern/certs/certstest"
	"golang.org/x/net/http2"
)

// tlsNode is a tern with an HTTPS listener: a default certificate for
// 127.0.0.1 and default.test, and a distribution "shop" (shop.test) with
// its own certificate and security policy TLSv1.1_2016.
type tlsNode struct {
	*node
	TLS        string // the HTTPS address
	ca         *certstest.CA
	def, shop  *certstest.Issued
	viewerMu   sync.Mutex
	viewerHdrs []http.Header // what the origin saw under /viewer/
}

func startTLSTern(t *testing.T) *tlsNode {
	t.Helper()
	return startTLSTernHTTP2(t, "{max_concurrent_streams: 100, max_header_list_size: 32KiB, max_read_frame_size: 64KiB}")
}

// startTLSTernHTTP2 is startTLSTern with edge.tls.http2 set to h2 (a
// YAML flow mapping).
func startTLSTernHTTP2(t *testing.T, h2 string) *tlsNode {
	t.Helper()
	ca := certstest.NewCA(t)
	tn := &tlsNode{ca: ca, TLS: freeAddr(t)}
	tn.def = ca.Issue(t, []string{"default.test", "127.0.0.1"}, certstest.Options{})
	tn.shop = ca.Issue(t, []string{"shop.test"}, certstest.Options{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/viewer/") {
			tn.viewerMu.Lock()
			tn.viewerHdrs = append(tn.viewerHdrs, r.Header.Clone())
			tn.viewerMu.Unlock()
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		w.Header().Set("Alt-Svc", `h2="origin.example:443"`) // the origin's, never the edge's
		io.WriteString(w, "object "+r.URL.Path)
	})
	cfg := basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
    cache_behaviors:
      - path_pattern: /secure/*
        target_origin_id: web
        viewer_protocol_policy: redirect-to-https
      - path_pattern: /only/*
        target_origin_id: web
        viewer_protocol_policy: https-only
      - path_pattern: /viewer/*
        target_origin_id: web
        cache_policy: Managed-CachingDisabled
        origin_request_policy:
          headers: {behavior: whitelist, names: [CloudFront-Forwarded-Proto, CloudFront-Viewer-Http-Version, CloudFront-Viewer-TLS]}
  - id: shop
    aliases: [shop.test]
    certificate: {cert_file: "`+tn.shop.CertFile+`", key_file: "`+tn.shop.KeyFile+`"}
    security_policy: TLSv1.1_2016
    origins: [{id: web, domain_name: 127.0.0.1, http_port: `+o.port()+`}]
    default_cache_behavior: {target_origin_id: web}
`)
	cfg = strings.Replace(cfg, "  node_id: e2e-1\n", `  node_id: e2e-1
  listen_tls: "`+tn.TLS+`"
  tls:
    default_certificate: {cert_file: "`+tn.def.CertFile+`", key_file: "`+tn.def.KeyFile+`"}
    session_ticket_key_file: "%DIR%/tickets"
    http2: `+h2+`
`, 1)
	tn.node = startTern(t, cfg)
	return tn
}

func (tn *tlsNode) tlsConfig(sni string) *tls.Config {
	return &tls.Config{RootCAs: tn.ca.Pool, ServerName: sni}
}

// h2Client speaks HTTP/2 (or HTTP/1.1, with h1) over TLS to the node.
func (tn *tlsNode) client(h1 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: tn.tlsConfig(""), ForceAttemptHTTP2: !h1}
	if h1 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	tn.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(b)
}

func TestHTTPS(t *testing.T) {
	tn := startTLSTern(t)
	_, tlsPort, _ := net.SplitHostPort(tn.TLS)
	base := "https://" + tn.TLS
	altSvc := `h3=":` + tlsPort + `"; ma=86400`

	t.Run("SNI", func(t *testing.T) {
		for sni, want := range map[string]*certstest.Issued{"shop.test": tn.shop, "default.test": tn.def, "": tn.def} {
			conf := tn.tlsConfig(sni)
			if sni == "" {
				conf.InsecureSkipVerify = true
			}
			c, err := tls.Dial("tcp", tn.TLS, conf)
			if err != nil {
				t.Fatalf("SNI %q: %v", sni, err)
			}
			got := c.ConnectionState().PeerCertificates[0]
			c.Close()
			if !got.Equal(want.Cert) {
				t.Errorf("SNI %q: got the certificate for %v", sni, got.DNSNames)
			}
		}
		// An unknown name gets the default certificate.
		c, err := tls.Dial("tcp", tn.TLS, &tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(tn.def.Cert) {
			t.Errorf("unknown SNI: got %v", got.DNSNames)
		}
	})

	t.Run("HTTP/2 and a cached hit", func(t *testing.T) {
		c := tn.client(false)
		resp, body := fetch(t, c, base+"/h2.txt")
		if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || body != "object /h2.txt" {
			t.Fatalf("first: %s %d %q", resp.Proto, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Alt-Svc"); got != altSvc {
			t.Errorf("Alt-Svc %q, want %q", got, altSvc)
		}
		resp, _ = fetch(t, c, base+"/h2.txt")
		if resp.Header.Get("X-Cache") != "Hit from tern" {
			t.Errorf("second: X-Cache %q", resp.Header.Get("X-Cache"))
		}
		// HTTP/1.1 over TLS too.
		resp, _ = fetch(t, tn.client(true), base+"/h2.txt")
		if resp.Proto != "HTTP/1.1" || resp.Header.Get("X-Cache") != "Hit from tern" || resp.Header.Get("Alt-Svc") != altSvc {
			t.Errorf("HTTP/1.1 over TLS: %s %q %q", resp.Proto, resp.Header.Get("X-Cache"), resp.Header.Get("Alt-Svc"))
		}
		// Plain HTTP advertises nothing (RFC 7838 §2.1: over a secure
		// connection; and the origin's own Alt-Svc is not the edge's).
		if resp, _ := tn.get("/h2.txt"); resp.Header.Get("Alt-Svc") == altSvc {
			t.Errorf("plain HTTP advertised HTTP/3")
		}
	})

	t.Run("HTTP/2 settings", func(t *testing.T) {
		conf := tn.tlsConfig("")
		conf.NextProtos = []string{"h2"}
		c, err := tls.Dial("tcp", tn.TLS, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, c)
		fr.WriteSettings()
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			t.Fatalf("first frame %v, want SETTINGS", f)
		}
		want := map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams: 100,
			http2.SettingMaxHeaderListSize:    32 << 10,
			http2.SettingMaxFrameSize:         64 << 10,
		}
		for id, v := range want {
			if got, ok := sf.Value(id); !ok || got < v || got > v+1024 {
				// net/http adds its own allowance for the head's framing
				// to max_header_list_size.
				t.Errorf("SETTINGS %v = %d (sent %v), want %d", id, got, ok, v)
			}
		}
	})

	t.Run("HTTP/3", func(t *testing.T) {
		tr := &http3.Transport{TLSClientConfig: tn.tlsConfig("")}
		defer tr.Close()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		fetch(t, c, base+"/h3.txt")
		resp, body := fetch(t, c, base+"/h3.txt")
		if resp.Proto != "HTTP/3.0" || body != "object /h3.txt" || resp.Header.Get("X-Cache") != "Hit from tern" {
			t.Fatalf("HTTP/3: %s %q X-Cache %q", resp.Proto, body, resp.Header.Get("X-Cache"))
		}
		if got := resp.Header.Get("Alt-Svc"); got != altSvc {
			t.Errorf("Alt-Svc over HTTP/3 %q", got)
		}
		// An object cached over HTTP/2 is a hit over HTTP/3.
		fetch(t, tn.client(false), base+"/both.txt")
		if resp, _ := fetch(t, c, base+"/both.txt"); resp.Header.Get("X-Cache") != "Hit from tern" {
			t.Errorf("cached over HTTP/2, then HTTP/3: X-Cache %q", resp.Header.Get("X-Cache"))
		}
		tn.fetchViewer(t, c, "/viewer/h3", "https", "3.0")
	})

	t.Run("viewer headers", func(t *testing.T) {
		tn.fetchViewer(t, tn.client(false), "/viewer/h2", "https", "2.0")
		tn.fetchViewer(t, tn.client(true), "/viewer/h1", "https", "1.1")
		resp, _ := tn.get("/viewer/plain")
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		h := tn.lastViewer()
		if h.Get("CloudFront-Forwarded-Proto") != "http" || h.Get("CloudFront-Viewer-TLS") != "" {
			t.Errorf("plain HTTP: proto %q TLS %q", h.Get("CloudFront-Forwarded-Proto"), h.Get("CloudFront-Viewer-TLS"))
		}
	})

	t.Run("viewer protocol policy", func(t *testing.T) {
		plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, _ := fetch(t, plain, "http://"+tn.Edge+"/secure/a?b=1&c=%20")
		want := "https://127.0.0.1:" + tlsPort + "/secure/a?b=1&c=%20"
		if resp.StatusCode != 301 || resp.Header.Get("Location") != want {
			t.Fatalf("redirect-to-https: %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		// The redirect leads somewhere that serves it.
		resp, body := fetch(t, tn.client(false), resp.Header.Get("Location"))
		if resp.StatusCode != 200 || body != "object /secure/a" {
			t.Errorf("following the redirect: %d %q", resp.StatusCode, body)
		}
		// A named host keeps its name, on the TLS port.
		req, _ := http.NewRequest("GET", "http://"+tn.Edge+"/secure/x", nil)
		req.Host = "www.example.com:" + strings.Split(tn.Edge, ":")[1]
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != "https://www.example.com:"+tlsPort+"/secure/x" {
			t.Errorf("redirect of a named host: %q", got)
		}
		if resp, _ := tn.get("/only/a"); resp.StatusCode != 403 {
			t.Errorf("https-only over HTTP: %d", resp.StatusCode)
		}
		if resp, _ := fetch(t, tn.client(false), base+"/only/a"); resp.StatusCode != 200 {
			t.Errorf("https-only over HTTPS: %d", resp.StatusCode)
		}
	})

	t.Run("security policy", func(t *testing.T) {
		tls11 := func(sni string) error {
			conf := tn.tlsConfig(sni)
			conf.MinVersion, conf.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			c, err := tls.Dial("tcp", tn.TLS, conf)
			if err == nil {
				c.Close()
			}
			return err
		}
		if err := tls11("default.test"); err == nil {
			t.Error("a TLS 1.1 client was accepted under TLSv1.2_2021")
		}
		if err := tls11("shop.test"); err != nil {
			t.Errorf("a TLS 1.1 client under shop's TLSv1.1_2016: %v", err)
		}
	})

	t.Run("access log and metrics", func(t *testing.T) {
		var log []byte
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			log, _ = os.ReadFile(tn.Dir + "/access.log")
			if bytes.Contains(log, []byte("HTTP/3.0")) && bytes.Contains(log, []byte("HTTP/2.0")) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, want := range []string{"\thttps\t", "HTTP/2.0", "HTTP/3.0", "TLSv1.3\tTLS_AES_128_GCM_SHA256"} {
			if !bytes.Contains(log, []byte(want)) {
				t.Errorf("access log lacks %q", want)
			}
		}
		for _, p := range []string{"HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} {
			if tn.metric(`tern_viewer_protocol_requests_total{node="e2e-1",pop="test-pop",protocol="`+p+`"}`) < 1 {
				t.Errorf("no %s requests counted", p)
			}
		}
	})

	t.Run("certificate reload", func(t *testing.T) {
		renewed := tn.ca.Issue(t, []string{"shop.test"}, certstest.Options{})
		os.WriteFile(tn.shop.KeyFile+".tmp", renewed.KeyPEM, 0o600)
		os.WriteFile(tn.shop.CertFile+".tmp", renewed.CertPEM, 0o644)
		os.Rename(tn.shop.KeyFile+".tmp", tn.shop.KeyFile)
		os.Rename(tn.shop.CertFile+".tmp", tn.shop.CertFile)
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := tls.Dial("tcp", tn.TLS, tn.tlsConfig("shop.test"))
			if err != nil {
				t.Fatal(err)
			}
			got := c.ConnectionState().PeerCertificates[0]
			c.Close()
			if got.Equal(renewed.Cert) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the renewed certificate is not served")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("session resumption across a restart", func(t *testing.T) {
		cache := tls.NewLRUClientSessionCache(8)
		dial := func() tls.ConnectionState {
			conf := tn.tlsConfig("default.test")
			conf.ClientSessionCache = cache
			c, err := tls.Dial("tcp", tn.TLS, conf)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A request, so that the TLS 1.3 ticket is read.
			io.WriteString(c, "GET /h2.txt HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n")
			io.ReadAll(c)
			return c.ConnectionState()
		}
		dial()
		tn.restart(os.Interrupt)
		if !dial().DidResume {
			t.Error("a session from before the restart was not resumed (session_ticket_key_file)")
		}
	})
}

// fetchViewer gets path through c and checks the CloudFront-* headers the
// origin saw.
func (tn *tlsNode) fetchViewer(t *testing.T, c *http.Client, path, proto, version string) {
	t.Helper()
	resp, _ := fetch(t, c, "https://"+tn.TLS+path)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	h := tn.lastViewer()
	if h.Get("CloudFront-Forwarded-Proto") != proto || h.Get("CloudFront-Viewer-Http-Version") != version ||
		!strings.HasPrefix(h.Get("CloudFront-Viewer-TLS"), "TLSv1.3:TLS_") {
		t.Errorf("%s: CloudFront-Forwarded-Proto %q, CloudFront-Viewer-Http-Version %q, CloudFront-Viewer-TLS %q; want %s, %s",
			path, h.Get("CloudFront-Forwarded-Proto"), h.Get("CloudFront-Viewer-Http-Version"), h.Get("CloudFront-Viewer-TLS"), proto, version)
	}
}

func (tn *tlsNode) lastViewer() http.Header {
	tn.viewerMu.Lock()
	defer tn.viewerMu.Unlock()
	if len(tn.viewerHdrs) == 0 {
		return http.Header{}
	}
	return tn.viewerHdrs[len(tn.viewerHdrs)-1]
}

// TestHTTPSBadCertificate: a certificate file that does not load stops
// tern at start, with the field named.
func TestHTTPSBadCertificate(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	ca := certstest.NewCA(t)
	good := ca.Issue(t, []string{"a.test"}, certstest.Options{})
	cfg := strings.NewReplacer("%EDGE%", freeAddr(t), "%ADMIN%", freeAddr(t), "%DIR%", t.TempDir()).Replace(basicConfig(o, "    default_cache_behavior: {target_origin_id: web}\n"))
	cfg = strings.Replace(cfg, "  node_id: e2e-1\n", `  node_id: e2e-1
  listen_tls: "`+freeAddr(t)+`"
  tls:
    default_certificate: {cert_file: "`+good.CertFile+`", key_file: "`+good.CertFile+`.missing"}
`, 1)
	path := t.TempDir() + "/tern.yaml"
	os.WriteFile(path, []byte(cfg), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ternBin, "serve", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "edge.tls.default_certificate.key_file") {
		t.Fatalf("tern serve with a missing key file: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, ternBin, "validate", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "edge.tls.default_certificate.key_file: open") {
		t.Fatalf("tern validate with a missing key file: %v\n%s", err, out)
	}
}

// TestHTTPSCertificateThroughControlPlane: a distribution applied through
// the control plane with a certificate of its own is served with it at
// once; one whose files this edge cannot load is not put in service.
func TestHTTPSCertificateThroughControlPlane(t *testing.T) {
	o := objectOrigin(t)
	ca := certstest.NewCA(t)
	def := ca.Issue(t, []string{"default.test"}, certstest.Options{})
	media := ca.Issue(t, []string{"media.example.com"}, certstest.Options{})
	tlsAddr := freeAddr(t)
	cfg := strings.Replace(basicConfig(o, defaultBehavior), "  node_id: e2e-1\n", `  node_id: e2e-1
  listen_tls: "`+tlsAddr+`"
  tls:
    default_certificate: {cert_file: "`+def.CertFile+`", key_file: "`+def.KeyFile+`"}
`, 1)
	dataDir := t.TempDir() + "/data"
	n := startTern(t, cfg, "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	apply := func(id, host, certFile string) {
		doc := `id: ` + id + `
aliases: [` + host + `]
certificate: {cert_file: "` + certFile + `", key_file: "` + media.KeyFile + `"}
origins: [{id: web, domain_name: 127.0.0.1, http_port: ` + o.port() + `}]
default_cache_behavior: {target_origin_id: web}
`
		p := t.TempDir() + "/d.yaml"
		os.WriteFile(p, []byte(doc), 0o644)
		if out, err := exec.Command(ternBin, "apply", "-f", p, "--data-dir", dataDir).CombinedOutput(); err != nil {
			t.Fatalf("apply %s: %v\n%s", id, err, out)
		}
	}
	served := func(sni string) []string {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: sni, RootCAs: ca.Pool, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames
	}
	apply("media", "media.example.com", media.CertFile)
	waitFor(t, func() bool { return strings.Join(served("media.example.com"), ",") == "media.example.com" })

	rev := n.configRevision()
	apply("broken", "broken.example.com", media.CertFile+".missing")
	time.Sleep(time.Second)
	if slices.Contains(n.distributionIDs(), "broken") {
		t.Error("a distribution whose certificate does not load went in service")
	}
	if n.configRevision() != rev {
		t.Errorf("revision in service %v, want %v kept", n.configRevision(), rev)
	}
	if got := served("media.example.com"); strings.Join(got, ",") != "media.example.com" {
		t.Errorf("after a refused revision: %v", got)
	}
}
