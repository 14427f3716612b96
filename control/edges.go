package control

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// HeartbeatInterval is how often an edge says it is alive; the control
// plane counts an edge gone after GoneAfter without a heartbeat.
const (
	HeartbeatInterval = time.Second
	GoneAfter         = 3 * HeartbeatInterval
)

// Heartbeat is what an edge sends on bus.HeartbeatSubject(pop, node).
type Heartbeat struct {
	NodeID  string `json:"node_id"`
	POP     string `json:"pop"`
	Version string `json:"version"`
	// ConfigRevision is the config bucket revision the edge has in
	// service; ConfigError why it refused a later one, if it did.
	ConfigRevision uint64 `json:"config_revision"`
	ConfigError    string `json:"config_error,omitempty"`
	// Role is the node's edge.role: "edge" or "shield" ("" from nodes
	// older than tiered caching: "edge").
	Role string `json:"role,omitempty"`
	// TierAddress is where other nodes reach the node's edge listener for
	// tier-to-tier requests; "" when it does not take them.
	TierAddress string `json:"tier_address,omitempty"`
	// Started is when the edge process started.
	Started time.Time `json:"started"`
	// Sent is the edge's clock when it sent this heartbeat.
	Sent time.Time `json:"sent"`
	// Metrics is the edge's running totals since it started.
	Metrics *telemetry.Summary `json:"metrics,omitempty"`
}

// SendHeartbeats publishes status() every interval (HeartbeatInterval if
// 0) until ctx ends. A failed publish is logged and retried on the next
// tick: NATS buffers while it reconnects.
func SendHeartbeats(ctx context.Context, nc *nats.Conn, interval time.Duration, status func() Heartbeat) {
	if interval <= 0 {
		interval = HeartbeatInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		hb := status()
		hb.Sent = time.Now()
		if b, err := json.Marshal(hb); err == nil {
			if err := nc.Publish(bus.HeartbeatSubject(hb.POP, hb.NodeID), b); err != nil {
				slog.Warn("heartbeat not sent", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Edge is one edge as the control plane knows it.
type Edge struct {
	Heartbeat
	// LastSeen is when the control plane last heard from the edge (its own
	// clock, so edges with skewed clocks are judged alike).
	LastSeen time.Time `json:"last_seen"`
	// Alive reports a heartbeat within GoneAfter.
	Alive bool `json:"alive"`
	// Rates is the edge's traffic between its last two heartbeats.
	Rates *Rates `json:"rates,omitempty"`
}

// Rates is an edge's traffic over the interval between two heartbeats.
type Rates struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	BytesOutPerSecond float64 `json:"bytes_out_per_second"`
	// HitRatio is the share of the interval's requests answered from
	// cache; 0 when there were none.
	HitRatio float64 `json:"hit_ratio"`
	// OriginRequestsPerSecond is the interval's requests to origins and
	// other tiers.
	OriginRequestsPerSecond float64 `json:"origin_requests_per_second"`
}

// rates is the traffic between heartbeats prev and cur of one edge, or
// nil when they cannot tell (no totals, a restart in between).
func rates(prev, cur Heartbeat) *Rates {
	a, b := prev.Metrics, cur.Metrics
	secs := cur.Sent.Sub(prev.Sent).Seconds()
	if a == nil || b == nil || secs <= 0 || !prev.Started.Equal(cur.Started) ||
		b.Requests < a.Requests || b.Hits < a.Hits || b.BytesOut < a.BytesOut || b.OriginRequests < a.OriginRequests {
		return nil
	}
	r := &Rates{
		RequestsPerSecond:       float64(b.Requests-a.Requests) / secs,
		BytesOutPerSecond:       float64(b.BytesOut-a.BytesOut) / secs,
		OriginRequestsPerSecond: float64(b.OriginRequests-a.OriginRequests) / secs,
	}
	if n := b.Requests - a.Requests; n > 0 {
		r.HitRatio = float64(b.Hits-a.Hits) / float64(n)
	}
	return r
}

// Edges is the registry of edges, fed by their heartbeats: the control
// plane lists it, and an edge asks it for its live POP peers and shields
// (it is a tier.Members). Edges gone for a long time stay listed (not
// alive) until the process restarts.
type Edges struct {
	goneAfter time.Duration
	now       func() time.Time
	started   time.Time // when it began listening

	mu    sync.Mutex
	edges map[string]*Edge            // by node id
	byPOP map[string]map[string]*Edge // by POP, then node id: what Members reads
}

// WatchEdges subscribes to every edge's heartbeats until ctx ends.
func WatchEdges(ctx context.Context, nc *nats.Conn) (*Edges, error) {
	e := &Edges{goneAfter: GoneAfter, now: time.Now, started: time.Now(), edges: map[string]*Edge{}, byPOP: map[string]map[string]*Edge{}}
	sub, err := nc.Subscribe(bus.HeartbeatsPrefix+">", func(m *nats.Msg) {
		var hb Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil || hb.NodeID == "" {
			slog.Warn("malformed heartbeat", "subject", m.Subject, "error", err)
			return
		}
		e.seen(hb)
	})
	if err != nil {
		return nil, fmt.Errorf("watch edges: %w", err)
	}
	go func() {
		<-ctx.Done()
		sub.Unsubscribe()
	}()
	return e, nil
}

func (e *Edges) seen(hb Heartbeat) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ed := &Edge{Heartbeat: hb, LastSeen: e.now()}
	if old := e.edges[hb.NodeID]; old != nil {
		ed.Rates = rates(old.Heartbeat, hb)
		if old.POP != hb.POP {
			delete(e.byPOP[old.POP], hb.NodeID) // the node moved to another POP
		}
	}
	e.edges[hb.NodeID] = ed
	pop := e.byPOP[hb.POP]
	if pop == nil {
		pop = map[string]*Edge{}
		e.byPOP[hb.POP] = pop
	}
	pop[hb.NodeID] = ed
}

// Members returns the live nodes of pop (a heartbeat within GoneAfter)
// that advertise a tier address, for tiered caching: it makes Edges a
// tier.Members.
func (e *Edges) Members(pop string) []tier.Member {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []tier.Member
	for _, ed := range e.byPOP[pop] {
		if ed.TierAddress == "" || now.Sub(ed.LastSeen) > e.goneAfter {
			continue
		}
		role := ed.Role
		if role == "" {
			role = tier.RoleEdge
		}
		out = append(out, tier.Member{NodeID: ed.NodeID, POP: ed.POP, Role: role, Addr: ed.TierAddress})
	}
	return out
}

// HeardAll reports whether the registry has listened for GoneAfter, so
// that every edge alive by its last heartbeat has been heard from. Before
// that (the control plane just started) an empty List proves nothing.
func (e *Edges) HeardAll() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now().Sub(e.started) >= e.goneAfter
}

// List returns every edge heard from, by POP then node id.
func (e *Edges) List() []Edge {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]Edge, 0, len(e.edges))
	for _, ed := range e.edges {
		x := *ed
		x.Alive = now.Sub(x.LastSeen) <= e.goneAfter
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].POP != out[j].POP {
			return out[i].POP < out[j].POP
		}
		return out[i].NodeID < out[j].NodeID
	})
	return out
}

// ServeHTTP answers GET with {"edges": [...]} (see Edge).
func (e *Edges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"edges": e.List()})
}

// everyLive reports whether done holds for every live edge's node id. It
// copies and sorts nothing, for callers that run it often.
func (e *Edges) everyLive(done func(node string) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for id, ed := range e.edges {
		if now.Sub(ed.LastSeen) <= e.goneAfter && !done(id) {
			return false
		}
	}
	return true
}
