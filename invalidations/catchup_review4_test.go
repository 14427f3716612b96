package invalidations

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
)

// TestCatchUpAfterDyingMidInvalidation: an edge killed while it applies an
// invalidation (delivered, not acknowledged) must, on its restart, apply it
// before it serves: CatchUp has to return it, not return at once because
// the dead process's delivery still holds the consumer's one pending slot.
func TestCatchUpAfterDyingMidInvalidation(t *testing.T) {
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := s.Connect(ctx, "edge-before")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.EnsureInvalidations(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	applying := make(chan struct{})
	f, err := New(ctx, Options{Conn: first, Node: "e1", POP: "p", Purge: func(string, Target) error {
		close(applying)
		<-ctx.Done() // killed before it finishes
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	go f.Run(ctx)
	b, _ := json.Marshal(bus.Invalidation{ID: "I1", Distribution: "d", Paths: []string{"/a"}})
	if _, err := first.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applying:
	case <-time.After(5 * time.Second):
		t.Fatal("the invalidation never arrived")
	}
	first.Close() // the process dies

	again, err := s.Connect(ctx, "edge-after")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var purged []string
	f, err = New(ctx, Options{Conn: again, Node: "e1", POP: "p", Purge: func(d string, t Target) error {
		p := t.Path
		purged = append(purged, p)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := f.CatchUp(ctx)
	if err != nil || n != 1 || len(purged) != 1 {
		t.Errorf("catch-up after dying mid-invalidation: applied %d %q in %v (%v), want I1 before serving", n, purged, time.Since(start), err)
	}
}
