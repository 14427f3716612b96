package test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const headersPolicyYAML = `response_headers_policies:
  - name: app-cors
    comment: the app's CORS, HSTS and a team header; no X-Powered-By
    cors_config:
      access_control_allow_origins: ["https://app.example.com"]
      access_control_allow_headers: [Content-Type]
      access_control_allow_methods: [GET, POST, OPTIONS]
      access_control_max_age_sec: 300
      origin_override: true
    security_headers_config:
      strict_transport_security: {access_control_max_age_sec: 31536000, include_subdomains: true, override: true}
    custom_headers_config:
      - {header: X-Team, value: edge-team, override: true}
    remove_headers_config: [X-Powered-By]
    server_timing_headers_config: {enabled: true, sampling_rate: 100}
`

// TestResponseHeadersPolicies runs the real binary with a named policy and
// a managed one (by name) and checks what a browser would see: the
// policy's headers on misses, hits and errors, preflights answered at the
// edge without the origin, Server-Timing; and `tern validate` names a bad
// policy field.
func TestResponseHeadersPolicies(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("X-Powered-By", "Express")
		io.WriteString(w, "hello")
	})
	n := startTern(t, headersPolicyYAML+basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
      allowed_methods: [GET, HEAD, OPTIONS]
      response_headers_policy: app-cors
    cache_behaviors:
      - path_pattern: /static/*
        target_origin_id: web
        response_headers_policy: Managed-SecurityHeadersPolicy
`))

	cors := []string{"Origin", "https://app.example.com"}
	for i, want := range []string{"Miss from tern", "Hit from tern"} {
		resp, body := n.get("/page", cors...)
		h := resp.Header
		if body != "hello" || h.Get("X-Cache") != want {
			t.Fatalf("request %d: %q, X-Cache %q", i, body, h.Get("X-Cache"))
		}
		for k, v := range map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.com",
			"Vary":                        "Origin",
			"Strict-Transport-Security":   "max-age=31536000; includeSubDomains",
			"X-Team":                      "edge-team",
			"X-Powered-By":                "",
		} {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", want, k, got, v)
			}
		}
		st := h.Get("Server-Timing")
		metric := map[int]string{0: "cdn-cache-miss", 1: "cdn-cache-hit"}[i]
		if !strings.Contains(st, metric) || !strings.Contains(st, `cdn-pop;desc="test-pop"`) || !strings.Contains(st, "cdn-downstream-fbl;dur=") {
			t.Errorf("%s: Server-Timing %q", want, st)
		}
	}
	if resp, _ := n.get("/missing"); resp.StatusCode != 404 || resp.Header.Get("X-Team") != "edge-team" {
		t.Errorf("origin 404: status %d, X-Team %q", resp.StatusCode, resp.Header.Get("X-Team"))
	}

	before := o.total.Load()
	resp, _ := n.do("OPTIONS", "/api/items", map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	}, nil)
	if resp.StatusCode != 200 || o.total.Load() != before {
		t.Errorf("preflight: status %d, %d origin requests", resp.StatusCode, o.total.Load()-before)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example.com",
		"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type",
		"Access-Control-Max-Age":       "300",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("preflight: %s %q, want %q", k, got, v)
		}
	}

	resp, _ = n.get("/static/app.js")
	for k, v := range map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "SAMEORIGIN",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Strict-Transport-Security": "max-age=31536000",
		"X-Xss-Protection":          "1; mode=block",
		"X-Powered-By":              "Express", // the managed policy removes nothing
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("managed policy: %s %q, want %q", k, got, v)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	cfg := strings.Replace(headersPolicyYAML, "remove_headers_config: [X-Powered-By]", "remove_headers_config: [Content-Length]", 1) +
		basicConfig(o, "    default_cache_behavior: {target_origin_id: web, response_headers_policy: app-cors}\n")
	cfg = strings.NewReplacer("%EDGE%", "127.0.0.1:0", "%ADMIN%", "127.0.0.1:0", "%DIR%", t.TempDir()).Replace(cfg)
	if err := os.WriteFile(bad, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ternBin, "validate", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "response_headers_policies[0].remove_headers_config[0]: Content-Length may not be removed") {
		t.Errorf("tern validate of a bad policy: %v\n%s", err, out)
	}
}
