package invalidations

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/terncdn/tern/bus"
)

// TestEdgesWhoseIDsDifferInPunctuationFollowApart: node ids may hold "."
// and "_" (config.validID), so "edge.1" and "edge_1" are two edges; each
// must apply every invalidation, which needs a durable consumer of its own.
func TestEdgesWhoseIDsDifferInPunctuationFollowApart(t *testing.T) {
	ctx := context.Background()
	conn := startStream(t)
	for _, id := range []string{"I1", "I2"} {
		b, _ := json.Marshal(bus.Invalidation{ID: id, Distribution: "d", Paths: []string{"/" + id}})
		if _, err := conn.JetStream().Publish(ctx, bus.InvalidationSubject("d"), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, node := range []string{"edge.1", "edge_1", "edge-1"} {
		f, err := New(ctx, Options{Conn: conn, Node: node, POP: "p", Purge: func(string, Target) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := f.CatchUp(ctx); err != nil || n != 2 {
			t.Errorf("edge %q applied %d invalidations (%v), want both", node, n, err)
		}
	}
}
