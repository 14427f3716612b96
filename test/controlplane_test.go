package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// status reads the admin /status document.
func (n *node) status() map[string]any {
	n.t.Helper()
	resp, err := http.Get("http://" + n.Admin + "/status")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		n.t.Fatal(err)
	}
	return st
}

// configRevision is the control-plane revision the node has in service.
func (n *node) configRevision() float64 {
	c, _ := n.status()["config"].(map[string]any)
	r, _ := c["revision"].(float64)
	return r
}

// TestServeDataDirKeepsDistributions: with --data-dir, the configuration
// file's distributions are carried into the control plane on first start
// and served from it; the data dir holds the NATS store, a private admin
// token and the last good configuration; a kill -9 and restart keeps
// serving at the same revision.
func TestServeDataDirKeepsDistributions(t *testing.T) {
	o := objectOrigin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	if resp, body := n.get("/obj/1000/a"); resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("GET through the seeded distribution: %d", resp.StatusCode)
	}
	fi, err := os.Stat(filepath.Join(dataDir, "admin-token"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Fatalf("admin token: %v %v", err, fi)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "control-url")); err != nil || strings.TrimSpace(string(b)) != "http://"+n.Admin {
		t.Errorf("control-url %q, %v; want http://%s", b, err, n.Admin)
	}
	token, _ := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	rev := n.configRevision()

	// The node's heartbeats reach the control plane: tern edges lists it,
	// alive, at the revision in service.
	var edges string
	waitFor(t, func() bool {
		out, err := exec.Command(ternBin, "edges", "--data-dir", dataDir).CombinedOutput()
		edges = string(out)
		return err == nil && strings.Contains(edges, "e2e-1") && strings.Contains(edges, "test-pop") &&
			strings.Contains(edges, "true") && strings.Contains(edges, fmt.Sprintf(" %d ", int(rev)))
	})
	t.Logf("tern edges:\n%s", edges)
	// Its heartbeats advertise its role and, as edge.listen names a host,
	// the edge listener for tier-to-tier requests.
	waitFor(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+n.Admin+"/api/v1/edges", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var list struct {
			Edges []struct {
				Role        string `json:"role"`
				TierAddress string `json:"tier_address"`
			} `json:"edges"`
		}
		return json.NewDecoder(resp.Body).Decode(&list) == nil && len(list.Edges) == 1 &&
			list.Edges[0].Role == "edge" && list.Edges[0].TierAddress == n.Edge
	})

	n.restart(syscall.SIGKILL)
	waitFor(t, func() bool { return n.configRevision() == rev })
	if resp, _ := n.get("/obj/1000/a"); resp.StatusCode != 200 {
		t.Fatalf("after kill -9: %d", resp.StatusCode)
	}
	if again, _ := os.ReadFile(filepath.Join(dataDir, "admin-token")); string(again) != string(token) {
		t.Error("the admin token changed across a restart")
	}
	if ids, _ := n.status()["distributions"].([]any); len(ids) != 1 || ids[0] != "site" {
		t.Errorf("distributions in service: %v", ids)
	}
}

