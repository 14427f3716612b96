package router_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/router"
)

// TestEdgesHealth follows real heartbeats over an embedded NATS server: a
// POP whose edge stops heartbeating leaves answers within GoneAfter and
// the router's health interval, and comes back with its next heartbeat.
func TestEdgesHealth(t *testing.T) {
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
	edges, err := control.WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte(`
router:
  zone: cdn.example
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [10.0.1.1]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [10.0.2.1]}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(router.Options{Config: c.Router, Health: router.EdgesHealth(edges)})
	go r.Run(ctx)

	beat := func(pop string) context.CancelFunc {
		hctx, stop := context.WithCancel(ctx)
		go control.SendHeartbeats(hctx, conn.NATS(), 100*time.Millisecond, func() control.Heartbeat {
			return control.Heartbeat{NodeID: pop + "-1", POP: pop, Role: "edge"}
		})
		return stop
	}
	waitFor := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			// Unknown client: the default POP, fra, if healthy.
			d := r.Explain(netip.MustParseAddr("192.0.2.1"), "")
			if d.POP == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("chosen %s, want %s within %v: %+v", d.POP, want, within, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopFra := beat("fra")
	defer beat("iad")()
	waitFor("fra", 2*time.Second)
	stopFra()
	start := time.Now()
	waitFor("iad", control.GoneAfter+2*router.HealthInterval+time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("fra left answers after %v", took)
	}
	defer beat("fra")()
	waitFor("fra", 2*time.Second)
}
