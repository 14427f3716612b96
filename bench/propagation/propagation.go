package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/invalidations"
)

// options are one run's settings.
type options struct {
	Edges, Rounds int
	// StepTimeout bounds each wait for a change to reach every edge (and
	// an invalidation to be Completed); SetupTimeout the start of the
	// edges until the control plane sees them all alive.
	StepTimeout, SetupTimeout time.Duration
	// SetupParallel is how many edges start at once.
	SetupParallel int
	// Progress receives a line per setup phase and per ten rounds; nil
	// for none.
	Progress io.Writer
	// RoundsStarting and RoundsDone, if set, run around the rounds (to
	// profile them without the setup).
	RoundsStarting, RoundsDone func()
}

// distribution is the one distribution the rounds change: its comment
// carries the round number, which each edge reads from the configuration
// it applies.
const distribution = "bench"

func distributionDoc(round int) string {
	return fmt.Sprintf("id: %s\ncomment: round %d\naliases: [bench.example]\n"+
		"origins: [{id: o, domain_name: origin.example.org}]\n"+
		"default_cache_behavior: {target_origin_id: o, cache_policy: Short}\n", distribution, round)
}

// baseConfig is a node's own configuration file, as `tern edge` reads it;
// the control plane validates distributions with it too.
func baseConfig(node string) string {
	return fmt.Sprintf(`edge: {listen: "127.0.0.1:0", node_id: %s, pop: bench}
admin: {listen: "off"}
cache_policies:
  - name: Short
    default_ttl: 5s
`, node)
}

// purgePath is the path invalidated in round.
func purgePath(round int) string { return "/round/" + strconv.Itoa(round) }

// results is what run measured.
type results struct {
	Edges, Rounds int
	// Setup phases: the NATS server and control plane; every edge
	// connected with its consumer created and caught up (and each edge's
	// consumer creation alone); every edge seen alive by the control plane.
	ControlStart, EdgesStart time.Duration
	ConsumerCreate           []time.Duration
	AllAlive                 time.Duration
	// Per round, from just before the API call: the API's answer; the
	// last edge applying the change; for invalidations, Completed.
	ConfigAPI, ConfigAll               []time.Duration
	PurgeAPI, PurgeAll, PurgeCompleted []time.Duration
	// PurgeSettle is, per round, from the last edge applying the
	// invalidation until Completed: the acknowledgements and the control
	// plane's share.
	PurgeSettle []time.Duration
	// Per edge and round: when each edge applied the change.
	ConfigEach, PurgeEach []time.Duration
}

