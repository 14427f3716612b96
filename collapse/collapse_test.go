package collapse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// body returns n bytes that differ at every offset a test could confuse.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// writeAll publishes a head and writes b in pieces of size step; step 0
// means by io.Copy from a reader that returns half of what it is asked for.
func writeAll(t testing.TB, f *Fill, contentLength int64, b []byte, step int) {
	f.Publish(Head{Status: 200, Shareable: true, ContentLength: contentLength})
	if step == 0 {
		if _, err := io.Copy(f, iotest.HalfReader(bytes.NewReader(b))); err != nil {
			t.Errorf("io.Copy: %v", err)
		}
		return
	}
	for len(b) > 0 {
		n := min(step, len(b))
		if _, err := f.Write(b[:n]); err != nil {
			t.Errorf("Write: %v", err)
			return
		}
		b = b[n:]
	}
}

func TestJoinOneLeader(t *testing.T) {
	var g Group
	var (
		mu      sync.Mutex
		leaders int
		fills   = map[*Fill]int{}
		start   = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 200 {
		wg.Go(func() {
			<-start
			f, leader := g.Join("/video.mp4")
			mu.Lock()
			fills[f]++
			if leader {
				leaders++
			}
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if leaders != 1 || len(fills) != 1 {
		t.Fatalf("200 joins made %d leaders and %d fills, want 1 and 1", leaders, len(fills))
	}
	if _, leader := g.Join("/other"); !leader {
		t.Fatal("Join of another key was not a leader")
	}
}

func TestReadersReceiveEveryByte(t *testing.T) {
	tests := []struct {
		name          string
		group         *Group
		size, step    int
		contentLength int64 // -2: the body's own length
		retained      bool
	}{
		{"known length", &Group{}, 100_000, 4096, -2, true},
		{"unknown length", &Group{}, 300_000, 1000, -1, true},
		{"empty", &Group{}, 0, 1, -2, true},
		{"one big write", &Group{}, 3 << 20, 3 << 20, -1, true},
		{"beyond retain limit, known", New(64<<10, 32<<10), 1 << 20, 8192, -2, false},
		{"beyond retain limit, discovered", New(64<<10, 32<<10), 1 << 20, 5000, -1, false},
		{"never retain", New(-1, 16<<10), 200_000, 3000, -1, false},
		{"io.Copy, known length", &Group{}, 100_000, 0, -2, true},
		{"io.Copy, unknown length", &Group{}, 100_000, 0, -1, true},
		{"io.Copy, beyond retain limit", New(32<<10, 16<<10), 1 << 20, 0, -2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := body(tt.size)
			cl := tt.contentLength
			if cl == -2 {
				cl = int64(tt.size)
			}
			f, leader := tt.group.Join("k")
			if !leader {
				t.Fatal("first Join was not the leader")
			}
			const readers = 8
			got := make([][]byte, readers)
			errs := make([]error, readers)
			var wg sync.WaitGroup
			for i := range readers {
				// Attach before the first byte, as a joined viewer does.
				r, err := f.NewReader(0)
				if err != nil {
					t.Fatalf("NewReader(0) before the first byte: %v", err)
				}
				wg.Go(func() {
					defer r.Close()
					if _, err := f.Head(context.Background()); err != nil {
						errs[i] = err
						return
					}
					got[i], errs[i] = io.ReadAll(r)
				})
			}
			writeAll(t, f, cl, want, tt.step)
			f.Close(nil)
			wg.Wait()
			for i := range readers {
				if errs[i] != nil || !bytes.Equal(got[i], want) {
					t.Fatalf("reader %d: %d bytes, err %v; want the %d bytes written", i, len(got[i]), errs[i], len(want))
				}
			}
			b, ok := f.Body()
			if ok != tt.retained {
				t.Fatalf("Body() ok = %v, want %v", ok, tt.retained)
			}
			if ok && (!bytes.Equal(b, want) || b == nil || cap(b) != len(want)) {
				t.Fatalf("Body() = %d bytes (cap %d, nil %v), want exactly the %d bytes written", len(b), cap(b), b == nil, len(want))
			}
		})
	}
}

// The first chunk reaches a reader while the writer is still waiting for the
// second: viewers are served as the origin sends, not after it ends.
func TestStreamsBeforeFillEnds(t *testing.T) {
	var g Group
	f, _ := g.Join("k")
	r, err := f.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	second := make(chan struct{})
	go func() {
		f.Publish(Head{Status: 200, ContentLength: -1})
		f.Write([]byte("first "))
		<-second // the origin has not sent more yet
		f.Write([]byte("second"))
		f.Close(nil)
	}()
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "first " {
		t.Fatalf("Read while the writer waits = %q, %v; want %q", buf[:n], err, "first ")
	}
	close(second)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest = %q, %v; want %q", rest, err, "second")
	}
}

func TestFillEndsEarly(t *testing.T) {
	errOrigin := errors.New("origin reset the connection")
	tests := []struct {
		name          string
		contentLength int64
		write         string
		end           func(*Fill)
		headErr       error
		readErr       error
	}{
		{"truncated by writer", -1, "partial", func(f *Fill) { f.Close(errOrigin) }, nil, errOrigin},
		{"failed after publish", 100, "partial", func(f *Fill) { f.Fail(errOrigin) }, nil, errOrigin},
		{"shorter than content-length", 100, "partial", func(f *Fill) { f.Close(nil) }, nil, io.ErrUnexpectedEOF},
		{"longer than content-length", 3, "partial", func(f *Fill) { f.Close(nil) }, nil, io.ErrUnexpectedEOF},
		{"failed before publish", -2, "", func(f *Fill) { f.Fail(errOrigin) }, errOrigin, errOrigin},
		{"closed before publish", -2, "", func(f *Fill) { f.Close(nil) }, ErrNoHead, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g Group
			f, _ := g.Join("k")
			r, _ := f.NewReader(0)
			if tt.contentLength != -2 {
				f.Publish(Head{Status: 200, ContentLength: tt.contentLength})
				f.Write([]byte(tt.write))
			}
			tt.end(f)
			if _, err := f.Head(context.Background()); !errors.Is(err, tt.headErr) || (tt.headErr == nil) != (err == nil) {
				t.Fatalf("Head() error = %v, want %v", err, tt.headErr)
			}
			got, err := io.ReadAll(r)
			if tt.readErr == io.EOF {
				if err != nil {
					t.Fatalf("ReadAll error = %v, want none", err)
				}
			} else if !errors.Is(err, tt.readErr) {
				t.Fatalf("ReadAll = %q, %v; want error %v", got, err, tt.readErr)
			}
			if string(got) != tt.write {
				t.Fatalf("ReadAll read %q before the error, want %q", got, tt.write)
			}
			if _, ok := f.Body(); ok && tt.readErr != io.EOF {
				t.Fatal("Body() ok for a fill that ended early")
			}
			if _, leader := g.Join("k"); !leader {
				t.Fatal("Join after the fill ended did not start a new fill")
			}
		})
	}
}

// The viewer whose miss started the fetch goes away; everyone else still
// gets the whole object, and it can still be stored.
func TestLeaderViewerGoingAwayDoesNotCancelOthers(t *testing.T) {
	var g Group
	want := body(200_000)
	ctx, cancel := context.WithCancel(context.Background())
	f, leader := g.Join("k")
	if !leader {
		t.Fatal("not leader")
	}
	publish, proceed := make(chan struct{}), make(chan struct{})
	go func() { // detached from ctx, as the edge runs it
		<-publish
		f.Publish(Head{Status: 200, Shareable: true, ContentLength: int64(len(want))})
		f.Write(want[:1000])
		<-proceed
		f.Write(want[1000:])
		f.Close(nil)
	}()
	leaderReader, err := f.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := g.Join("k")
	otherReader, err := other.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	// The leader's viewer gives up while waiting for the head...
	cancel()
	if _, err := f.Head(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Head with a cancelled context = %v, want context.Canceled", err)
	}
	close(publish)
	// ...or in the middle of the body.
	if _, err := io.ReadFull(leaderReader, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	leaderReader.Close()
	close(proceed)
	if h, err := other.Head(context.Background()); err != nil || h.Status != 200 {
		t.Fatalf("the other viewer's Head = %+v, %v", h, err)
	}
	got, err := io.ReadAll(otherReader)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the other viewer read %d bytes, %v; want %d", len(got), err, len(want))
	}
	if b, ok := f.Body(); !ok || !bytes.Equal(b, want) {
		t.Fatal("Body() lost after the leader's viewer went away")
	}
	if _, err := leaderReader.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
}

// A body beyond the retain limit streams through a window: memory stays
// bounded however large the body, and a slow reader holds the writer back.
func TestLargeBodyBoundedMemoryAndBackpressure(t *testing.T) {
	const (
		window = 64 << 10
		step   = 4 << 10
		size   = 4 << 20
	)
	g := &Group{RetainLimit: 1 << 20, Window: window, StallTimeout: time.Minute}
	want := body(size)
	f, _ := g.Join("k")
	r, err := f.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	var maxHeld int64
	wrote := make(chan int64, size/step)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Publish(Head{Status: 200, ContentLength: size}) // > RetainLimit: streams from the start
		for off := 0; off < size; off += step {
			if _, err := f.Write(want[off : off+step]); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			maxHeld = max(maxHeld, f.held())
			wrote <- int64(off + step)
		}
		f.Close(nil)
	}()

	// The reader reads nothing: the writer must stop at the window.
	limit := int64(window + step)
	var last int64
	for stalled := false; !stalled; {
		select {
		case last = <-wrote:
			if last > limit {
				t.Fatalf("writer reached %d bytes with an idle reader, want <= %d", last, limit)
			}
		case <-time.After(100 * time.Millisecond):
			stalled = true
		}
	}
	if last < window {
		t.Fatalf("writer stopped at %d bytes, before filling the %d-byte window", last, window)
	}

	// Reading lets it through.
	got := make([]byte, 0, size)
	buf := make([]byte, 1000)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) == size/2 {
			if _, err := f.NewReader(0); !errors.Is(err, ErrNotRetained) {
				t.Fatalf("NewReader(0) halfway through a body beyond the retain limit = %v, want ErrNotRetained", err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	<-done
	if !bytes.Equal(got, want) {
		t.Fatalf("reader got %d bytes, not the %d written", len(got), len(want))
	}
	// Chunks are whole streamChunk slices: one partly read, one partly
	// written, around the window.
	if bound := int64(window + 2*streamChunk); maxHeld > bound {
		t.Fatalf("fill held up to %d bytes, want <= %d", maxHeld, bound)
	}
	if _, ok := f.Body(); ok {
		t.Fatal("Body() ok for a body beyond the retain limit")
	}
}

// A viewer that stops reading cannot hold the download for everyone.
func TestStalledReaderDetached(t *testing.T) {
	const stall = 50 * time.Millisecond
	g := &Group{RetainLimit: -1, Window: 16 << 10, StallTimeout: stall}
	want := body(1 << 20)
	f, _ := g.Join("k")
	dead, _ := f.NewReader(0)
	alive, _ := f.NewReader(0)
	start := time.Now()
	go func() {
		writeAll(t, f, int64(len(want)), want, 8<<10)
		f.Close(nil)
	}()
	got, err := io.ReadAll(alive)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("live reader got %d bytes, %v; want %d", len(got), err, len(want))
	}
	if elapsed := time.Since(start); elapsed < stall || elapsed > 20*stall {
		t.Fatalf("body took %v with a dead reader, want about StallTimeout %v", elapsed, stall)
	}
	n, err := io.ReadAll(dead)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("dead reader: %d bytes, %v; want ErrStalled", len(n), err)
	}
}

