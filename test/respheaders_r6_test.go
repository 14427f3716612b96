package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyUpdateThroughTheControlPlane: a distribution's response
// headers policy changed with tern apply is in force at once, without a
// restart, on the objects already cached too (the policy is applied as
// responses go out, never stored); a bad policy is refused naming the
// field, and the one in force stays.
func TestPolicyUpdateThroughTheControlPlane(t *testing.T) {
	o := objectOrigin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startTern(t, basicConfig(o, defaultBehavior), "--data-dir", dataDir)
	waitFor(t, func() bool { return n.configRevision() >= 1 })
	apply := func(value, origin, remove string) (string, error) {
		doc := fmt.Sprintf(`id: media
aliases: [media.example.com]
origins: [{id: web, domain_name: 127.0.0.1, http_port: %s}]
default_cache_behavior:
  target_origin_id: web
  response_headers_policy:
    cors_config: {access_control_allow_origins: [%q], origin_override: true}
    custom_headers_config: [{header: X-Policy, value: %s, override: true}]
    remove_headers_config: [%s]
`, o.port(), origin, value, remove)
		p := filepath.Join(t.TempDir(), "media.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ternBin, "apply", "-f", p, "--data-dir", dataDir).CombinedOutput()
		return string(out), err
	}
	check := func(what, cache, policy, origin, acao string) {
		t.Helper()
		resp, _ := n.get("/obj/100/m", "Host", "media.example.com", "Origin", origin)
		h := resp.Header
		if h.Get("X-Cache") != cache || h.Get("X-Policy") != policy || h.Get("Access-Control-Allow-Origin") != acao || h.Get("Etag") != "" {
			t.Errorf("%s: X-Cache %q, X-Policy %q, Access-Control-Allow-Origin %q, ETag %q; want %q, %q, %q and none",
				what, h.Get("X-Cache"), h.Get("X-Policy"), h.Get("Access-Control-Allow-Origin"), h.Get("Etag"), cache, policy, acao)
		}
	}

	if out, err := apply("v1", "https://a.example", "ETag"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	rev := n.configRevision()
	waitFor(t, func() bool {
		resp, _ := n.get("/obj/100/m", "Host", "media.example.com")
		return resp.Header.Get("X-Policy") == "v1"
	})
	check("v1", "Hit from tern", "v1", "https://a.example", "https://a.example")

	if out, err := apply("v2", "https://b.example", "ETag"); err != nil {
		t.Fatalf("apply (update): %v\n%s", err, out)
	}
	waitFor(t, func() bool { return n.configRevision() > rev })
	check("v2, allowed origin", "Hit from tern", "v2", "https://b.example", "https://b.example")
	check("v2, origin no longer allowed", "Hit from tern", "v2", "https://a.example", "")

	rev = n.configRevision()
	out, err := apply("v3", "https://b.example", "Content-Length")
	if err == nil || !strings.Contains(out, "remove_headers_config[0]") {
		t.Fatalf("a policy removing Content-Length was not refused by field: %v\n%s", err, out)
	}
	if n.configRevision() != rev {
		t.Errorf("a refused policy changed the revision in service")
	}
	check("after the refused update", "Hit from tern", "v2", "https://b.example", "https://b.example")
}
