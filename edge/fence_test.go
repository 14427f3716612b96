package edge

import (
	"context"
	"testing"
	"time"
)

// TestFences: a purge fences the keys it covers for fenceWindow, the
// latest matching purge wins, a tag purge covers its whole distribution,
// and past maxFences they merge into one fence over everything.
func TestFences(t *testing.T) {
	f := newFences()
	now := time.Now()
	f.note(purgePrefix("d", "/img/*"), 5, now.Add(-fenceWindow-time.Second)) // expired
	f.note(purgePrefix("d", "/img/*"), 6, now)
	f.note(purgePrefix("d", "/img/a.png"), 8, now)
	f.note(purgePrefix("e", "/img/a.png"), 9, now)
	key := func(dist, path string) string { return dist + "\x00" + path + "\x00" }
	for _, c := range []struct {
		key  string
		want uint64
	}{
		{key("d", "/img/a.png"), 8},
		{key("d", "/img/b.png"), 6},
		{key("d", "/css/a.css"), 0},
		{key("e", "/img/b.png"), 0},
	} {
		if got := f.of(c.key, now); got != c.want {
			t.Errorf("fence of %q: %d, want %d", c.key, got, c.want)
		}
	}
	if got := f.of(key("d", "/img/b.png"), now.Add(fenceWindow+time.Second)); got != 0 {
		t.Errorf("after the window: fence %d", got)
	}

	s := &Server{fences: newFences()}
	s.NoteAppliedPurge("d", "", "some-tag", 11)
	if got := s.fences.of(key("d", "/anything"), time.Now()); got != 11 {
		t.Errorf("a tag purge fences its distribution: %d", got)
	}
	if got := s.fences.of(key("d2", "/anything"), time.Now()); got != 0 {
		t.Errorf("a tag purge fences another distribution: %d", got)
	}

	for i := range maxFences + 1 {
		f.note(purgePrefix("d", "/x"), uint64(100+i), now)
	}
	// The merged fence holds the latest sequence at the merge; the few
	// noted since keep their own prefix.
	if got := f.of(key("z", "/other"), now); got < 100 {
		t.Errorf("past maxFences, an unrelated key's fence: %d, want the merged one", got)
	}
	if got := f.of(key("d", "/x"), now); got != 100+maxFences {
		t.Errorf("past maxFences, the latest purge's key: %d, want %d", got, 100+maxFences)
	}
}

// TestFenceWait: a wait ends when the invalidations are applied that far,
// or after fenceWait.
func TestFenceWait(t *testing.T) {
	f := newFences()
	f.setApplied(3)
	if ok, waited := f.wait(context.Background(), 3); !ok || waited {
		t.Errorf("already there: %v, waited %v", ok, waited)
	}
	time.AfterFunc(50*time.Millisecond, func() { f.setApplied(4); f.setApplied(5) })
	if ok, waited := f.wait(context.Background(), 5); !ok || !waited {
		t.Errorf("caught up while waiting: %v, waited %v", ok, waited)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if ok, _ := f.wait(ctx, 6); ok {
		t.Error("a wait that was never satisfied succeeded")
	}
}
