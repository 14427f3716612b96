package edge

import (
	"context"
	"io"
	"os"
	"sync"
)

// growing follows a body being written to a disk tier's file, so that a
// viewer who joins a large download after the fill's window has moved past
// the bytes it needs reads them from the file as it grows, instead of
// fetching the object again. All methods are safe on a nil *growing.
type growing struct {
	path string
	mu   sync.Mutex
	more sync.Cond // broadcast when n grows or the body ends
	n    int64     // bytes in the file
	done bool
	err  error // why the body ended early; nil once complete
}

func newGrowing(path string) *growing {
	g := &growing{path: path}
	g.more.L = &g.mu
	return g
}

// wrote records n more bytes in the file.
func (g *growing) wrote(n int64) {
	if g == nil || n == 0 {
		return
	}
	g.mu.Lock()
	g.n += n
	g.mu.Unlock()
	g.more.Broadcast()
}

// finish ends the body: complete with a nil err, else truncated.
func (g *growing) finish(err error) {
	if g == nil {
		return
	}
	g.mu.Lock()
	if !g.done {
		g.done, g.err = true, err
	}
	g.mu.Unlock()
	g.more.Broadcast()
}

// reader reads the body from off, waiting for bytes not written yet, until
// ctx (the viewer's request) ends.
func (g *growing) reader(ctx context.Context, off int64) io.ReadCloser {
	r := &growingReader{g: g, ctx: ctx, pos: off}
	// A viewer who leaves must not wait for the next bytes to notice.
	r.stop = context.AfterFunc(ctx, func() {
		// Under the lock: a reader between its ctx check and Wait cannot
		// miss the wake-up.
		g.mu.Lock()
		g.more.Broadcast()
		g.mu.Unlock()
	})
	return r
}

type growingReader struct {
	g    *growing
	ctx  context.Context
	stop func() bool
	f    *os.File
	pos  int64
}

func (r *growingReader) Read(p []byte) (int, error) {
	g := r.g
	g.mu.Lock()
	for r.pos >= g.n && !g.done && r.ctx.Err() == nil {
		g.more.Wait()
	}
	if err := r.ctx.Err(); err != nil && r.pos >= g.n && !g.done {
		g.mu.Unlock()
		return 0, err
	}
	n, done, err := g.n, g.done, g.err
	g.mu.Unlock()
	if r.pos >= n {
		if done && err == nil {
			return 0, io.EOF
		}
		return 0, err
	}
	if r.f == nil {
		f, err := os.Open(g.path)
		if err != nil {
			return 0, err // aborted and removed meanwhile
		}
		r.f = f
	}
	if int64(len(p)) > n-r.pos {
		p = p[:n-r.pos]
	}
	m, rerr := r.f.ReadAt(p, r.pos)
	r.pos += int64(m)
	if rerr == io.EOF && m > 0 {
		rerr = nil
	}
	return m, rerr
}

func (r *growingReader) Close() error {
	r.stop()
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
