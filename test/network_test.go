package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// network is a Tern network on loopback, every node its own process: a
// control plane with NATS embedded, and edges following it.
type network struct {
	t       *testing.T
	ctl     *node
	ctlDir  string
	natsURL string
	edges   []*node
}

// startNetwork starts `tern control` with file (the policies and the
// distributions it seeds) and embedded NATS.
func startNetwork(t *testing.T, file string) *network {
	t.Helper()
	nw := &network{t: t, ctlDir: filepath.Join(t.TempDir(), "control")}
	nats := freeAddr(t)
	nw.natsURL = "nats://" + nats
	nw.ctl = &node{t: t, Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	path := filepath.Join(nw.ctl.Dir, "control.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	nw.ctl.start("control", "--config", path, "--data-dir", nw.ctlDir, "--listen", nw.ctl.Admin, "--nats-listen", nats)
	return nw
}

// edgeFile is an edge's own configuration: its listeners and a disk tier,
// so that what it cached survives a kill.
const edgeFile = `edge:
  listen: "%EDGE%"
  access_log: "%DIR%/access.log"
  cache:
    memory: 64MiB
    disk: {path: "%DIR%/disk", size: 256MiB}
admin:
  listen: "%ADMIN%"
`

// startEdge starts `tern edge` in pop as node id.
func (nw *network) startEdge(pop, id string) *node {
	return nw.startNode(pop, id, edgeFile)
}

// startShield starts `tern edge` with edge.role shield.
func (nw *network) startShield(pop, id string) *node {
	return nw.startNode(pop, id, strings.Replace(edgeFile, "edge:\n", "edge:\n  role: shield\n", 1))
}

func (nw *network) startNode(pop, id, edgeFile string) *node {
	t := nw.t
	t.Helper()
	n := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	file := strings.NewReplacer("%EDGE%", n.Edge, "%ADMIN%", n.Admin, "%DIR%", n.Dir).Replace(edgeFile)
	path := filepath.Join(n.Dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start("edge", "--config", path, "--nats", nw.natsURL, "--nats-token-file", filepath.Join(nw.ctlDir, "nats-token"),
		"--pop", pop, "--node-id", id, "--data-dir", filepath.Join(n.Dir, "state"), "--connect-timeout", "2s")
	nw.edges = append(nw.edges, n)
	return n
}

// cli runs a tern API command against the control plane.
func (nw *network) cli(args ...string) (string, error) {
	out, err := exec.Command(ternBin, append(args, "--data-dir", nw.ctlDir)...).CombinedOutput()
	return string(out), err
}

// alive is how many edges the control plane counts alive.
func (nw *network) alive() int {
	out, err := nw.cli("edges")
	if err != nil {
		return -1
	}
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[4] == "true" {
			n++
		}
	}
	return n
}

// edgeList is the control API's list of edges.
func (nw *network) edgeList() []struct {
	NodeID  string `json:"node_id"`
	Metrics struct{ Requests uint64 }
} {
	token, err := os.ReadFile(filepath.Join(nw.ctlDir, "admin-token"))
	if err != nil {
		return nil
	}
	req, _ := http.NewRequest("GET", "http://"+nw.ctl.Admin+"/api/v1/edges", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var doc struct {
		Edges []struct {
			NodeID  string `json:"node_id"`
			Metrics struct{ Requests uint64 }
		}
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	return doc.Edges
}

// invalidate issues an invalidation and waits until it is Completed.
func (nw *network) invalidate(dist string, paths ...string) {
	nw.t.Helper()
	out, err := nw.cli(append([]string{"invalidate", dist, "--wait", "20s"}, paths...)...)
	if err != nil || !strings.Contains(out, "Completed after") {
		nw.t.Fatalf("invalidate %s %v: %v\n%s", dist, paths, err, out)
	}
	nw.t.Logf("invalidate %v: %s", paths, strings.TrimSpace(out))
}

// waitLong is waitFor with a longer limit, for what crosses processes
// that restart.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricWith adds up the samples of name whose labels include every one
// of labels (each `key="value"`).
func (n *node) metricWith(name string, labels ...string) float64 {
	resp, err := http.Get("http://" + n.Admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, name+"{")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, "} ")
		if i < 0 {
			continue
		}
		all := true
		for _, want := range labels {
			all = all && strings.Contains(rest[:i], want)
		}
		if v, err := strconv.ParseFloat(rest[i+2:], 64); all && err == nil {
			total += v
		}
	}
	return total
}

// statusOK reads /status without failing the test when the node is away.
func (n *node) statusOK() (map[string]any, bool) {
	resp, err := http.Get("http://" + n.Admin + "/status")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var st map[string]any
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil, false
	}
	return st, true
}

// TestNetworkOfEdges runs a control plane, a regional shield and three
// edges in two POPs as separate processes, in front of one origin: the
// configuration reaches every node, changes and invalidations too; with
// tiered caching the origin sees each object once; an edge killed during
// an invalidation applies it before it serves again; and the edges serve
// through an outage of the control plane (and its NATS), an edge
// restarted during it included, and converge when it is back.
func TestNetworkOfEdges(t *testing.T) {
	var version atomic.Int32
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	site := fmt.Sprintf(`distributions:
  - id: site
    aliases: ["*"]
    origins:
      - {id: o, domain_name: 127.0.0.1, http_port: %s, origin_shield: {enabled: true, region: shield-eu}}
    default_cache_behavior: {target_origin_id: o}
`, o.port())
	nw := startNetwork(t, site)
	shield := nw.startShield("shield-eu", "shield-1")
	eu1, eu2, us1 := nw.startEdge("eu", "eu-1"), nw.startEdge("eu", "eu-2"), nw.startEdge("us", "us-1")
	viewerEdges := []*node{eu1, eu2, us1}

	// The configuration is applied everywhere, at one revision.
	var rev float64
	waitLong(t, "the seeded configuration on every edge", func() bool {
		rev = eu1.configRevision()
		for _, e := range nw.edges {
			if e.configRevision() != rev || !slices.Contains(e.distributionIDs(), "site") {
				return false
			}
		}
		return rev > 0
	})
	waitLong(t, "four nodes alive", func() bool { return nw.alive() == 4 })
	// Each node hears the others' heartbeats as the control plane does;
	// one more heartbeat interval and every node knows every other.
	time.Sleep(1100 * time.Millisecond)
	body := func(e *node, p string) string {
		t.Helper()
		resp, b := e.get(p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", e.Edge, p, resp.StatusCode, b)
		}
		return b
	}

	// Tiered caching: every edge of both POPs asks for the same objects;
	// the edges of a POP fetch each through its owner, every POP through
	// the shield: the origin sees each object once.
	for i := range 6 {
		p := fmt.Sprintf("/tiered/%d", i)
		for _, e := range viewerEdges {
			if b := body(e, p); b != p+" v0" {
				t.Fatalf("%s from %s: %q", p, e.Edge, b)
			}
		}
		if n := o.count(p); n != 1 {
			t.Errorf("%s: the origin was asked %d times by three edges in two POPs behind one shield, want 1", p, n)
		}
	}
	if n := shield.metricWith("tern_upstream_fetches_total", `upstream="origin"`); n < 6 {
		t.Errorf("the shield fetched %v objects from the origin, want the 6", n)
	}
	for _, e := range viewerEdges {
		for range 2 { // twice: past the disk tier's admission doorkeeper
			if b := body(e, "/a.txt"); b != "/a.txt v0" {
				t.Fatalf("edge %s: %q", e.Edge, b)
			}
		}
	}

	// Heartbeats carry each edge's totals to the control plane.
	waitLong(t, "every edge's requests counted by the control plane", func() bool {
		list := nw.edgeList()
		for _, e := range list {
			if e.Metrics.Requests < 2 && e.NodeID != "shield-1" {
				return false
			}
		}
		return len(list) == 4
	})

	// A change through the API reaches every edge.
	doc := filepath.Join(t.TempDir(), "api.yaml")
	os.WriteFile(doc, fmt.Appendf(nil, `id: api
aliases: [api.example.com]
origins: [{id: o, domain_name: 127.0.0.1, http_port: %s}]
default_cache_behavior: {target_origin_id: o}
`, o.port()), 0o644)
	if out, err := nw.cli("apply", "-f", doc); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitLong(t, "distribution api on every edge", func() bool {
		for _, e := range nw.edges {
			if !slices.Contains(e.distributionIDs(), "api") {
				return false
			}
		}
		return true
	})

	// An invalidation is Completed once every edge applied it, and every
	// edge serves the new content.
	version.Store(1)
	nw.invalidate("site", "/a.txt")
	for _, e := range nw.edges {
		if b := body(e, "/a.txt"); b != "/a.txt v1" {
			t.Errorf("after the invalidation, edge %s serves %q", e.Edge, b)
		}
		body(e, "/a.txt") // and keeps it on disk
	}
	waitFor(t, func() bool { return us1.diskObjects() >= 1 })

	// us-1 is killed; an invalidation issued while it is down completes
	// (a gone edge is not waited for) and us-1, restarted, applies it
	// before it serves: its disk still holds v1.
	us1.cmd.Process.Signal(syscall.SIGKILL)
	us1.cmd.Wait()
	version.Store(2)
	nw.invalidate("site", "/a.txt")
	us1.start(us1.cmd.Args[1:]...)
	if b := body(us1, "/a.txt"); b != "/a.txt v2" {
		t.Errorf("the restarted edge served %q: it missed the invalidation issued while it was down", b)
	}
	// Before it served, not by luck of timing after.
	if !strings.Contains(us1.output.String(), "applied the invalidations issued while away") {
		t.Errorf("the restarted edge did not catch up before serving:\n%s", us1.output.String())
	}
	for _, e := range []*node{eu1, eu2} {
		if b := body(e, "/a.txt"); b != "/a.txt v2" {
			t.Errorf("edge %s serves %q", e.Edge, b)
		}
	}

	// The control plane and its NATS go away: edges serve what they hold
	// and fetch what they do not.
	nw.ctl.cmd.Process.Signal(syscall.SIGKILL)
	nw.ctl.cmd.Wait()
	for _, e := range nw.edges {
		if b := body(e, "/a.txt"); b != "/a.txt v2" {
			t.Errorf("during the outage, edge %s serves %q", e.Edge, b)
		}
		if b := body(e, "/during-outage.txt"); b != "/during-outage.txt v2" {
			t.Errorf("during the outage, edge %s fetched %q", e.Edge, b)
		}
	}
	// An edge restarted during the outage serves with its last good
	// configuration, both distributions.
	eu2.cmd.Process.Signal(syscall.SIGKILL)
	eu2.cmd.Wait()
	eu2.start(eu2.cmd.Args[1:]...)
	if ids := eu2.distributionIDs(); !slices.Contains(ids, "site") || !slices.Contains(ids, "api") {
		t.Fatalf("restarted during the outage, eu-2 serves %v", ids)
	}
	if b := body(eu2, "/a.txt"); b != "/a.txt v2" {
		t.Errorf("restarted during the outage, eu-2 serves %q", b)
	}
	if st, _ := eu2.statusOK(); st != nil {
		if cp, _ := st["control_plane"].(map[string]any); cp["linked"] != false {
			t.Errorf("eu-2 says it follows the control plane during the outage: %v", cp)
		}
	}

	// The control plane comes back with what it had: the invalidations and
	// their statuses; and the edges converge: a change and an invalidation
	// reach all of them, eu-2 included, which started without it.
	nw.ctl.start(nw.ctl.cmd.Args[1:]...)
	if out, err := nw.cli("invalidations", "site"); err != nil || strings.Count(out, "Completed") != 2 {
		t.Errorf("after a kill -9 and restart, the control plane lists:\n%s%v\nwant the two invalidations, Completed", out, err)
	}
	waitLong(t, "tern edges showing the shield's role and address", func() bool {
		out, err := nw.cli("edges")
		return err == nil && strings.Contains(out, "shield") && strings.Contains(out, shield.Edge)
	})
	if out, err := nw.cli("delete", "distribution", "api"); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	waitLong(t, "every edge follows the deletion made after the outage", func() bool {
		for _, e := range nw.edges {
			if slices.Contains(e.distributionIDs(), "api") {
				return false
			}
		}
		return true
	})
	waitLong(t, "four nodes alive after the outage", func() bool { return nw.alive() == 4 })
	version.Store(3)
	nw.invalidate("site", "/*")
	for _, e := range nw.edges {
		if b := body(e, "/a.txt"); b != "/a.txt v3" {
			t.Errorf("after the outage, edge %s serves %q", e.Edge, b)
		}
	}
}

// TestControlAPIOverTLS: with --tls-cert the control API is HTTPS only;
// the CLI given the data dir trusts its certificate (self-signed here),
// and a client that does not know it is refused by TLS, not answered.
func TestControlAPIOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, "127.0.0.1")
	ctlDir := filepath.Join(dir, "control")
	ctl := &node{t: t, Admin: freeAddr(t), Dir: dir, output: &lockedBuffer{}}
	ctl.cmd = exec.Command(ternBin, "control", "--data-dir", ctlDir, "--listen", ctl.Admin, "--nats-listen", freeAddr(t),
		"--tls-cert", certFile, "--tls-key", keyFile)
	ctl.cmd.Stdout, ctl.cmd.Stderr = ctl.output, ctl.output
	if err := ctl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.cmd.Process.Signal(os.Interrupt); ctl.cmd.Wait() })
	waitLong(t, "the CLI over HTTPS", func() bool {
		return exec.Command(ternBin, "get", "distributions", "--data-dir", ctlDir).Run() == nil
	})
	token, _ := os.ReadFile(filepath.Join(ctlDir, "admin-token"))
	out, err := exec.Command(ternBin, "get", "distributions", "--control", "https://"+ctl.Admin, "--token", strings.TrimSpace(string(token))).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") {
		t.Errorf("a client that does not trust the certificate: %v\n%s", err, out)
	}
	out, err = exec.Command(ternBin, "get", "distributions", "--control", "https://"+ctl.Admin, "--token", strings.TrimSpace(string(token)), "--ca-file", certFile).CombinedOutput()
	if err != nil {
		t.Errorf("with --ca-file: %v\n%s", err, out)
	}
	if resp, err := http.Get("http://" + ctl.Admin + "/api/v1/distributions"); err == nil {
		if resp.StatusCode/100 == 2 {
			t.Errorf("plain HTTP answered %d on a TLS control API", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// writeSelfSigned writes a self-signed ECDSA certificate for ip and its key.
func writeSelfSigned(t *testing.T, certFile, keyFile, ip string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tern test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// TestEdgeThroughLeafNode: an edge connected to a NATS leaf node in its
// POP (a plain nats-server with the control plane as its remote) follows
// the control plane as one connected directly does: configuration,
// heartbeats, invalidations.
func TestEdgeThroughLeafNode(t *testing.T) {
	var version atomic.Int32
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	nw := &network{t: t, ctlDir: filepath.Join(t.TempDir(), "control")}
	leafAddr := freeAddr(t)
	nw.ctl = &node{t: t, Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	path := filepath.Join(nw.ctl.Dir, "control.yaml")
	os.WriteFile(path, fmt.Appendf(nil, `distributions:
  - id: site
    aliases: ["*"]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: %s}]
    default_cache_behavior: {target_origin_id: o}
`, o.port()), 0o644)
	nw.ctl.start("control", "--config", path, "--data-dir", nw.ctlDir, "--listen", nw.ctl.Admin,
		"--nats-listen", freeAddr(t), "--nats-leaf-listen", leafAddr)

	// The POP's leaf node: the control plane's token as the leaf password.
	token, err := os.ReadFile(filepath.Join(nw.ctlDir, "nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	remote, _ := url.Parse("nats-leaf://leaf:" + strings.TrimSpace(string(token)) + "@" + leafAddr)
	leaf, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	if err != nil {
		t.Fatal(err)
	}
	leaf.Start()
	t.Cleanup(leaf.Shutdown)
	if !leaf.ReadyForConnections(5 * time.Second) {
		t.Fatal("leaf node not ready")
	}
	nw.natsURL = leaf.ClientURL()

	e := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	file := strings.NewReplacer("%EDGE%", e.Edge, "%ADMIN%", e.Admin, "%DIR%", e.Dir).Replace(edgeFile)
	os.WriteFile(filepath.Join(e.Dir, "edge.yaml"), []byte(file), 0o644)
	e.start("edge", "--config", filepath.Join(e.Dir, "edge.yaml"), "--nats", nw.natsURL, "--nats-domain", "tern",
		"--pop", "far", "--node-id", "far-1", "--data-dir", filepath.Join(e.Dir, "state"), "--connect-timeout", "10s")
	nw.edges = append(nw.edges, e)

	waitLong(t, "the configuration through the leaf node", func() bool { return slices.Contains(e.distributionIDs(), "site") })
	if st, _ := e.statusOK(); st != nil {
		if cp, _ := st["control_plane"].(map[string]any); cp["linked"] != true {
			t.Fatalf("the edge does not follow the control plane: %v", cp)
		}
	}
	waitLong(t, "the edge alive through the leaf node", func() bool { return nw.alive() == 1 })
	if _, b := e.get("/x"); b != "/x v0" {
		t.Fatalf("GET /x: %q", b)
	}
	version.Store(1)
	nw.invalidate("site", "/x")
	if _, b := e.get("/x"); b != "/x v1" {
		t.Errorf("after the invalidation through the leaf node: %q", b)
	}
}

// TestControlOnExternalNATS: `tern control --nats URL` keeps its state in
// an external NATS server (here a plain JetStream server in the test
// process), and an edge connected to the same server follows it.
func TestControlOnExternalNATS(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "ok "+r.URL.Path)
	})
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), Authorization: "ext-token"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external NATS not ready")
	}
	nw := &network{t: t, ctlDir: filepath.Join(t.TempDir(), "control"), natsURL: ns.ClientURL()}
	nw.ctl = &node{t: t, Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	path := filepath.Join(nw.ctl.Dir, "control.yaml")
	os.WriteFile(path, fmt.Appendf(nil, `distributions:
  - id: site
    aliases: ["*"]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: %s}]
    default_cache_behavior: {target_origin_id: o}
`, o.port()), 0o644)
	nw.ctl.start("control", "--config", path, "--data-dir", nw.ctlDir, "--listen", nw.ctl.Admin,
		"--nats", nw.natsURL, "--nats-token", "ext-token")
	if _, err := os.Stat(filepath.Join(nw.ctlDir, "nats")); err == nil {
		t.Error("with --nats the control plane started an embedded NATS store too")
	}

	e := &node{t: t, Edge: freeAddr(t), Admin: freeAddr(t), Dir: t.TempDir(), output: &lockedBuffer{}}
	file := strings.NewReplacer("%EDGE%", e.Edge, "%ADMIN%", e.Admin, "%DIR%", e.Dir).Replace(edgeFile)
	os.WriteFile(filepath.Join(e.Dir, "edge.yaml"), []byte(file), 0o644)
	e.start("edge", "--config", filepath.Join(e.Dir, "edge.yaml"), "--nats", nw.natsURL, "--nats-token", "ext-token",
		"--pop", "p", "--node-id", "p-1", "--data-dir", filepath.Join(e.Dir, "state"))
	nw.edges = append(nw.edges, e)
	waitLong(t, "the configuration over the external NATS", func() bool { return slices.Contains(e.distributionIDs(), "site") })
	if _, b := e.get("/x"); b != "ok /x" {
		t.Fatalf("GET /x: %q", b)
	}
	waitLong(t, "the edge alive", func() bool { return nw.alive() == 1 })
	nw.invalidate("site", "/x")
}
