package edge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/tier"
)

// versionedOrigin serves every path as "<version> <path>", with an ETag
// of the version, tag "t" and a long max-age, answering If-None-Match.
type versionedOrigin struct{ version atomic.Int32 }

func (o *versionedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := o.version.Load()
	etag := fmt.Sprintf(`"v%d"`, v)
	w.Header().Set("Cache-Control", "public, max-age=600")
	w.Header().Set("Surrogate-Key", "t")
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fmt.Fprintf(w, "v%d %s", v, r.URL.Path)
}

// TestPurgeReachesCopiesRefetchedThroughAnUnpurgedPeer: an invalidation
// reaches every node of a POP at about the same time, but not at the same
// instant. A viewer request that reaches an edge after the edge applied
// the purge but before the object's owner did must not be filled from the
// owner's old copy: the edge's fetch is fenced at the invalidation, and
// the owner applies it before it answers. If the owner cannot catch up in
// time, the edge goes to the origin.
func TestPurgeReachesCopiesRefetchedThroughAnUnpurgedPeer(t *testing.T) {
	for _, kind := range []string{"hard", "soft", "tag", "soft-tag"} {
		t.Run(kind, func(t *testing.T) {
			o := &versionedOrigin{}
			o.version.Store(1)
			origin := httptest.NewServer(o)
			defer origin.Close()
			members := tier.NewStatic()
			a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
			b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
			members.Set(a.member(), b.member())

			path := pathThrough(t, a, b)
			const seq = 7 // the invalidation's place in the stream
			a.srv.InvalidationsApplied(seq - 1)
			b.srv.InvalidationsApplied(seq - 1)
			purge := func(n *tierNode) {
				// As the follower does: fence, purge, then applied.
				tag := ""
				if kind == "tag" || kind == "soft-tag" {
					tag = "t"
				}
				n.srv.NoteAppliedPurge("d", path, tag, seq)
				defer n.srv.InvalidationsApplied(seq)
				var err error
				switch kind {
				case "hard":
					_, err = n.srv.PurgePath("d", path, false)
				case "soft":
					_, err = n.srv.PurgePath("d", path, true)
				case "tag":
					_, err = n.srv.PurgeTag("d", "t", false)
				case "soft-tag":
					_, err = n.srv.PurgeTag("d", "t", true)
				}
				if err != nil {
					t.Fatal(err)
				}
			}

			o.version.Store(2) // the origin changes; the operator purges
			purge(a)           // fra-1 applies the invalidation first,
			// and is asked for the object before fra-2 applies it, a
			// moment later.
			later := time.AfterFunc(300*time.Millisecond, func() { purge(b) })
			defer later.Stop()
			want := "v2 " + path
			if _, body := fetchVia(t, a.url(path)); string(body) != want {
				t.Errorf("fra-1 between the two purges: %q, want %q", body, want)
			}
			for _, n := range []*tierNode{b, a} {
				resp, body := fetchVia(t, n.url(path))
				if string(body) != want {
					t.Errorf("%s after the purge Completed: %q (%s), want %q", n.id, body, resp.Header.Get(HeaderCache), want)
				}
			}
		})
	}
}

// TestFencedPeerThatDoesNotCatchUp: a fenced fetch to a node that has not
// applied the invalidation within fenceWait is refused by that node, and
// the asking node fetches from the origin: the viewer gets the new
// content, a little later.
func TestFencedPeerThatDoesNotCatchUp(t *testing.T) {
	o := &versionedOrigin{}
	o.version.Store(1)
	origin := httptest.NewServer(o)
	defer origin.Close()
	members := tier.NewStatic()
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
	members.Set(a.member(), b.member())
	path := pathThrough(t, a, b)
	o.version.Store(2)
	a.srv.NoteAppliedPurge("d", path, "", 9)
	if _, err := a.srv.PurgePath("d", path, false); err != nil {
		t.Fatal(err)
	}
	a.srv.InvalidationsApplied(9)
	start := time.Now()
	resp, body := fetchVia(t, a.url(path))
	if want := "v2 " + path; string(body) != want {
		t.Errorf("fra-1 with fra-2 behind: %q (%s), want %q", body, resp.Header.Get(HeaderCache), want)
	}
	if took := time.Since(start); took < fenceWait {
		t.Errorf("answered after %v: fra-2 did not hold the fenced request", took)
	}
	// fra-2 still holds v1, untouched: a viewer there gets it until its
	// own invalidation arrives; fra-1 no longer fences once its window
	// is over, which this test does not wait for.
	if _, body := fetchVia(t, b.url(path)); string(body) != "v1 "+path {
		t.Errorf("fra-2: %q", body)
	}
}

// pathThrough returns a path that a fetches (and so caches) through b, its
// owner.
func pathThrough(t *testing.T, a, b *tierNode) string {
	t.Helper()
	for i := range 200 {
		p := fmt.Sprintf("/obj/%d", i)
		before := b.tierRequests.Load()
		fetchVia(t, a.url(p))
		if b.tierRequests.Load() > before {
			return p
		}
	}
	t.Fatalf("%s fetched nothing through %s", a.id, b.id)
	return ""
}
