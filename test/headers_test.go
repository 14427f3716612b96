package test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"testing"
)

// TestEarlyHintsRelayed: a 103 from the origin reaches the viewer before
// the final response, on a cache miss and on a pass-through.
func TestEarlyHintsRelayed(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "page")
	})
	n := startTern(t, basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
    cache_behaviors:
      - path_pattern: /dynamic/*
        target_origin_id: web
        cache_policy: Managed-CachingDisabled
`))
	for _, path := range []string{"/page", "/dynamic/page"} {
		var mu sync.Mutex
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			if code == http.StatusEarlyHints {
				hints = append(hints, h.Get("Link"))
			}
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+n.Edge+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		if len(hints) != 1 || hints[0] != "</style.css>; rel=preload; as=style" || string(b) != "page" {
			t.Errorf("%s: hints %q, body %q", path, hints, b)
		}
		if resp.Header.Get("Link") != "" {
			t.Errorf("%s: the hint's Link leaked into the final response", path)
		}
		mu.Unlock()
	}
}

// TestCDNControlsTakePrecedence: CDN-Cache-Control (RFC 9213) governs the
// CDN while Cache-Control goes on to browsers; Surrogate-Control is for the
// CDN only and never reaches the viewer.
func TestCDNControlsTakePrecedence(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cdn":
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=60")
		case "/surrogate":
			w.Header().Set("Cache-Control", "private")
			w.Header().Set("Surrogate-Control", "max-age=60")
		}
		io.WriteString(w, "x")
	})
	n := startTern(t, basicConfig(o, originControlled))
	for _, p := range []string{"/cdn", "/surrogate"} {
		n.get(p)
		resp, _ := n.get(p)
		if resp.Header.Get("X-Cache") != "Hit from tern" {
			t.Errorf("%s: X-Cache %q, want Hit: the CDN directive should win", p, resp.Header.Get("X-Cache"))
		}
		if resp.Header.Get("Surrogate-Control") != "" {
			t.Errorf("%s: Surrogate-Control reached the viewer", p)
		}
	}
	if resp, _ := n.get("/cdn"); resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("browsers must still get the origin's Cache-Control, got %q", resp.Header.Get("Cache-Control"))
	}
}

func TestViewerProtocolPolicy(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
	n := startTern(t, basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
    cache_behaviors:
      - path_pattern: /secure/*
        target_origin_id: web
        viewer_protocol_policy: redirect-to-https
      - path_pattern: /only/*
        target_origin_id: web
        viewer_protocol_policy: https-only
`))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + n.Edge + "/secure/a?b=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://"+n.Edge+"/secure/a?b=1" {
		t.Errorf("redirect-to-https: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := n.get("/only/a"); resp.StatusCode != 403 || resp.Header.Get("X-Tern-Error") != "https-only" {
		t.Errorf("https-only: %d %q", resp.StatusCode, resp.Header.Get("X-Tern-Error"))
	}
	if o.total.Load() != 0 {
		t.Error("a request refused by the viewer protocol policy reached the origin")
	}
}
