package control

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/terncdn/tern/bus"
)

// TestCallerReferenceIsIdempotent: as in CloudFront, a request repeating a
// caller reference with the same paths and tags (in any order) gets the
// invalidation that reference issued, and nothing is published again;
// with other paths, tags or mode it is refused with
// InvalidationBatchAlreadyExists (409). Concurrent repeats issue one.
func TestCallerReferenceIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, store, iv := newTracker(t, ctx)
	published := func() uint64 {
		st, err := conn.JetStream().Stream(ctx, bus.InvalidationsStream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.Msgs
	}

	first, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a", "/b"}, Tags: []string{"t1"}, CallerReference: "deploy-42"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/b", "/a"}, Tags: []string{"t1"}, CallerReference: "deploy-42"})
	if err != nil || again.ID != first.ID {
		t.Fatalf("the same request again: %s, %v; want invalidation %s", again.ID, err, first.ID)
	}
	if n := published(); n != 1 {
		t.Errorf("%d invalidations published, want 1", n)
	}
	for _, req := range []InvalidationRequest{
		{Paths: []string{"/a"}, Tags: []string{"t1"}, CallerReference: "deploy-42"},
		{Paths: []string{"/a", "/b"}, CallerReference: "deploy-42"},
		{Paths: []string{"/a", "/b"}, Tags: []string{"t1"}, Mode: bus.PurgeSoft, CallerReference: "deploy-42"},
	} {
		if _, err := iv.Create(ctx, "site", req); !errors.Is(err, ErrBatchAlreadyExists) {
			t.Errorf("%+v: %v, want InvalidationBatchAlreadyExists", req, err)
		}
	}
	// The API says 409, naming the reference.
	h, err := API(store, "tok", WithInvalidations(iv))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/distributions/site/invalidations", strings.NewReader(`{"paths":["/c"],"caller_reference":"deploy-42"}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "deploy-42") {
		t.Errorf("API with a reused reference: %d %s", rec.Code, rec.Body.String())
	}

	// Eight at once with a new reference: one invalidation.
	before := published()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/x"}, CallerReference: "deploy-43"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = inv.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent repeats got invalidations %v", ids)
		}
	}
	if n := published() - before; n != 1 {
		t.Errorf("concurrent repeats published %d invalidations, want 1", n)
	}
	// The reference records are not listed as invalidations.
	list, err := iv.List(ctx, "site")
	if err != nil || len(list) != 2 {
		t.Errorf("List: %d invalidations, %v; want 2", len(list), err)
	}
}
