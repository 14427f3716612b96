package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/tier"
)

// TestTagsOfA304ThroughAPeer: an edge revalidates its stale copy through
// the object's owner, which answers 304 from a fresh copy of its own. The
// owner knows the object's current tags; the edge must learn them from
// that 304 as it would from the origin's, or a purge of a current tag
// misses the edge's copy.
func TestTagsOfA304ThroughAPeer(t *testing.T) {
	var tag atomic.Value
	tag.Store("old")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=1")
		w.Header().Set("Surrogate-Key", tag.Load().(string))
		w.Header().Set("ETag", `"same"`)
		if r.Header.Get("If-None-Match") == `"same"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	}))
	defer origin.Close()
	members := tier.NewStatic()
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
	members.Set(b.member()) // fra-1 does not advertise itself: fra-2 owns everything

	fetchVia(t, a.url("/x")) // both hold /x tagged "old"
	tag.Store("new")         // the origin now tags it "new"
	time.Sleep(1100 * time.Millisecond)
	// fra-2 revalidates first (a viewer of its own): the origin's 304
	// names "new", so fra-2's copy is tagged "new".
	if resp, _ := fetchVia(t, b.url("/x")); resp.Header.Get(HeaderCache) != "RefreshHit from tern" {
		t.Fatalf("fra-2: %s, want a RefreshHit", resp.Header.Get(HeaderCache))
	}
	// fra-1 revalidates through fra-2, which answers 304 from its copy.
	if resp, _ := fetchVia(t, a.url("/x")); resp.Header.Get(HeaderCache) != "RefreshHit from tern" {
		t.Fatalf("fra-1: %s, want a RefreshHit", resp.Header.Get(HeaderCache))
	}
	for _, n := range []*tierNode{a, b} {
		if _, err := n.srv.PurgeTag("d", "new", false); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*tierNode{b, a} {
		if resp, _ := fetchVia(t, n.url("/x")); resp.Header.Get(HeaderCache) != "Miss from tern" {
			t.Errorf("%s after purging tag \"new\": %s, want a miss", n.id, resp.Header.Get(HeaderCache))
		}
	}
}
