package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// newKV starts an in-process server on a fresh Dir and opens the config
// bucket on a connection to it.
func newKV(t testing.TB) (*Server, *KV) {
	t.Helper()
	s, err := Start(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s, openConfig(t, s)
}

func openConfig(t testing.TB, s *Server) *KV {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Connect(ctx, "test")
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	if err := c.EnsureBuckets(ctx, BucketOptions{}); err != nil {
		t.Fatalf("EnsureBuckets: %v", err)
	}
	kv, err := c.KV(ctx, ConfigBucket)
	if err != nil {
		t.Fatalf("KV: %v", err)
	}
	return kv
}

func TestEnsureBuckets(t *testing.T) {
	s := startServer(t, Options{Dir: t.TempDir()})
	c := connectTo(t, s)
	ctx := testCtx(t)
	if _, err := c.KV(ctx, ConfigBucket); err == nil {
		t.Fatal("KV opened a bucket EnsureBuckets has not created")
	}
	for i := range 2 { // idempotent
		if err := c.EnsureBuckets(ctx, BucketOptions{}); err != nil {
			t.Fatalf("EnsureBuckets #%d: %v", i+1, err)
		}
	}
	kv, err := c.JetStream().KeyValue(ctx, ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != ConfigHistory || st.BackingStore() != "JetStream" || st.Config().Storage.String() != "File" {
		t.Errorf("bucket history=%d store=%s storage=%s, want %d JetStream File",
			st.History(), st.BackingStore(), st.Config().Storage, ConfigHistory)
	}
	if r := st.Config().Replicas; r != 1 {
		t.Errorf("replicas = %d, want 1", r)
	}
}

func TestKVRevisions(t *testing.T) {
	_, kv := newKV(t)
	ctx := testCtx(t)
	const key = "distribution.d1"

	if _, err := kv.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	r1, err := kv.Put(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, key)
	if err != nil || string(e.Value) != "v1" || e.Revision != r1 || e.Op != OpPut || e.Key != key || e.Created.IsZero() {
		t.Fatalf("Get = %+v, %v; want v1 at revision %d", e, err, r1)
	}

	// A write to another key moves the bucket's revision on, not this key's.
	other, err := kv.Put(ctx, "distribution.d2", []byte("x"))
	if err != nil || other <= r1 {
		t.Fatalf("Put other = %d, %v; want a revision above %d", other, err, r1)
	}

	tests := []struct {
		name     string
		expected func(cur uint64) uint64
		wantErr  error
	}{
		{"stale revision", func(cur uint64) uint64 { return cur - 1 }, ErrRevisionMismatch},
		{"future revision", func(cur uint64) uint64 { return cur + 100 }, ErrRevisionMismatch},
		{"another key's revision", func(uint64) uint64 { return other }, ErrRevisionMismatch},
		{"zero", func(uint64) uint64 { return 0 }, ErrRevisionMismatch},
		{"current revision", func(cur uint64) uint64 { return cur }, nil},
		{"current revision again", func(cur uint64) uint64 { return cur }, nil},
	}
	cur := r1
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			val := fmt.Appendf(nil, "v%d", i+2)
			rev, err := kv.Update(ctx, key, val, tt.expected(cur))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Update = %d, %v; want error %v", rev, err, tt.wantErr)
			}
			got, gerr := kv.Get(ctx, key)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantErr != nil {
				if got.Revision != cur {
					t.Errorf("a failed Update changed the key: now at %d, was %d", got.Revision, cur)
				}
				return
			}
			if rev <= cur || got.Revision != rev || string(got.Value) != string(val) {
				t.Errorf("after Update: %+v (returned %d), want %s at a revision above %d", got, rev, val, cur)
			}
			cur = rev
		})
	}
}

