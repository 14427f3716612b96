package configwatch

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
)

const base = `
edge: {listen: "127.0.0.1:0", node_id: n1}
admin: {listen: "off"}
distributions: []
`

func dist(id, alias string) []byte {
	return []byte("id: " + id + "\naliases: [" + alias + "]\norigins: [{id: o, domain_name: origin.example}]\ndefault_cache_behavior: {target_origin_id: o}\n")
}

// applied records what a Watcher put in service.
type applied struct {
	mu  sync.Mutex
	ids [][]string
}

func (a *applied) apply(c *config.Config) error {
	var ids []string
	for _, d := range c.Distributions {
		ids = append(ids, d.ID)
	}
	a.mu.Lock()
	a.ids = append(a.ids, ids)
	a.mu.Unlock()
	return nil
}

func (a *applied) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ids) == 0 {
		return "<none>"
	}
	return strings.Join(a.ids[len(a.ids)-1], ",")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startBus(t *testing.T, dir string) (*bus.Server, *bus.KV) {
	t.Helper()
	srv, err := bus.Start(bus.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := srv.Connect(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err := conn.KV(ctx, bus.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Shutdown() })
	return srv, kv
}

func TestWatcherAppliesRevisionsWholeAndKeepsTheLastGood(t *testing.T) {
	dir := t.TempDir()
	srv, kv := startBus(t, filepath.Join(dir, "nats"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := kv.Put(ctx, DistributionPrefix+"a", dist("a", "a.example")); err != nil {
		t.Fatal(err)
	}
	var got applied
	stateFile := filepath.Join(dir, "state.json")
	w := New(Options{KV: kv, Base: []byte(base), BaseSource: "node.yaml", Apply: got.apply, StateFile: stateFile})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, "the first revision", func() bool { return got.last() == "a" })

	rev, _ := kv.Put(ctx, DistributionPrefix+"b", dist("b", "b.example"))
	waitFor(t, "a second distribution", func() bool { return got.last() == "a,b" && w.Status().Revision == rev })

	// A document that does not validate (the alias a has) is refused
	// whole: a and b stay in service, the status says why.
	bad, _ := kv.Put(ctx, DistributionPrefix+"c", dist("c", "a.example"))
	waitFor(t, "the refusal", func() bool { return w.Status().Refused == bad })
	if got.last() != "a,b" || w.Status().Revision != rev || !strings.Contains(w.Status().Error, "distribution c") {
		t.Fatalf("after a bad revision: in service %q, status %+v", got.last(), w.Status())
	}
	// Deleting it makes the set good again.
	if err := kv.Delete(ctx, DistributionPrefix+"c", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the set without c", func() bool { return w.Status().Refused == 0 && w.Status().Revision > bad })

	// The node restarts while the control plane is away: it serves the
	// last good configuration from its state file.
	cancel()
	<-done
	srv.Shutdown()
	var again applied
	w2 := New(Options{Base: []byte(base), BaseSource: "node.yaml", Apply: again.apply, StateFile: stateFile})
	ok, err := w2.LoadState()
	if err != nil || !ok || again.last() != "a,b" {
		t.Fatalf("LoadState: %v %v, in service %q", ok, err, again.last())
	}
	if w2.Status().Revision != w.Status().Revision {
		t.Errorf("revision after LoadState %d, want %d", w2.Status().Revision, w.Status().Revision)
	}
}

func TestLoadStateWithoutFile(t *testing.T) {
	w := New(Options{Base: []byte(base), Apply: func(*config.Config) error { t.Fatal("applied"); return nil },
		StateFile: filepath.Join(t.TempDir(), "none.json")})
	if ok, err := w.LoadState(); ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
}

// TestSetBaseAndLastGoodWithItsOwnBase: a reloaded base file applies at
// once with the bucket's distributions; a base that refuses them keeps the
// configuration in service; and the state file keeps the base it was good
// with, so a restart with a changed file still serves the last good one.
func TestSetBaseAndLastGoodWithItsOwnBase(t *testing.T) {
	dir := t.TempDir()
	_, kv := startBus(t, filepath.Join(dir, "nats"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	withPolicy := base + "cache_policies: [{name: Keep, default_ttl: 1h}]\n"
	doc := append(dist("a", "a.example"), []byte("")...)
	doc = []byte(strings.Replace(string(doc), "{target_origin_id: o}", "{target_origin_id: o, cache_policy: Keep}", 1))
	if _, err := kv.Put(ctx, DistributionPrefix+"a", doc); err != nil {
		t.Fatal(err)
	}
	var got applied
	stateFile := filepath.Join(dir, "state.json")
	w := New(Options{KV: kv, Base: []byte(base), BaseSource: "node.yaml", Apply: got.apply, StateFile: stateFile})
	go w.Run(ctx)
	// The base has no policy Keep: refused.
	waitFor(t, "the refusal", func() bool { return w.Status().Refused > 0 })
	if err := w.SetBase([]byte(withPolicy), "node.yaml"); err != nil {
		t.Fatalf("SetBase with the policy: %v", err)
	}
	if got.last() != "a" || w.Status().Refused != 0 {
		t.Fatalf("after the reload: in service %q, status %+v", got.last(), w.Status())
	}
	// Back to a base without Keep: refused, a stays.
	if err := w.SetBase([]byte(base), "node.yaml"); err == nil || got.last() != "a" {
		t.Fatalf("a base that refuses the distributions: %v, in service %q", err, got.last())
	}
	cancel()

	// Restart with the file that lacks Keep: the last good configuration
	// (with the base it was good with) serves.
	var again applied
	w2 := New(Options{Base: []byte(base), BaseSource: "node.yaml", Apply: again.apply, StateFile: stateFile})
	if ok, err := w2.LoadState(); !ok || err != nil || again.last() != "a" {
		t.Fatalf("LoadState with a changed file: %v %v, in service %q", ok, err, again.last())
	}
}
