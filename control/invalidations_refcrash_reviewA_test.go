package control

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/terncdn/tern/bus"
)

// TestCallerReferenceAfterACrashMidCreate: the control plane claimed a
// caller reference and was killed before it published the invalidation or
// kept its record. The caller, who never had an answer, retries with the
// same reference, which is what a caller reference is for: the retry must
// issue the invalidation, not fail (for the 7 days the bucket keeps the
// claim) because the invalidation the claim names does not exist.
func TestCallerReferenceAfterACrashMidCreate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, _, iv := newTracker(t, ctx)
	// What the killed process left: the claim, nothing else.
	orphan, _ := json.Marshal("IORPHAN0000000")
	if _, err := iv.kv.Create(ctx, callerRefKey("site", "deploy-7"), orphan); err != nil {
		t.Fatal(err)
	}
	inv, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a"}, CallerReference: "deploy-7"})
	if err != nil {
		t.Fatalf("the caller's retry after the crash: %v", err)
	}
	st, err := conn.JetStream().Stream(ctx, bus.InvalidationsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 || inv.Sequence == 0 {
		t.Errorf("%d invalidations published (sequence %d), want the retry's", n, inv.Sequence)
	}
	again, err := iv.Create(ctx, "site", InvalidationRequest{Paths: []string{"/a"}, CallerReference: "deploy-7"})
	if err != nil || again.ID != inv.ID {
		t.Errorf("a second retry: %s, %v; want %s", again.ID, err, inv.ID)
	}
}
