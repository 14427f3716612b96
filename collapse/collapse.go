// Package collapse makes many concurrent cache misses for one key share one
// origin fetch, and streams its body to every waiting viewer as it arrives.
package collapse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for a Group's zero fields.
const (
	DefaultRetainLimit  = 64 << 20
	DefaultWindow       = 4 << 20
	DefaultStallTimeout = 30 * time.Second
)

var (
	// ErrNotRetained is returned by NewReader when the bytes from the
	// requested offset have been released: the body is larger than the
	// Group's RetainLimit and the fill has streamed past them. The caller
	// fetches on its own.
	ErrNotRetained = errors.New("collapse: body no longer retained")
	// ErrStalled is returned by Read once a reader has been detached for
	// holding the writer back longer than the Group's StallTimeout.
	ErrStalled = errors.New("collapse: reader stalled and was detached")
	// ErrClosed is returned by Read after Close, and by Write after the fill
	// has ended.
	ErrClosed = errors.New("collapse: use of closed fill or reader")
	// ErrNoHead is what Head reports for a fill closed without Publish.
	ErrNoHead = errors.New("collapse: fill ended before its head was published")
	// ErrAbandoned is returned by Write when nobody can read what it would
	// write: the body is not retained, every reader has gone, and its start
	// is released so no new one can attach. The writer stops fetching.
	ErrAbandoned = errors.New("collapse: body abandoned by every reader")
)

// Group collapses fills by key. The zero Group is ready to use, with the
// defaults above.
type Group struct {
	// RetainLimit is the largest body a fill keeps whole, for late readers
	// and for Body. Beyond it a fill streams through a window. 0 means
	// DefaultRetainLimit; negative means never retain.
	RetainLimit int64
	// Window is how far, in bytes, the slowest reader of a body beyond
	// RetainLimit may fall behind the writer before Write waits for it. It
	// bounds such a fill's memory. 0 means DefaultWindow.
	Window int64
	// StallTimeout is how long a reader may hold Write back without reading
	// before it is detached with ErrStalled. 0 means DefaultStallTimeout.
	StallTimeout time.Duration

	mu    sync.Mutex
	fills map[string]*Fill
}

// New returns a Group with the given RetainLimit and Window.
func New(retainLimit, window int64) *Group {
	return &Group{RetainLimit: retainLimit, Window: window}
}

// Join returns the fill in flight for key, or starts a new one and reports
// leader = true. The leader must end the fill with Fail or Close, which also
// make the Group forget it.
func (g *Group) Join(key string) (f *Fill, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.fills[key]; ok {
		return f, false
	}
	if g.fills == nil {
		g.fills = make(map[string]*Fill)
	}
	f = newFill(g, key)
	g.fills[key] = f
	return f, true
}

// Invalidate forgets every fill in flight whose key starts with prefix and
// makes each store nothing (Store and Complete skip their functions): the
// bytes they bring were asked for before the invalidation. Their readers
// still get the body. It returns how many fills it found.
func (g *Group) Invalidate(prefix string) int {
	g.mu.Lock()
	var found []*Fill
	for k, f := range g.fills {
		if strings.HasPrefix(k, prefix) {
			found = append(found, f)
			delete(g.fills, k)
		}
	}
	g.mu.Unlock()
	for _, f := range found {
		f.mu.Lock() // waits for a Store in progress: its effects come first
		f.invalidated = true
		f.mu.Unlock()
	}
	return len(found)
}

// InvalidateMatch is Invalidate for the fills whose key starts with prefix
// and that match accepts: it is given each fill's head and whether that is
// published yet, and runs with the fill locked, so a head published after
// it looked is not missed (match decided on the unpublished fill), and a
// Store in progress comes first. It returns how many fills it invalidated.
// match must not call the Fill.
func (g *Group) InvalidateMatch(prefix string, match func(h Head, published bool) bool) int {
	g.mu.Lock()
	var found []*Fill
	for k, f := range g.fills {
		if strings.HasPrefix(k, prefix) {
			found = append(found, f)
		}
	}
	g.mu.Unlock()
	n := 0
	for _, f := range found {
		f.mu.Lock()
		hit := match(f.head, f.headSet)
		if hit {
			f.invalidated = true
		}
		f.mu.Unlock()
		if hit {
			g.remove(f.key, f)
			n++
		}
	}
	return n
}