func TestKVCreateDelete(t *testing.T) {
	_, kv := newKV(t)
	ctx := testCtx(t)
	const key = "function.f1"

	r1, err := kv.Create(ctx, key, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, key, []byte("b")); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	r2, err := kv.Put(ctx, key, []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, key, r1); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("Delete at stale revision: %v, want ErrRevisionMismatch", err)
	}
	if e, err := kv.Get(ctx, key); err != nil || string(e.Value) != "b" {
		t.Fatalf("after a refused Delete, Get = %+v, %v; want b", e, err)
	}
	if err := kv.Delete(ctx, key, r2); err != nil {
		t.Fatalf("Delete at current revision: %v", err)
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	h, err := kv.History(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range h {
		ops = append(ops, fmt.Sprintf("%s:%s", e.Op, e.Value))
	}
	if want := []string{"put:a", "put:b", "delete:"}; !slices.Equal(ops, want) {
		t.Errorf("History = %v, want %v", ops, want)
	}
	// A deleted key can be created again.
	if _, err := kv.Create(ctx, key, []byte("c")); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	// Deleting with no expected revision always succeeds.
	if err := kv.Delete(ctx, "function.never-written", 0); err != nil {
		t.Fatalf("unconditional Delete of a missing key: %v", err)
	}
}

func TestKVList(t *testing.T) {
	_, kv := newKV(t)
	ctx := testCtx(t)
	if got, err := kv.List(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("List of an empty bucket = %v, %v", got, err)
	}
	for _, k := range []string{"distribution.b", "keygroup.k", "distribution.a", "distribution.gone"} {
		if _, err := kv.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "distribution.b", []byte("b2")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "distribution.gone", 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pattern string
		want    []string // key=value, sorted by key
	}{
		{"", []string{"distribution.a=distribution.a", "distribution.b=b2", "keygroup.k=keygroup.k"}},
		{"distribution.>", []string{"distribution.a=distribution.a", "distribution.b=b2"}},
		{"keygroup.*", []string{"keygroup.k=keygroup.k"}},
		{"webacl.>", nil},
	}
	for _, tt := range tests {
		got, err := kv.List(ctx, tt.pattern)
		if err != nil {
			t.Fatalf("List(%q): %v", tt.pattern, err)
		}
		var kvs []string
		for _, e := range got {
			kvs = append(kvs, e.Key+"="+string(e.Value))
		}
		if !slices.Equal(kvs, tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.pattern, kvs, tt.want)
		}
	}
}

// next reads one entry from a watch, failing the test after a few seconds.
func next(t *testing.T, ch <-chan Entry) Entry {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no watch entry within 5s")
	}
	return Entry{}
}

func describe(e Entry) string {
	if e.Op == OpSynced {
		return "synced"
	}
	return fmt.Sprintf("%s %s=%s @%d", e.Op, e.Key, e.Value, e.Revision)
}

