package disk

import (
	"os"
	"sync"
	"sync/atomic"
)

// openFiles keeps data files open between hits, so that a hit costs no
// open, fstat and close: a bounded set of idle descriptors, by data file
// id, that a body borrows for one send and gives back. A descriptor is
// used by one borrower at a time (sendfile reads from the file's
// position), so a hot object served to many viewers at once opens more
// than one.
//
// It is set associative: an id maps to one bucket of ways; a full bucket
// closes the descriptor that has been idle longest. A removed data file's
// descriptors are closed when it is removed (its space is freed only
// then), and one given back after that is closed instead of kept: see
// giveBack for the interleaving.
type openFiles struct {
	buckets []fileBucket
	closed  atomic.Bool // closeAll ran: descriptors given back are closed
}

const fileWays = 16

type fileBucket struct {
	mu   sync.Mutex
	tick uint64
	ways [fileWays]struct {
		id   uint64 // 0: empty
		used uint64 // tick of the last give-back
		f    *os.File
	}
}

// newOpenFiles keeps up to about n idle descriptors; none when n <= 0.
func newOpenFiles(n int) *openFiles {
	if n <= 0 {
		return &openFiles{}
	}
	nb := 1
	for nb*fileWays < n {
		nb *= 2
	}
	return &openFiles{buckets: make([]fileBucket, nb)}
}

func (o *openFiles) bucket(id uint64) *fileBucket {
	return &o.buckets[(id*0x9e3779b97f4a7c15>>32)&uint64(len(o.buckets)-1)]
}

// take returns an idle descriptor of id, now the caller's, or nil.
func (o *openFiles) take(id uint64) *os.File {
	if len(o.buckets) == 0 {
		return nil
	}
	b := o.bucket(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.ways {
		if w := &b.ways[i]; w.id == id {
			f := w.f
			w.id, w.f = 0, nil
			return f
		}
	}
	return nil
}

// giveBack keeps f, a descriptor of id, for the next take, if live
// reports (under the bucket's lock) that id is still stored; otherwise,
// or with no room, f is closed.
//
// The removal of a data file takes id out of the store's index first and
// then calls drop, which takes the same lock. So either giveBack's live
// runs before the index lost id, and drop, later, finds and closes f; or
// after, and giveBack closes f itself. No descriptor of a removed file
// stays open.
func (o *openFiles) giveBack(id uint64, f *os.File, live func() bool) {
	if len(o.buckets) == 0 {
		f.Close()
		return
	}
	b := o.bucket(id)
	b.mu.Lock()
	if o.closed.Load() || !live() {
		b.mu.Unlock()
		f.Close()
		return
	}
	b.tick++
	victim := 0
	for i := range b.ways {
		w := &b.ways[i]
		if w.id == 0 {
			victim = i
			break
		}
		if w.used < b.ways[victim].used {
			victim = i
		}
	}
	w := &b.ways[victim]
	old := w.f
	w.id, w.used, w.f = id, b.tick, f
	b.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// drop closes the idle descriptors of id.
func (o *openFiles) drop(id uint64) {
	if len(o.buckets) == 0 {
		return
	}
	b := o.bucket(id)
	var closing [fileWays]*os.File
	n := 0
	b.mu.Lock()
	for i := range b.ways {
		if w := &b.ways[i]; w.id == id {
			closing[n] = w.f
			n++
			w.id, w.f = 0, nil
		}
	}
	b.mu.Unlock()
	for _, f := range closing[:n] {
		f.Close()
	}
}

// closeAll closes every idle descriptor, and those given back later.
func (o *openFiles) closeAll() {
	o.closed.Store(true)
	for i := range o.buckets {
		b := &o.buckets[i]
		b.mu.Lock()
		for j := range b.ways {
			if w := &b.ways[j]; w.f != nil {
				w.f.Close()
				w.id, w.f = 0, nil
			}
		}
		b.mu.Unlock()
	}
}
