package test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