// run starts the control plane and the edges, then measures o.Rounds
// rounds. Everything it started has stopped when it returns.
func run(ctx context.Context, o options) (*results, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	res := &results{Edges: o.Edges, Rounds: o.Rounds}

	dir, err := os.MkdirTemp("", "tern-propagation-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	cp, err := startControlPlane(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer cp.close()
	res.ControlStart = time.Since(start)
	progress("control plane up in %v: NATS at %s, API at %s", res.ControlStart.Round(time.Millisecond), cp.nats.ClientURL(), cp.apiURL)

	// Round 0 is the distribution every edge starts with.
	etag, err := cp.do(ctx, "POST", "/api/v1/distributions", "", distributionDoc(0), http.StatusCreated)
	if err != nil {
		return nil, err
	}
	completions, err := watchCompletions(ctx, cp.conn)
	if err != nil {
		return nil, err
	}

	tr := newTracker(o.Edges)
	var edgesRunning sync.WaitGroup
	defer func() {
		cancel() // the edges stop before the server does (cp.close, deferred earlier)
		edgesRunning.Wait()
	}()
	start = time.Now()
	res.ConsumerCreate, err = startEdges(ctx, o, cp, tr, &edgesRunning)
	if err != nil {
		return nil, err
	}
	res.EdgesStart = time.Since(start)
	progress("%d edges connected, consumers created, caught up in %v", o.Edges, res.EdgesStart.Round(time.Millisecond))
	setupCtx, setupDone := context.WithTimeout(ctx, o.SetupTimeout)
	defer setupDone()
	if err := cp.waitAlive(setupCtx, o.Edges); err != nil {
		return nil, err
	}
	res.AllAlive = time.Since(start)
	if _, err := tr.wait(setupCtx, o.SetupTimeout, kindConfig, 0); err != nil {
		return nil, fmt.Errorf("initial configuration: %w", err)
	}
	progress("control plane sees all %d edges alive %v after they started", o.Edges, res.AllAlive.Round(time.Millisecond))

	if o.RoundsStarting != nil {
		o.RoundsStarting()
	}
	for r := 1; r <= o.Rounds; r++ {
		// A configuration change.
		tr.expect(kindConfig, r)
		t0 := time.Now()
		etag, err = cp.do(ctx, "PUT", "/api/v1/distributions/"+distribution, etag, distributionDoc(r), http.StatusOK)
		if err != nil {
			return nil, err
		}
		res.ConfigAPI = append(res.ConfigAPI, time.Since(t0))
		at, err := tr.wait(ctx, o.StepTimeout, kindConfig, r)
		if err != nil {
			return nil, fmt.Errorf("round %d: config change: %w", r, err)
		}
		res.ConfigAll = append(res.ConfigAll, latest(at).Sub(t0))
		res.ConfigEach = appendSince(res.ConfigEach, at, t0)

		// An invalidation.
		tr.expect(kindPurge, r)
		t0 = time.Now()
		body, _ := json.Marshal(map[string][]string{"paths": {purgePath(r)}})
		inv, err := cp.invalidate(ctx, string(body))
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", r, err)
		}
		res.PurgeAPI = append(res.PurgeAPI, time.Since(t0))
		at, err = tr.wait(ctx, o.StepTimeout, kindPurge, r)
		if err != nil {
			return nil, fmt.Errorf("round %d: invalidation %s: %w", r, inv.ID, err)
		}
		res.PurgeAll = append(res.PurgeAll, latest(at).Sub(t0))
		res.PurgeEach = appendSince(res.PurgeEach, at, t0)
		done, err := completions.wait(ctx, o.StepTimeout, inv.ID)
		if err != nil {
			return nil, fmt.Errorf("round %d: invalidation %s: %w", r, inv.ID, err)
		}
		res.PurgeCompleted = append(res.PurgeCompleted, done.Sub(t0))
		res.PurgeSettle = append(res.PurgeSettle, done.Sub(latest(at)))
		// What the bucket says, the API says.
		if got, err := cp.getInvalidation(ctx, inv.ID); err != nil || got.Status != control.Completed {
			return nil, fmt.Errorf("round %d: invalidation %s Completed in its record, but the API answers %+v (%v)", r, inv.ID, got, err)
		}
		if r%10 == 0 {
			progress("round %d of %d", r, o.Rounds)
		}
	}
	if o.RoundsDone != nil {
		o.RoundsDone()
	}
	return res, nil
}

// controlPlane is the control plane of `tern control --embedded-nats`, in
// this process.
type controlPlane struct {
	nats     *bus.Server
	token    string
	conn     *bus.Conn // the control plane's own, in-process
	edges    *control.Edges
	http     *http.Server
	apiURL   string
	client   *http.Client
	apiToken string
}

func startControlPlane(ctx context.Context, dir string) (*controlPlane, error) {
	cp := &controlPlane{token: randomToken(), apiToken: randomToken(), client: &http.Client{Timeout: 10 * time.Second}}
	var err error
	if cp.nats, err = bus.Start(bus.Options{Dir: dir, Listen: "127.0.0.1:0", Token: cp.token}); err != nil {
		return nil, err
	}
	fail := func(err error) (*controlPlane, error) {
		cp.close()
		return nil, err
	}
	if cp.conn, err = cp.nats.Connect(ctx, "control"); err != nil {
		return fail(err)
	}
	if err := cp.conn.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		return fail(err)
	}
	kv, err := cp.conn.KV(ctx, bus.ConfigBucket)
	if err != nil {
		return fail(err)
	}
	store, err := control.NewStore(kv, []byte(baseConfig("control")), "bench base")
	if err != nil {
		return fail(err)
	}
	if cp.edges, err = control.WatchEdges(ctx, cp.conn.NATS()); err != nil {
		return fail(err)
	}
	invs, err := control.NewInvalidations(ctx, cp.conn, store, cp.edges)
	if err != nil {
		return fail(err)
	}
	api, err := control.API(store, cp.apiToken, control.WithEdges(cp.edges), control.WithInvalidations(invs))
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api)
	cp.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go cp.http.Serve(ln)
	cp.apiURL = "http://" + ln.Addr().String()
	return cp, nil
}

func (cp *controlPlane) close() {
	if cp.http != nil {
		cp.http.Close()
	}
	if cp.conn != nil {
		cp.conn.Close()
	}
	cp.nats.Shutdown()
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends one API request and returns the answer's ETag; an answer other
// than want is an error.
func (cp *controlPlane) do(ctx context.Context, method, path, ifMatch, body string, want int) (string, error) {
	_, h, err := cp.request(ctx, method, path, ifMatch, body, want)
	if err != nil {
		return "", err
	}
	return h.Get("ETag"), nil
}

func (cp *controlPlane) request(ctx context.Context, method, path, ifMatch, body string, want int) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, cp.apiURL+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cp.apiToken)
	if body != "" {
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/yaml")
		}
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := cp.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, resp.Header, nil
}