func TestWatch(t *testing.T) {
	_, kv := newKV(t)
	ctx := testCtx(t)
	ra, _ := kv.Put(ctx, "distribution.a", []byte("a1"))
	rb, _ := kv.Put(ctx, "distribution.b", []byte("b1"))
	rg, _ := kv.Put(ctx, "distribution.gone", []byte("g"))
	if err := kv.Delete(ctx, "distribution.gone", rg); err != nil {
		t.Fatal(err)
	}
	rk, _ := kv.Put(ctx, "keygroup.k", []byte("k1"))

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	all, err := kv.Watch(wctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	dists, err := kv.Watch(wctx, "distribution.>", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Resuming after b's revision: only what changed since.
	resumed, err := kv.Watch(wctx, "", rb)
	if err != nil {
		t.Fatal(err)
	}

	read := func(ch <-chan Entry, n int) []string {
		var got []string
		for range n {
			got = append(got, describe(next(t, ch)))
		}
		return got
	}
	initial := []struct {
		name string
		ch   <-chan Entry
		want []string
	}{
		{"all", all, []string{
			fmt.Sprintf("put distribution.a=a1 @%d", ra),
			fmt.Sprintf("put distribution.b=b1 @%d", rb),
			fmt.Sprintf("delete distribution.gone= @%d", rg+1),
			fmt.Sprintf("put keygroup.k=k1 @%d", rk),
			"synced",
		}},
		{"distributions", dists, []string{
			fmt.Sprintf("put distribution.a=a1 @%d", ra),
			fmt.Sprintf("put distribution.b=b1 @%d", rb),
			fmt.Sprintf("delete distribution.gone= @%d", rg+1),
			"synced",
		}},
		{"resumed", resumed, []string{
			fmt.Sprintf("put distribution.gone=g @%d", rg),
			fmt.Sprintf("delete distribution.gone= @%d", rg+1),
			fmt.Sprintf("put keygroup.k=k1 @%d", rk),
			"synced",
		}},
	}
	for _, w := range initial {
		if got := read(w.ch, len(w.want)); !slices.Equal(got, w.want) {
			t.Errorf("%s watch initial = %q, want %q", w.name, got, w.want)
		}
	}

	// Live changes, in order, to every watch that matches.
	ra2, _ := kv.Update(ctx, "distribution.a", []byte("a2"), ra)
	rk2, _ := kv.Put(ctx, "keygroup.k", []byte("k2"))
	if err := kv.Delete(ctx, "distribution.b", rb); err != nil {
		t.Fatal(err)
	}
	rbDel := rk2 + 1
	live := []string{
		fmt.Sprintf("put distribution.a=a2 @%d", ra2),
		fmt.Sprintf("put keygroup.k=k2 @%d", rk2),
		fmt.Sprintf("delete distribution.b= @%d", rbDel),
	}
	if got := read(all, 3); !slices.Equal(got, live) {
		t.Errorf("all watch live = %q, want %q", got, live)
	}
	if got := read(resumed, 3); !slices.Equal(got, live) {
		t.Errorf("resumed watch live = %q, want %q", got, live)
	}
	if got, want := read(dists, 2), []string{live[0], live[2]}; !slices.Equal(got, want) {
		t.Errorf("distribution watch live = %q, want %q", got, want)
	}

	// Cancelling the context closes every channel.
	stop()
	for _, ch := range []<-chan Entry{all, dists, resumed} {
		select {
		case e, ok := <-ch:
			if ok {
				t.Errorf("entry after cancel: %s", describe(e))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("watch channel not closed after its context was cancelled")
		}
	}
}

func TestWatchEndsWhenConnectionCloses(t *testing.T) {
	s := startServer(t, Options{Dir: t.TempDir()})
	c := connectTo(t, s)
	ctx := testCtx(t)
	if err := c.EnsureBuckets(ctx, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err := c.KV(ctx, ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := kv.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch); e.Op != OpSynced {
		t.Fatalf("got %s, want synced", describe(e))
	}
	c.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("entry after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after the connection closed")
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Options{Dir: dir})
	kv := openConfig(t, s)
	ctx := testCtx(t)
	rev, err := kv.Put(ctx, "distribution.d1", []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()

	s2 := startServer(t, Options{Dir: dir})
	kv2 := openConfig(t, s2)
	e, err := kv2.Get(ctx, "distribution.d1")
	if err != nil || string(e.Value) != "kept" || e.Revision != rev {
		t.Fatalf("after restart Get = %+v, %v; want kept at revision %d", e, err, rev)
	}
	// Revisions keep counting up from where they were.
	if r, err := kv2.Update(ctx, "distribution.d1", []byte("new"), rev); err != nil || r <= rev {
		t.Fatalf("Update after restart = %d, %v; want a revision above %d", r, err, rev)
	}
}

func BenchmarkKVPut(b *testing.B) {
	_, kv := newKV(b)
	ctx := context.Background()
	val := make([]byte, 2048)
	for b.Loop() {
		if _, err := kv.Put(ctx, "distribution.bench", val); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutToWatch is the config propagation time on one connection:
// from Put to the change arriving at a watch.
func BenchmarkPutToWatch(b *testing.B) {
	_, kv := newKV(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := kv.Watch(ctx, "", 0)
	if err != nil {
		b.Fatal(err)
	}
	<-ch // synced
	val := make([]byte, 2048)
	for b.Loop() {
		rev, err := kv.Put(ctx, "distribution.bench", val)
		if err != nil {
			b.Fatal(err)
		}
		if e := <-ch; e.Revision != rev {
			b.Fatalf("watch got revision %d, want %d", e.Revision, rev)
		}
	}
}
