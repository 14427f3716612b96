package edge

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/terncdn/tern/cache"
)

// Purge fences. Every node applies an invalidation from the stream at
// about the same time, but not at the same instant: an edge that has
// applied a purge could refill the object through its POP's owner or its
// shield before that node applied it, and store the purged copy again.
// So a node notes each purge it applies with its stream sequence; a tier
// fetch of an object a recent purge covers carries the sequence as a fence
// (tier.Hop.Fence), and the node asked first applies the invalidations up
// to the fence (it waits up to fenceWait), then answers. A node that
// cannot catch up in time answers 503 and the asking node goes on to the
// next tier, then the origin.

// fenceWindow is how long a purge fences the fetches it covers: far longer
// than nodes take to apply one invalidation after another.
const fenceWindow = 2 * time.Minute

// fenceWait is the longest a node holds a fenced request for its own
// invalidations to catch up.
const fenceWait = 2 * time.Second

// maxFences bounds the purges remembered; past it they merge into one
// fence over everything at the latest sequence.
const maxFences = 4096

type fence struct {
	prefix string // cache key prefix; "" for every key
	seq    uint64
	at     time.Time
}

// fences are the purges this node applied recently, and how far it has
// applied the invalidation stream.
type fences struct {
	mu      sync.Mutex
	list    []fence
	applied uint64        // every invalidation up to this sequence is applied
	moved   chan struct{} // closed when applied changes, then replaced
}

func newFences() *fences { return &fences{moved: make(chan struct{})} }

// note records a purge of prefix at stream sequence seq.
func (f *fences) note(prefix string, seq uint64, now time.Time) {
	if seq == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, fence{prefix: prefix, seq: seq, at: now})
	// Drop the expired ones (the list is in the order noted).
	i := 0
	for i < len(f.list) && now.Sub(f.list[i].at) > fenceWindow {
		i++
	}
	f.list = f.list[i:]
	if len(f.list) > maxFences {
		top := fence{at: now}
		for _, x := range f.list {
			top.seq = max(top.seq, x.seq)
		}
		f.list = append(f.list[:0], top)
	}
}

// of returns the fence for a fetch of key: the latest sequence of a
// recent purge whose prefix covers it, or 0.
func (f *fences) of(key string, now time.Time) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var seq uint64
	for _, x := range f.list {
		if now.Sub(x.at) <= fenceWindow && x.seq > seq && strings.HasPrefix(key, x.prefix) {
			seq = x.seq
		}
	}
	return seq
}

// setApplied records that every invalidation up to seq is applied (the
// follower applies them in order; after the stream was made again its
// sequences start over, so this may go down).
func (f *fences) setApplied(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq == f.applied {
		return
	}
	f.applied = seq
	close(f.moved)
	f.moved = make(chan struct{})
}

// wait returns once every invalidation up to seq is applied (caughtUp),
// or when ctx ends or fenceWait passes; waited says whether it had to.
func (f *fences) wait(ctx context.Context, seq uint64) (caughtUp, waited bool) {
	var timer *time.Timer
	for {
		f.mu.Lock()
		done, moved := f.applied >= seq, f.moved
		f.mu.Unlock()
		if done {
			return true, waited
		}
		if timer == nil {
			timer = time.NewTimer(fenceWait)
			defer timer.Stop()
		}
		waited = true
		select {
		case <-moved:
		case <-timer.C:
			return false, true
		case <-ctx.Done():
			return false, true
		}
	}
}

// InvalidationsApplied tells the edge that it has applied every
// invalidation of the stream up to sequence seq; fenced tier requests
// waiting for it go on.
func (s *Server) InvalidationsApplied(seq uint64) { s.fences.setApplied(seq) }

// NoteAppliedPurge records that the edge applied, at stream sequence seq,
// the purge of path (or of tag, which may cover any object of the
// distribution), so that its tier fetches of what it covers are fenced
// for fenceWindow.
func (s *Server) NoteAppliedPurge(distribution, path, tag string, seq uint64) {
	prefix := cache.InvalidationPrefix(distribution, "*")
	if tag == "" {
		prefix = purgePrefix(distribution, path)
	}
	s.fences.note(prefix, seq, time.Now())
}

// purgePrefix is the cache key prefix a purge of path covers.
func purgePrefix(distribution, path string) string {
	wildcard := strings.HasSuffix(path, "*")
	p := strings.TrimSuffix(path, "*")
	// The key holds the path as the edge sees it: escaped, then normalised.
	p = normalizePath((&url.URL{Path: p}).EscapedPath())
	if wildcard {
		p += "*"
	}
	return cache.InvalidationPrefix(distribution, p)
}