// A slow reader that keeps reading is not taken for a stalled one.
func TestSlowReaderNotDetached(t *testing.T) {
	g := &Group{RetainLimit: -1, Window: 4 << 10, StallTimeout: 30 * time.Millisecond}
	want := body(64 << 10)
	f, _ := g.Join("k")
	r, _ := f.NewReader(0)
	go func() {
		writeAll(t, f, -1, want, 1<<10)
		f.Close(nil)
	}()
	var got []byte
	buf := make([]byte, 2<<10)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow reader after %d bytes: %v", len(got), err)
		}
		time.Sleep(5 * time.Millisecond) // slower than the writer, faster than StallTimeout
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("slow reader got %d bytes, want %d", len(got), len(want))
	}
}

func TestNewReaderOffset(t *testing.T) {
	want := body(50_000)
	for _, off := range []int64{0, 1, 4095, 4096, 30_000, 49_999, 50_000} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			var g Group
			f, _ := g.Join("k")
			r, err := f.NewReader(off)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				writeAll(t, f, -1, want, 777)
				f.Close(nil)
			}()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want[off:]) {
				t.Fatalf("from %d: %d bytes, %v; want %d", off, len(got), err, len(want)-int(off))
			}
		})
	}
	var g Group
	f, _ := g.Join("k")
	if _, err := f.NewReader(-1); err == nil {
		t.Fatal("NewReader(-1) succeeded")
	}
}

