package invalidations

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/terncdn/tern/bus"
)

// TestPositionFromAnEarlierStreamIsNotTrusted: the position file says the
// edge applied up to sequence 3 of the stream it followed. The control
// plane then came back with a new stream (its store was lost), whose
// sequences start again at 1; while the edge was away, two invalidations
// were issued in it and aged out. The edge never applied them, and 3 in
// the new stream is not 3 in the old: it must empty its cache, not
// read its old position as "nothing missed".
func TestPositionFromAnEarlierStreamIsNotTrusted(t *testing.T) {
	ctx := context.Background()
	conn := startStream(t)
	publish := func(id string) {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: []string{"/" + id}})
		if _, err := conn.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	emptied := 0
	position := filepath.Join(t.TempDir(), "position")
	follower := func() *Follower {
		f, err := New(ctx, Options{Conn: conn, Node: "e1", POP: "p",
			Purge:        func(string, Target) error { return nil },
			PurgeAll:     func() { emptied++ },
			PositionFile: position})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, id := range []string{"I1", "I2", "I3"} {
		publish(id)
	}
	if n, err := follower().CatchUp(ctx); err != nil || n != 3 || emptied != 0 {
		t.Fatalf("first start: applied %d, emptied %d, %v", n, emptied, err)
	}
	// The store is lost: a new stream (and no consumer for e1).
	if err := conn.JetStream().DeleteStream(ctx, bus.InvalidationsStream); err != nil {
		t.Fatal(err)
	}
	if err := conn.EnsureInvalidations(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	publish("J1")
	publish("J2")
	st, err := conn.JetStream().Stream(ctx, bus.InvalidationsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil { // J1 and J2 age out
		t.Fatal(err)
	}
	publish("J3")
	if n, err := follower().CatchUp(ctx); err != nil || n != 1 || emptied != 1 {
		t.Fatalf("back after J1 and J2 of a new stream aged out: applied %d, emptied %d times, %v; want J3 applied and the cache emptied once", n, emptied, err)
	}
	if _, err := follower().CatchUp(ctx); err != nil || emptied != 1 {
		t.Fatalf("nothing missed since: emptied %d times, %v", emptied, err)
	}
}