func (cp *controlPlane) invalidate(ctx context.Context, body string) (control.Invalidation, error) {
	var inv control.Invalidation
	b, _, err := cp.request(ctx, "POST", "/api/v1/distributions/"+distribution+"/invalidations", "", body, http.StatusCreated)
	if err != nil {
		return inv, err
	}
	if err := json.Unmarshal(b, &inv); err != nil || inv.ID == "" {
		return inv, fmt.Errorf("invalidation: answer %s: %v", b, err)
	}
	return inv, nil
}

func (cp *controlPlane) getInvalidation(ctx context.Context, id string) (control.Invalidation, error) {
	var inv control.Invalidation
	b, _, err := cp.request(ctx, "GET", "/api/v1/distributions/"+distribution+"/invalidations/"+id, "", "", http.StatusOK)
	if err != nil {
		return inv, err
	}
	return inv, json.Unmarshal(b, &inv)
}

// waitAlive polls GET /api/v1/edges until n edges are alive there, and the
// control plane has listened long enough to know that no other edge is
// (before that it completes no invalidation).
func (cp *controlPlane) waitAlive(ctx context.Context, n int) error {
	alive := 0
	for {
		b, _, err := cp.request(ctx, "GET", "/api/v1/edges", "", "", http.StatusOK)
		if err != nil {
			return fmt.Errorf("wait for %d edges alive (%d so far): %w", n, alive, err)
		}
		var list struct{ Edges []control.Edge }
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("GET /api/v1/edges: %w", err)
		}
		alive = 0
		for _, e := range list.Edges {
			if e.Alive {
				alive++
			}
		}
		if alive >= n && cp.edges.HeardAll() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d edges alive (%d so far): %w", n, alive, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startEdges starts o.Edges edges, o.SetupParallel at a time, each until
// ctx ends, and returns how long each one's consumer took to create.
func startEdges(ctx context.Context, o options, cp *controlPlane, tr *tracker, running *sync.WaitGroup) ([]time.Duration, error) {
	created := make([]time.Duration, o.Edges)
	errs := make([]error, o.Edges)
	sem := make(chan struct{}, o.SetupParallel)
	var wg sync.WaitGroup
	for i := range o.Edges {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			created[i], errs[i] = startEdge(ctx, i, cp, tr, running)
		})
	}
	wg.Wait()
	return created, errors.Join(errs...)
}

// startEdge starts edge i as `tern edge` does: its own NATS connection,
// the invalidations it missed applied before anything else, then the
// config watch, the invalidation follower and heartbeats.
func startEdge(ctx context.Context, i int, cp *controlPlane, tr *tracker, running *sync.WaitGroup) (time.Duration, error) {
	node := fmt.Sprintf("edge-%03d", i)
	conn, err := bus.Connect(ctx, cp.nats.ClientURL(), "edge bench/"+node, nats.Token(cp.token))
	if err != nil {
		return 0, err
	}
	kv, err := conn.KV(ctx, bus.ConfigBucket)
	if err != nil {
		conn.Close()
		return 0, fmt.Errorf("%s: %w", node, err)
	}
	w := configwatch.New(configwatch.Options{KV: kv, Base: []byte(baseConfig(node)), BaseSource: node + " base",
		Apply: func(c *config.Config) error {
			now := time.Now()
			for _, d := range c.Distributions {
				if r, ok := strings.CutPrefix(d.Comment, "round "); ok && d.ID == distribution {
					if n, err := strconv.Atoi(r); err == nil {
						tr.arrive(kindConfig, n, i, now)
					}
				}
			}
			return nil
		}})
	t0 := time.Now()
	f, err := invalidations.New(ctx, invalidations.Options{Conn: conn, Node: node, POP: "bench",
		Purge: func(d string, t invalidations.Target) error {
			now := time.Now()
			if r, ok := strings.CutPrefix(t.Path, "/round/"); ok && d == distribution {
				if n, err := strconv.Atoi(r); err == nil {
					tr.arrive(kindPurge, n, i, now)
				}
			}
			return nil
		}})
	took := time.Since(t0)
	if err != nil {
		conn.Close()
		return took, fmt.Errorf("%s: %w", node, err)
	}
	if _, err := f.CatchUp(ctx); err != nil {
		conn.Close()
		return took, fmt.Errorf("%s: %w", node, err)
	}
	started := time.Now()
	var parts sync.WaitGroup
	parts.Go(func() { f.Run(ctx) })
	parts.Go(func() { w.Run(ctx) })
	parts.Go(func() {
		control.SendHeartbeats(ctx, conn.NATS(), 0, func() control.Heartbeat {
			st := w.Status()
			return control.Heartbeat{NodeID: node, POP: "bench", Version: "bench", ConfigRevision: st.Revision,
				ConfigError: st.Error, Started: started}
		})
	})
	running.Go(func() {
		parts.Wait()
		conn.Close()
	})
	return took, nil
}