// InFlight reports how many fills the Group has in flight.
func (g *Group) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.fills)
}

// remove forgets f, unless key already names a newer fill (after Invalidate
// and a new Join, the old fill's Close must not drop the new one).
func (g *Group) remove(key string, f *Fill) {
	g.mu.Lock()
	if g.fills[key] == f {
		delete(g.fills, key)
	}
	g.mu.Unlock()
}

// Head is a response head, published once per fill.
type Head struct {
	// Status and Header are the response's status code and header fields.
	Status int
	Header http.Header
	// Shareable reports whether viewers other than the leader may be given
	// this response (it is storable, or otherwise not personal).
	Shareable bool
	// Meta carries whatever else the caller needs alongside the head.
	Meta any
	// ContentLength is the number of body bytes the leader will write, or
	// -1 when unknown (0 for a response to HEAD). A complete body of another
	// length is reported to readers as truncated.
	ContentLength int64
}

// Fill is one fetch in flight: a head, then a body written once and read by
// any number of Readers while it is written.
//
// One goroutine, the leader's, calls Publish or Fail, then Write (or
// ReadFrom, which io.Copy uses), then Close. Everything else is safe for
// concurrent use.
type Fill struct {
	group        *Group
	key          string
	window       int64
	retainLimit  int64
	stallTimeout time.Duration

	headReady chan struct{} // closed by Publish or Fail

	mu   sync.Mutex
	data sync.Cond // readers wait here for bytes, the end, or detachment
	room sync.Cond // the writer waits here for the slowest reader

	head    Head
	headErr error
	headSet bool
	ended   bool
	err     error // why the body ended early; nil once complete

	// The body is held in chunks: each chunk's bytes below its len are
	// written and never change again, so readers copy from them without the
	// lock; the writer fills the last chunk past its len without the lock,
	// where no reader looks.
	chunks    []chunk
	written   int64
	retaining bool
	nextChunk int // size of the next chunk while retaining an unknown length

	readers       map[*Reader]struct{}
	writerWaiting bool
	invalidated   bool // by Group.Invalidate: Store and Complete keep nothing
}

type chunk struct {
	off int64 // offset of b[0] in the body
	b   []byte
}

const (
	firstChunk  = 4 << 10
	maxChunk    = 1 << 20
	streamChunk = 32 << 10 // chunk size once not retaining
)

func newFill(g *Group, key string) *Fill {
	f := &Fill{
		group:        g,
		key:          key,
		retainLimit:  g.RetainLimit,
		window:       g.Window,
		stallTimeout: g.StallTimeout,
		headReady:    make(chan struct{}),
		retaining:    true,
		nextChunk:    firstChunk,
		readers:      make(map[*Reader]struct{}),
	}
	if f.retainLimit == 0 {
		f.retainLimit = DefaultRetainLimit
	}
	if f.retainLimit < 0 {
		f.retaining = false
	}
	if f.window <= 0 {
		f.window = DefaultWindow
	}
	if f.stallTimeout <= 0 {
		f.stallTimeout = DefaultStallTimeout
	}
	f.data.L = &f.mu
	f.room.L = &f.mu
	return f
}

// Publish makes the head visible to Head. A known ContentLength within the
// RetainLimit is allocated at once, so the body is never copied; one beyond
// it makes the fill stream through its window from the first byte.
// Only the first Publish or Fail counts.
func (f *Fill) Publish(h Head) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.headSet || f.ended {
		return
	}
	f.head, f.headSet = h, true
	switch {
	case h.ContentLength > f.retainLimit:
		f.retaining = false
	case h.ContentLength > 0 && f.retaining && f.written == 0:
		f.chunks = append(f.chunks, chunk{b: make([]byte, 0, h.ContentLength)})
	}
	close(f.headReady)
}