// TestApplyThroughTheControlPlane: tern apply creates and updates a
// distribution through the control API; the edge serves it at once (its
// watcher applies each revision); a bad document is refused naming the
// field and changes nothing; tern get lists; tern delete removes; a kill
// -9 keeps what was applied; the API refuses a wrong token.
func TestApplyThroughTheControlPlane(t *testing.T) {
	o := objectOrigin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(ternBin, append(args, "--data-dir", dataDir)...).CombinedOutput()
		return string(out), err
	}
	write := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	media := func(ttl string) string {
		return fmt.Sprintf(`id: media
aliases: [media.example.com]
origins: [{id: web, domain_name: 127.0.0.1, http_port: %s}]
default_cache_behavior:
  target_origin_id: web
  cache_policy: {name: media-ttl, default_ttl: %s, min_ttl: 0s, max_ttl: 1h}
`, o.port(), ttl)
	}
	out, err := cli("apply", "-f", write("media.yaml", media("60s")))
	if err != nil || !strings.Contains(out, "distribution media created") {
		t.Fatalf("apply (create): %v\n%s", err, out)
	}
	rev := n.configRevision()
	waitFor(t, func() bool { return slices.Contains(n.distributionIDs(), "media") })
	if resp, body := n.get("/obj/2000/m", "Host", "media.example.com"); resp.StatusCode != 200 || len(body) != 2000 {
		t.Fatalf("through the applied distribution: %d", resp.StatusCode)
	}

	out, err = cli("apply", "-f", write("media.yaml", media("120s")))
	if err != nil || !strings.Contains(out, "distribution media updated") {
		t.Fatalf("apply (update): %v\n%s", err, out)
	}
	waitFor(t, func() bool { return n.configRevision() > rev })

	// A bad document: refused whole, naming the field; nothing changes.
	rev = n.configRevision()
	bad := strings.Replace(media("60s"), "http_port: "+o.port(), "http_port: 70000", 1)
	out, err = cli("apply", "-f", write("bad.yaml", bad))
	if err == nil || !strings.Contains(out, "origins[0].http_port") {
		t.Fatalf("a bad document was not refused by field: %v\n%s", err, out)
	}
	if n.configRevision() != rev {
		t.Errorf("a refused document changed the revision in service")
	}

	out, err = cli("get", "distributions")
	if err != nil || !strings.Contains(out, "media") || !strings.Contains(out, "site") {
		t.Fatalf("get distributions: %v\n%s", err, out)
	}
	out, err = cli("get", "distribution", "media")
	if err != nil || !strings.Contains(out, "default_ttl: 120s") {
		t.Fatalf("get distribution media: %v\n%s", err, out)
	}

	// Applied state survives a kill -9.
	rev = n.configRevision()
	n.restart(syscall.SIGKILL)
	waitFor(t, func() bool { return n.configRevision() == rev })
	if resp, _ := n.get("/obj/2000/m", "Host", "media.example.com"); resp.StatusCode != 200 {
		t.Fatalf("after kill -9: %d", resp.StatusCode)
	}

	out, err = cli("delete", "distribution", "media")
	if err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	waitFor(t, func() bool { return !slices.Contains(n.distributionIDs(), "media") })

	// The API wants the token.
	raw, err := exec.Command(ternBin, "get", "distributions", "--control", "http://"+n.Admin, "--token", "wrong").CombinedOutput()
	if out = string(raw); err == nil || !strings.Contains(out, "401") {
		t.Errorf("a wrong token was not refused: %v\n%s", err, out)
	}
}

// distributionIDs is what /status says is in service.
func (n *node) distributionIDs() []string {
	var ids []string
	list, _ := n.status()["distributions"].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			ids = append(ids, s)
		}
	}
	return ids
}

// keepPolicy is a named cache policy at the top of a configuration file.
const keepPolicy = "cache_policies:\n  - name: Keep\n    default_ttl: 60s\n"

// mediaNaming is a distribution document that names cache policy Keep.
func mediaNaming(o *origin) string {
	return fmt.Sprintf(`id: media
aliases: [media.example.com]
origins: [{id: web, domain_name: 127.0.0.1, http_port: %s}]
default_cache_behavior: {target_origin_id: web, cache_policy: Keep}
`, o.port())
}

