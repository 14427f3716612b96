package control

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/tier"
)

// TestMembersFollowHeartbeats: the membership an edge fetches through is
// fed by real heartbeats over embedded NATS; a node whose heartbeats stop
// drops out about GoneAfter later, and a node without a tier address is
// never a candidate.
func TestMembersFollowHeartbeats(t *testing.T) {
	srv, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := srv.Connect(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	edges, err := WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	var tm tier.Members = edges // what cmd/tern hands the edge

	send := func(hb Heartbeat) (stop func()) {
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			SendHeartbeats(hctx, conn.NATS(), 100*time.Millisecond, func() Heartbeat { return hb })
		}()
		return func() { cancel(); <-done }
	}
	stop1 := send(Heartbeat{NodeID: "fra-1", POP: "fra", Role: tier.RoleEdge, TierAddress: "10.0.0.1:8080"})
	defer stop1()
	stop2 := send(Heartbeat{NodeID: "fra-2", POP: "fra", Role: tier.RoleShield, TierAddress: "10.0.0.2:8080"})
	stop3 := send(Heartbeat{NodeID: "fra-3", POP: "fra"}) // advertises no tier address
	defer stop3()
	stop4 := send(Heartbeat{NodeID: "par-1", POP: "par", TierAddress: "10.0.1.1:8080"})
	defer stop4()

	names := func(pop string) []string {
		var out []string
		for _, m := range tm.Members(pop) {
			out = append(out, m.NodeID+"/"+m.Role+"@"+m.Addr)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"fra-1/edge@10.0.0.1:8080", "fra-2/shield@10.0.0.2:8080"}
	wantPar := []string{"par-1/edge@10.0.1.1:8080"}
	// Each sender's first heartbeat arrives in its own time.
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(names("fra"), want) || !slices.Equal(names("par"), wantPar) {
		if time.Now().After(deadline) {
			t.Fatalf("members of fra: %v, want %v; of par: %v, want %v", names("fra"), want, names("par"), wantPar)
		}
		time.Sleep(10 * time.Millisecond)
	}

	stop2()
	stopped := time.Now()
	for slices.Contains(names("fra"), want[1]) {
		if time.Since(stopped) > GoneAfter+time.Second {
			t.Fatalf("fra-2 still a member %v after its heartbeats stopped", time.Since(stopped))
		}
		time.Sleep(20 * time.Millisecond)
	}
	gone := time.Since(stopped)
	if gone < GoneAfter-500*time.Millisecond {
		t.Errorf("fra-2 dropped out %v after its last heartbeat, before GoneAfter (%v)", gone, GoneAfter)
	}
	if got := names("fra"); !slices.Equal(got, want[:1]) {
		t.Errorf("members of fra after fra-2 stopped: %v", got)
	}
	t.Logf("fra-2 dropped out %v after its heartbeats stopped", gone.Round(10*time.Millisecond))
}