// Fail ends the fill with err before or instead of its body: Head reports
// err if nothing was published, and readers get it as a truncated body.
// The Group forgets the fill.
func (f *Fill) Fail(err error) {
	if err == nil {
		err = errors.New("collapse: fill failed")
	}
	f.end(err)
}

// Close ends the body. A nil err means the body is complete; readers then
// get io.EOF after the last byte. Otherwise readers get err after the bytes
// written so far, never a silently short body. The Group forgets the fill.
func (f *Fill) Close(err error) {
	f.end(err)
}

func (f *Fill) end(err error) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	if err == nil && f.headSet && f.head.ContentLength >= 0 && f.written != f.head.ContentLength {
		// RFC 9112 §6.3: a body shorter than its Content-Length is
		// incomplete, whatever the writer says.
		err = fmt.Errorf("collapse: body of %d bytes, Content-Length %d: %w",
			f.written, f.head.ContentLength, io.ErrUnexpectedEOF)
	}
	f.ended, f.err = true, err
	if !f.headSet {
		f.headErr = err
		if f.headErr == nil {
			f.headErr = ErrNoHead
		}
		close(f.headReady)
	}
	f.data.Broadcast()
	f.room.Broadcast()
	f.mu.Unlock()
	f.group.remove(f.key, f)
}

// Head waits for the head to be published and returns it, or the error
// the fill failed with, or ctx's error if ctx ends first.
func (f *Fill) Head(ctx context.Context) (Head, error) {
	select {
	case <-f.headReady:
	default:
		select {
		case <-f.headReady:
		case <-ctx.Done():
			return Head{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head, f.headErr
}

// Write appends p to the body and wakes every reader. It waits only while
// the fill is streaming beyond its RetainLimit and the slowest reader is
// more than Window bytes behind.
func (f *Fill) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		free, err := f.reserve()
		if err != nil {
			return total - len(p), err
		}
		n := copy(free, p)
		p = p[n:]
		f.commit(n)
	}
	return total, nil
}

// ReadFrom appends what it reads from r to the body until r reports io.EOF,
// as Write would, but reads straight into the fill's buffer: io.Copy(f,
// resp.Body) then copies each byte once, from the socket to where readers
// read it.
func (f *Fill) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if f.lengthReached() {
			// The preallocated buffer is full: look for the end without
			// adding a chunk that a complete body would never use.
			var probe [1]byte
			n, err := r.Read(probe[:])
			if n > 0 {
				if _, werr := f.Write(probe[:n]); werr != nil {
					return total, werr
				}
				total += int64(n)
			}
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			continue
		}
		free, err := f.reserve()
		if err != nil {
			return total, err
		}
		n, err := r.Read(free)
		total += int64(n)
		f.commit(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// lengthReached reports whether the body has reached its Content-Length.
func (f *Fill) lengthReached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headSet && f.head.ContentLength >= 0 && f.written >= f.head.ContentLength
}

// reserve returns the unwritten room of the last chunk, adding a chunk when
// it is full, after waiting for the slowest reader when streaming.
//
// Only the writer's goroutine writes into that room, and no reader looks
// there until commit moves written past it, under the lock: so the writer
// fills it without the lock while readers copy the bytes below.
func (f *Fill) reserve() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.retaining && !f.ended {
		f.waitForRoom()
		f.release()
	}
	if f.ended {
		return nil, ErrClosed
	}
	if !f.retaining && len(f.readers) == 0 && f.base() > 0 {
		// Nobody reads, and nobody can start to: the start is gone.
		return nil, ErrAbandoned
	}
	if len(f.chunks) == 0 || full(f.chunks[len(f.chunks)-1].b) {
		size := streamChunk
		if f.retaining {
			size = f.nextChunk
			f.nextChunk = min(2*f.nextChunk, maxChunk)
		}
		f.mu.Unlock()
		b := make([]byte, 0, size) // not under the lock: readers go on meanwhile
		f.mu.Lock()
		f.chunks = append(f.chunks, chunk{off: f.written, b: b})
	}
	tail := f.chunks[len(f.chunks)-1].b
	return tail[len(tail):cap(tail)], nil
}