// TestRestartKeepsTheLastGoodConfiguration: when, after a restart, the
// bucket's revision cannot be applied (here the file lost a policy a
// distribution names), the edge keeps the last good configuration, the
// one in DATA-DIR/edge-config.json, not the configuration file's own
// distributions, which the control plane deleted long ago.
func TestRestartKeepsTheLastGoodConfiguration(t *testing.T) {
	o := objectOrigin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, keepPolicy+basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	cli := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ternBin, append(args, "--data-dir", dataDir)...).CombinedOutput(); err != nil {
			t.Fatalf("tern %v: %v\n%s", args, err, out)
		}
	}
	doc := filepath.Join(t.TempDir(), "media.yaml")
	if err := os.WriteFile(doc, []byte(mediaNaming(o)), 0o644); err != nil {
		t.Fatal(err)
	}
	cli("apply", "-f", doc)
	cli("delete", "distribution", "site")
	waitFor(t, func() bool { return slices.Equal(n.distributionIDs(), []string{"media"}) })

	// Restart with a file that no longer has policy Keep.
	n.cmd.Process.Signal(syscall.SIGTERM)
	n.cmd.Wait()
	file := filepath.Join(n.Dir, "tern.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.TrimPrefix(string(text), keepPolicy)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start(n.cmd.Args[1:]...)
	waitFor(t, func() bool {
		c, _ := n.status()["config"].(map[string]any)
		return c["refused"] != nil
	})
	if ids := n.distributionIDs(); !slices.Equal(ids, []string{"media"}) {
		t.Errorf("after a restart whose revision was refused, in service: %v; want the last good [media] (site was deleted)", ids)
	}
}

// TestReloadWithDataDir: SIGHUP with --data-dir reloads the configuration
// file but for its distributions (tern serve --help): a cache policy
// added to the file can then be named by a distribution sent to the API.
func TestReloadWithDataDir(t *testing.T) {
	o := objectOrigin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	file := filepath.Join(n.Dir, "tern.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append([]byte(keepPolicy), text...), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd.Process.Signal(syscall.SIGHUP)
	doc := filepath.Join(t.TempDir(), "media.yaml")
	if err := os.WriteFile(doc, []byte(mediaNaming(o)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if out, err = exec.Command(ternBin, "apply", "-f", doc, "--data-dir", dataDir).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("after adding policy Keep to the file and SIGHUP, apply of a distribution naming it: %v\n%s", err, out)
}

// TestInvalidateThroughTheControlPlane: tern invalidate removes paths
// from the edge's cache through the invalidation stream, the invalidation
// is Completed once the (only, live) edge applied it, the next request
// fetches the new content, and tern invalidations lists it.
func TestInvalidateThroughTheControlPlane(t *testing.T) {
	var version atomic.Int32
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	for _, p := range []string{"/img/a.png", "/img/b.png", "/keep.css"} {
		n.get(p)
		if resp, body := n.get(p); resp.Header.Get("X-Cache") != "Hit from tern" || body != p+" v0" {
			t.Fatalf("%s not cached: %q %q", p, resp.Header.Get("X-Cache"), body)
		}
	}
	version.Store(1)
	// The edge's heartbeat makes it a live edge the invalidation waits for.
	waitFor(t, func() bool {
		out, err := exec.Command(ternBin, "edges", "--data-dir", dataDir).CombinedOutput()
		return err == nil && strings.Contains(string(out), "true")
	})
	// A control plane completes nothing in its first 3 s (it has not heard
	// every live edge yet): the first invalidation shows that wait, the
	// second the steady state.
	for _, p := range []string{"/nothing-cached", "/img/*"} {
		out, err := exec.Command(ternBin, "invalidate", "site", p, "--wait", "10s", "--data-dir", dataDir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Completed after") {
			t.Fatalf("invalidate %s: %v\n%s", p, err, out)
		}
		t.Logf("%s: %s", p, out)
	}
	for p, want := range map[string]string{"/img/a.png": " v1", "/img/b.png": " v1", "/keep.css": " v0"} {
		if _, body := n.get(p); body != p+want {
			t.Errorf("after invalidating /img/*: %s is %q, want %q", p, body, p+want)
		}
	}
	out, err := exec.Command(ternBin, "invalidations", "site", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Completed") || !strings.Contains(string(out), "/img/*") {
		t.Fatalf("invalidations: %v\n%s", err, out)
	}
	// A path CloudFront would refuse is refused, naming it.
	out, err = exec.Command(ternBin, "invalidate", "site", "img/x", "--data-dir", dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "img/x") {
		t.Errorf("a bad path: %v\n%s", err, out)
	}
}