// watchCompletions follows the invalidation records' bucket and notes when
// each record first says Completed. The control plane writes an
// invalidation's record when it completes it, so this sees the moment it
// did, give or take one delivery.
func watchCompletions(ctx context.Context, conn *bus.Conn) (*completions, error) {
	kv, err := conn.KV(ctx, bus.InvalidationsBucket)
	if err != nil {
		return nil, err
	}
	ch, err := kv.Watch(ctx, ">", 0)
	if err != nil {
		return nil, fmt.Errorf("watch invalidation records: %w", err)
	}
	c := &completions{at: map[string]time.Time{}, done: map[string]chan struct{}{}}
	go func() {
		for e := range ch {
			if e.Op != bus.OpPut {
				continue
			}
			now := time.Now()
			var inv control.Invalidation
			if json.Unmarshal(e.Value, &inv) == nil && inv.Status == control.Completed {
				c.completed(inv.ID, now)
			}
		}
	}()
	return c, nil
}

type completions struct {
	mu   sync.Mutex
	at   map[string]time.Time
	done map[string]chan struct{}
}

func (c *completions) chanLocked(id string) chan struct{} {
	ch, ok := c.done[id]
	if !ok {
		ch = make(chan struct{})
		c.done[id] = ch
	}
	return ch
}

func (c *completions) completed(id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.at[id]; ok {
		return
	}
	c.at[id] = at
	close(c.chanLocked(id))
}

// wait returns when invalidation id was first seen Completed, waiting
// for at most timeout.
func (c *completions) wait(ctx context.Context, timeout time.Duration, id string) (time.Time, error) {
	c.mu.Lock()
	ch := c.chanLocked(id)
	c.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		return time.Time{}, fmt.Errorf("not seen Completed within %v", timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at[id], nil
}

// kind is what an edge applied: a configuration or an invalidation.
type kind int

const (
	kindConfig kind = iota
	kindPurge
)

// tracker collects, per change, when each edge applied it.
type tracker struct {
	n       int
	mu      sync.Mutex
	changes map[change]*arrivals
}

type change struct {
	kind  kind
	round int
}

type arrivals struct {
	at    []time.Time // by edge; zero until it applied the change
	count int
	all   chan struct{} // closed when every edge has
}

func newTracker(n int) *tracker { return &tracker{n: n, changes: map[change]*arrivals{}} }

func (t *tracker) expect(k kind, round int) *arrivals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.getLocked(change{k, round})
}

func (t *tracker) getLocked(c change) *arrivals {
	a, ok := t.changes[c]
	if !ok {
		a = &arrivals{at: make([]time.Time, t.n), all: make(chan struct{})}
		t.changes[c] = a
	}
	return a
}

// arrive notes that edge applied the change, the first time only.
func (t *tracker) arrive(k kind, round, edge int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.getLocked(change{k, round})
	if !a.at[edge].IsZero() {
		return
	}
	a.at[edge] = at
	if a.count++; a.count == t.n {
		close(a.all)
	}
}

// wait returns when every edge applied the change, with when each did,
// waiting for at most timeout.
func (t *tracker) wait(ctx context.Context, timeout time.Duration, k kind, round int) ([]time.Time, error) {
	a := t.expect(k, round)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-a.all:
	case <-timer.C:
		t.mu.Lock()
		defer t.mu.Unlock()
		return nil, fmt.Errorf("%d of %d edges applied it within %v", a.count, t.n, timeout)
	case <-ctx.Done():
		t.mu.Lock()
		defer t.mu.Unlock()
		return nil, fmt.Errorf("%d of %d edges applied it: %w", a.count, t.n, ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), a.at...), nil
}

func latest(at []time.Time) time.Time {
	var l time.Time
	for _, t := range at {
		if t.After(l) {
			l = t
		}
	}
	return l
}

func appendSince(to []time.Duration, at []time.Time, t0 time.Time) []time.Duration {
	for _, t := range at {
		to = append(to, t.Sub(t0))
	}
	return to
}