// commit makes the n bytes written into reserve's room visible to readers.
func (f *Fill) commit(n int) {
	if n == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return // failed by another goroutine meanwhile: the bytes are not part of the body
	}
	last := &f.chunks[len(f.chunks)-1]
	last.b = last.b[:len(last.b)+n]
	f.written += int64(n)
	if f.retaining && f.written > f.retainLimit {
		f.retaining = false
	}
	f.data.Broadcast()
}

func full(b []byte) bool { return len(b) == cap(b) }

// waitForRoom blocks, with f.mu held, while the slowest attached reader is
// more than Window bytes behind, detaching readers that stay that far
// behind for StallTimeout.
//
// The stall clock restarts whenever the slowest position moves, so a slow
// reader that keeps reading holds the writer back (backpressure) while one
// that stops reading is detached once its time is up. A timer wakes the
// writer at that deadline: it takes f.mu before Broadcast, so the wake-up
// cannot fall between the writer's check of the deadline and its Wait.
func (f *Fill) waitForRoom() {
	var (
		timer   *time.Timer
		since   time.Time
		lastMin int64 = -1
	)
	for !f.ended {
		low := f.slowest()
		if f.written-low <= f.window {
			break
		}
		now := time.Now()
		if low != lastMin {
			lastMin, since = low, now
		}
		if wait := f.stallTimeout - now.Sub(since); wait > 0 {
			if timer == nil {
				timer = time.AfterFunc(wait, func() {
					f.mu.Lock()
					f.room.Broadcast()
					f.mu.Unlock()
				})
			} else {
				timer.Reset(wait)
			}
			f.writerWaiting = true
			f.room.Wait()
			f.writerWaiting = false
			continue
		}
		for r := range f.readers {
			if f.written-r.pos > f.window {
				r.err = fmt.Errorf("read body of %q at %d, %d bytes behind for %v: %w",
					f.key, r.pos, f.written-r.pos, f.stallTimeout, ErrStalled)
				delete(f.readers, r)
			}
		}
		f.data.Broadcast()
	}
	if timer != nil {
		timer.Stop()
	}
}

// slowest returns the lowest position among attached readers, or written
// when none is attached.
func (f *Fill) slowest() int64 {
	low := f.written
	for r := range f.readers {
		low = min(low, r.pos)
	}
	return low
}

// release drops the chunks that every attached reader has read, keeping the
// last Window bytes so that a viewer who joined but has not attached yet can
// still start at any offset within them. The last chunk, which the writer
// fills, is always kept.
func (f *Fill) release() {
	keep := min(f.slowest(), f.written-f.window)
	i := 0
	for i < len(f.chunks)-1 && f.chunks[i].off+int64(len(f.chunks[i].b)) <= keep {
		f.chunks[i] = chunk{}
		i++
	}
	if i > 0 {
		f.chunks = slices.Delete(f.chunks, 0, i)
	}
}

// held reports how many body bytes the fill holds in memory.
func (f *Fill) held() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, c := range f.chunks {
		n += int64(cap(c.b))
	}
	return n
}

// base returns the offset of the first byte still held.
func (f *Fill) base() int64 {
	if len(f.chunks) == 0 {
		return f.written
	}
	return f.chunks[0].off
}

// Body returns the whole body as one slice after a successful Close, if the
// fill retained it; ok is false otherwise. The slice is shared and must not
// be changed.
func (f *Fill) Body() (body []byte, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ended || f.err != nil {
		return nil, false
	}
	return f.joinedLocked()
}

// Complete ends a complete body like Close(nil), but first hands the whole
// body to keep, if the fill retained it. keep runs before any reader sees
// the end of the body and before the Group forgets the fill, so whatever
// keep stores is in place before a viewer of this fill can send its next
// request: with Close then Store, that request could miss and fetch again.
// keep runs as Store runs it.
func (f *Fill) Complete(keep func(body []byte)) {
	f.mu.Lock()
	ok := !f.ended && !f.invalidated && f.headSet && (f.head.ContentLength < 0 || f.written == f.head.ContentLength)
	var body []byte
	if ok {
		body, ok = f.joinedLocked()
	}
	if ok && keep != nil {
		keep(body)
	}
	f.mu.Unlock()
	f.end(nil)
}

