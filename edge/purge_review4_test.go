package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/terncdn/tern/config"
)

// TestPurgeOfDisabledDistributionHoldsWhenReenabled: an invalidation the
// control plane accepts for a disabled distribution (it exists, so the API
// takes it, and the edge acknowledges it) must still remove what the edge
// stored for it: enabled again, the distribution serves fresh content, not
// the invalidated copy.
func TestPurgeOfDisabledDistributionHoldsWhenReenabled(t *testing.T) {
	var version atomic.Int32
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, r.URL.Path+" v"+string(rune('0'+version.Load())))
	}))
	defer o.Close()
	u, _ := url.Parse(o.URL)
	conf := func(enabled string) *config.Config {
		c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: site
    enabled: `+enabled+`
    aliases: [www.example.com]
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o}
`), "test")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := newTestServer(t, o.URL, "")
	if err := s.Apply(conf("true")); err != nil {
		t.Fatal(err)
	}
	version.Store(1)
	serve(s, "GET", "www.example.com", "/a.css")
	if rec := serve(s, "GET", "www.example.com", "/a.css"); rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Fatalf("not cached: %s", rec.Header().Get("X-Cache"))
	}

	if err := s.Apply(conf("false")); err != nil {
		t.Fatal(err)
	}
	version.Store(2)
	// The follower logs a purge error and acknowledges either way.
	_, _ = s.Purge("site", "/a.css")
	if err := s.Apply(conf("true")); err != nil {
		t.Fatal(err)
	}
	if rec := serve(s, "GET", "www.example.com", "/a.css"); rec.Body.String() != "/a.css v2" {
		t.Errorf("enabled again after /a.css was invalidated: %q (%s), want %q", rec.Body, rec.Header().Get("X-Cache"), "/a.css v2")
	}
}