func TestReaderCloseEndsWaitingRead(t *testing.T) {
	var g Group
	f, _ := g.Join("k")
	r, _ := f.NewReader(0)
	errc := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 10))
		errc <- err
	}()
	r.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Read after Close = %v, want ErrClosed", err)
	}
}

func TestHeadWaitsForPublish(t *testing.T) {
	var g Group
	f, _ := g.Join("k")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.Head(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Head before Publish = %v, want the context's deadline", err)
	}
	f.Publish(Head{Status: 206, Meta: "m", ContentLength: 5})
	f.Publish(Head{Status: 500}) // ignored
	h, err := f.Head(context.Background())
	if err != nil || h.Status != 206 || h.Meta != "m" {
		t.Fatalf("Head = %+v, %v; want the first published head", h, err)
	}
	f.Close(nil)
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkJoinAndRead(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		for _, readers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%dB/%dreaders", size, readers), func(b *testing.B) {
				src := body(size)
				var g Group
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					f, _ := g.Join("k")
					var wg sync.WaitGroup
					for range readers {
						f, _ := g.Join("k")
						r, err := f.NewReader(0)
						if err != nil {
							b.Fatal(err)
						}
						wg.Go(func() {
							io.Copy(io.Discard, r)
							r.Close()
						})
					}
					f.Publish(Head{Status: 200, Shareable: true, ContentLength: int64(size)})
					// As the edge does; the struct hides bytes.Reader's WriteTo,
					// which an origin response body does not have.
					if _, err := io.Copy(f, struct{ io.Reader }{bytes.NewReader(src)}); err != nil {
						b.Fatal(err)
					}
					f.Close(nil)
					wg.Wait()
				}
			})
		}
	}
}