// Store runs fn, which stores what this fill brought, unless the fill was
// invalidated, and reports whether it ran. fn runs with the fill locked, so
// Group.Invalidate either comes first (and fn does not run) or waits for fn
// (and whatever the invalidation deletes next includes what fn stored). fn
// must not call the Fill.
func (f *Fill) Store(fn func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.invalidated {
		return false
	}
	fn()
	return true
}

// joinedLocked returns the retained body as one slice. f.mu is held and the
// writer is done writing.
func (f *Fill) joinedLocked() ([]byte, bool) {
	if !f.retaining {
		return nil, false
	}
	if f.written == 0 {
		return []byte{}, true
	}
	if b := f.chunks[0].b; int64(len(b)) == f.written && len(b) == cap(b) {
		return b, true // preallocated from Content-Length
	}
	// An unknown length arrived in chunks: join them once into a slice of
	// exactly its length, and hold that from now on (readers look chunks
	// up by offset, so they carry on from it).
	b := make([]byte, 0, f.written)
	for _, c := range f.chunks {
		b = append(b, c.b...)
	}
	clear(f.chunks)
	f.chunks = append(f.chunks[:0], chunk{b: b})
	return b, true
}

// NewReader returns a reader of the body from offset. It may be called
// before the head is published; a viewer that attaches before waiting on
// Head cannot miss the start of a body beyond the RetainLimit. It returns
// ErrNotRetained when the bytes at offset have already been released.
func (f *Fill) NewReader(offset int64) (*Reader, error) {
	if offset < 0 {
		return nil, fmt.Errorf("collapse: read %q from offset %d: negative offset", f.key, offset)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if offset < f.base() {
		return nil, fmt.Errorf("collapse: read %q from offset %d, held from %d: %w",
			f.key, offset, f.base(), ErrNotRetained)
	}
	r := &Reader{f: f, pos: offset}
	f.readers[r] = struct{}{}
	return r, nil
}

// Reader reads a fill's body as it is written. Close detaches it, so that
// it no longer holds the writer back; Close may be called while a Read is
// waiting, to end it.
type Reader struct {
	f      *Fill
	pos    int64 // guarded by f.mu
	err    error // set when detached for stalling; guarded by f.mu
	closed bool  // guarded by f.mu
}

// Read reads the next bytes of the body, waiting until some arrive past what
// it has read. It returns io.EOF after the last byte of a complete body, and
// the fill's error after the last byte of a truncated one.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := r.f
	f.mu.Lock()
	for {
		if r.closed {
			f.mu.Unlock()
			return 0, ErrClosed
		}
		if r.err != nil {
			f.mu.Unlock()
			return 0, r.err
		}
		if r.pos < f.written {
			break
		}
		if f.ended {
			err := f.err
			f.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		f.data.Wait()
	}
	i, _ := slices.BinarySearchFunc(f.chunks, r.pos, func(c chunk, pos int64) int {
		if c.off+int64(len(c.b)) <= pos {
			return -1
		}
		if c.off > pos {
			return 1
		}
		return 0
	})
	c := f.chunks[i]
	src := c.b[r.pos-c.off:]
	f.mu.Unlock()

	// src lies below written: those bytes never change, and release keeps
	// their chunk while r, still at pos, is attached. A chunk released
	// after r is detached is only dropped, never reused, so this copy
	// stays valid.
	n := copy(p, src)

	f.mu.Lock()
	r.pos += int64(n)
	if f.writerWaiting {
		f.room.Signal()
	}
	f.mu.Unlock()
	return n, nil
}

// Close detaches r. It always returns nil.
func (r *Reader) Close() error {
	f := r.f
	f.mu.Lock()
	if !r.closed {
		r.closed = true
		delete(f.readers, r)
		if f.writerWaiting {
			f.room.Signal()
		}
		// Wake a Read of r that may be waiting for bytes.
		f.data.Broadcast()
	}
	f.mu.Unlock()
	return nil
}
