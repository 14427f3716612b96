package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// heartbeatNode is an edge whose tier membership comes from the
// heartbeats of every node over one NATS, as nodes sharing a control
// plane have it.
type heartbeatNode struct {
	id, addr string
	hs       *http.Server
	reg      *prometheus.Registry
	stopHB   context.CancelFunc
	hbDone   chan struct{}
}

func startHeartbeatNode(t *testing.T, nats *bus.Server, id, pop string, o *origin) *heartbeatNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte(fmt.Sprintf(`
edge: {listen: "%s", node_id: %s, pop: %s}
admin: {listen: "off"}
distributions:
  - id: site
    origins: [{id: o, domain_name: 127.0.0.1, http_port: %s}]
    default_cache_behavior: {target_origin_id: o}
`, ln.Addr(), id, pop, o.port())), id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := nats.Connect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	members, err := control.WatchEdges(ctx, conn.NATS())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := edge.New(edge.Options{Config: c, Storage: memory.New(64<<20, 1<<20), Tiers: members,
		Metrics: telemetry.NewMetrics(reg, id, pop)})
	if err != nil {
		t.Fatal(err)
	}
	n := &heartbeatNode{id: id, addr: c.Edge.AdvertisedTierAddress(ln.Addr().String()), reg: reg,
		hs: &http.Server{Handler: s}, stopHB: cancel, hbDone: make(chan struct{})}
	go n.hs.Serve(ln)
	go func() {
		defer close(n.hbDone)
		control.SendHeartbeats(ctx, conn.NATS(), 100*time.Millisecond, func() control.Heartbeat {
			return control.Heartbeat{NodeID: id, POP: pop, Role: c.Edge.Role, TierAddress: n.addr}
		})
	}()
	t.Cleanup(func() {
		n.stop()
		conn.Close()
		s.Close()
	})
	n.waitMembers(t, members, pop)
	return n
}

// waitMembers waits until m lists this node.
func (n *heartbeatNode) waitMembers(t *testing.T, m tier.Members, pop string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, x := range m.Members(pop) {
			if x.NodeID == n.id && x.Addr == n.addr {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw its own heartbeat", n.id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop is the node dying: its heartbeats stop and its listener closes.
func (n *heartbeatNode) stop() {
	n.stopHB()
	<-n.hbDone
	n.hs.Close()
}

func (n *heartbeatNode) metric(t *testing.T, name, upstream string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "upstream" && l.GetValue() == upstream {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestTiersFromHeartbeats: three edges of one POP that know each other
// only from their heartbeats over embedded NATS fetch each object from the
// origin once between them. When one dies, the others keep serving: once
// its heartbeats are missed (3 s) they no longer even try it, and the
// origin still sees each new object once.
func TestTiersFromHeartbeats(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "object "+r.URL.Path)
	})
	nats, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer nats.Shutdown()
	var nodes []*heartbeatNode
	for i := range 3 {
		nodes = append(nodes, startHeartbeatNode(t, nats, fmt.Sprintf("fra-%d", i), "fra", o))
	}
	time.Sleep(300 * time.Millisecond) // every node hears every other's heartbeat

	ask := func(nodes []*heartbeatNode, prefix string, objects int) {
		t.Helper()
		var wg sync.WaitGroup
		for _, n := range nodes {
			for i := range objects {
				wg.Go(func() {
					path := fmt.Sprintf("/%s/%d", prefix, i)
					resp, err := http.Get("http://" + n.addr + path)
					if err != nil {
						t.Errorf("%s %s: %v", n.id, path, err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "object "+path {
						t.Errorf("%s %s: %d %q", n.id, path, resp.StatusCode, resp.Header.Get("X-Tern-Error"))
					}
				})
			}
		}
		wg.Wait()
		for i := range objects {
			if got := o.count(fmt.Sprintf("/%s/%d", prefix, i)); got != 1 {
				t.Errorf("origin served /%s/%d %d times, want once", prefix, i, got)
			}
		}
	}
	const objects = 30
	ask(nodes, "a", objects)
	peer := 0.0
	for _, n := range nodes {
		peer += n.metric(t, "tern_upstream_fetches_total", "peer")
	}
	if peer != 2*objects {
		t.Errorf("%v peer fetches, want %d", peer, 2*objects)
	}

	nodes[2].stop()
	time.Sleep(control.GoneAfter + 500*time.Millisecond)
	live := nodes[:2]
	failuresBefore := live[0].metric(t, "tern_tier_failures_total", "peer") + live[1].metric(t, "tern_tier_failures_total", "peer")
	ask(live, "b", objects)
	failures := live[0].metric(t, "tern_tier_failures_total", "peer") + live[1].metric(t, "tern_tier_failures_total", "peer")
	if failures != failuresBefore {
		t.Errorf("%v peer fetches failed after fra-2's heartbeats stopped: it is still being tried", failures-failuresBefore)
	}
	if !strings.HasPrefix(nodes[0].addr, "127.0.0.1:") {
		t.Errorf("advertised %q, want the bound loopback address", nodes[0].addr)
	}
}