// TestCompleteKeepsBeforeReadersSeeTheEnd: what keep stores is in place
// before any reader gets io.EOF and before the Group forgets the fill, so a
// viewer's next request cannot slip between the end of the body and the
// store.
func TestCompleteKeepsBeforeReadersSeeTheEnd(t *testing.T) {
	var g Group
	f, _ := g.Join("k")
	f.Publish(Head{Status: 200, ContentLength: 5, Shareable: true})
	r, err := f.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	var stored atomic.Pointer[[]byte]
	f.Write([]byte("hello"))
	done := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(r)
		if err == nil && stored.Load() == nil {
			err = errors.New("reader saw the end before keep ran")
		}
		if err == nil && string(b) != "hello" {
			err = fmt.Errorf("read %q", b)
		}
		done <- err
	}()
	f.Complete(func(body []byte) {
		time.Sleep(20 * time.Millisecond) // a slow store must still come first
		if g2, leader := g.Join("k"); leader || g2 != f {
			t.Error("the Group forgot the fill before keep returned")
		}
		stored.Store(&body)
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b := stored.Load(); b == nil || string(*b) != "hello" {
		t.Fatal("keep did not get the body")
	}
	if _, leader := g.Join("k"); !leader {
		t.Error("the Group still holds the completed fill")
	}

	// A body shorter than its Content-Length is not kept.
	f2, _ := g.Join("short")
	f2.Publish(Head{Status: 200, ContentLength: 5})
	f2.Write([]byte("hi"))
	f2.Complete(func([]byte) { t.Error("keep called for a truncated body") })
}

// TestInvalidateForgetsAndStopsStoring: fills in flight under a prefix are
// forgotten (the next Join leads a new fetch) and store nothing; their
// readers still get the body; other keys are untouched.
func TestInvalidateForgetsAndStopsStoring(t *testing.T) {
	var g Group
	a, _ := g.Join("d\x00/a\x00")
	b, _ := g.Join("d\x00/b\x00")
	a.Publish(Head{Status: 200, ContentLength: 3, Shareable: true})
	r, _ := a.NewReader(0)
	if n := g.Invalidate("d\x00/a\x00"); n != 1 {
		t.Fatalf("Invalidate found %d fills, want 1", n)
	}
	a2, leader := g.Join("d\x00/a\x00")
	if !leader {
		t.Error("an invalidated fill is still joined")
	}
	if _, leader := g.Join("d\x00/b\x00"); leader {
		t.Error("a fill outside the prefix was forgotten")
	}
	a.Write([]byte("old"))
	a.Complete(func([]byte) { t.Error("an invalidated fill stored its body") })
	// The old fill's end must not make the Group forget the new one.
	if f, leader := g.Join("d\x00/a\x00"); leader || f != a2 {
		t.Error("the invalidated fill's end dropped the newer fill for its key")
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "old" {
		t.Errorf("reader of the invalidated fill: %q %v", got, err)
	}
	if a.Store(func() { t.Error("Store ran for an invalidated fill") }) {
		t.Error("Store reported it ran")
	}
	ran := false
	if !b.Store(func() { ran = true }) || !ran {
		t.Error("Store did not run for a valid fill")
	}
}

// TestInvalidateWaitsForStoreInProgress: an invalidation that arrives while
// a fill stores comes after it, so the invalidation's deletes see what was
// stored.
func TestInvalidateWaitsForStoreInProgress(t *testing.T) {
	var g Group
	f, _ := g.Join("k")
	storing := make(chan struct{})
	var stored atomic.Bool
	go f.Store(func() {
		close(storing)
		time.Sleep(30 * time.Millisecond)
		stored.Store(true)
	})
	<-storing
	g.Invalidate("k")
	if !stored.Load() {
		t.Error("Invalidate returned while a Store was still running")
	}
}

// TestAbandonedLargeFillStops: a body beyond the retain limit that every
// reader has left stops the writer, instead of fetching the rest for no one.
func TestAbandonedLargeFillStops(t *testing.T) {
	g := Group{RetainLimit: 1 << 10, Window: 64 << 10}
	f, _ := g.Join("big")
	f.Publish(Head{Status: 200, ContentLength: 32 << 20, Shareable: true})
	r, _ := f.NewReader(0)
	buf := make([]byte, 1024)
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(f, io.LimitReader(neverEnding('x'), 32<<20))
		errc <- err
	}()
	io.ReadFull(r, buf)
	r.Close() // the only viewer leaves after 1 KiB
	select {
	case err := <-errc:
		if !errors.Is(err, ErrAbandoned) {
			t.Fatalf("writer ended with %v, want ErrAbandoned", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer went on with no reader")
	}
	if w := f.written; w >= 32<<20 {
		t.Errorf("wrote all %d bytes for nobody", w)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
