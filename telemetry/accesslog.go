package telemetry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AccessLogOptions tunes an AccessLog. The zero value gives the defaults.
type AccessLogOptions struct {
	// BufferSize is how many bytes of records may wait for the writer.
	// When the writer falls this far behind, further records are dropped
	// (and counted) rather than making viewers wait. Default 1 MiB.
	BufferSize int
	// FlushInterval is the longest a record waits in the buffer before it
	// is written. Default and maximum: one second.
	FlushInterval time.Duration
	// OnError, when set, is called by the background flusher with each
	// write error. Errors are counted by WriteErrors either way.
	OnError func(error)
}

const (
	defaultBufferSize    = 1 << 20
	defaultFlushInterval = time.Second
	// maxPooledLine bounds the scratch buffers kept for reuse, so one
	// request with a huge cookie does not pin its line in memory.
	maxPooledLine = 16 << 10
)

// AccessLog writes Records in CloudFront's standard log format to a file or
// a stream. Log only formats the line and copies it into a memory buffer;
// a background flusher does the writing, so a slow disk costs dropped log
// lines (see Dropped), never viewer latency.
type AccessLog struct {
	name    string // for errors: the path, "stdout", "stderr" or "writer"
	path    string // set when the log owns a file that Reopen may reopen
	limit   int
	onError func(error)

	// mu guards the buffers and closed. Log holds it only to copy a line.
	mu     sync.Mutex
	buf    []byte // records waiting for the flusher
	spare  []byte // the other buffer; nil while the flusher writes it out
	closed bool

	// wmu serialises everything that touches the destination: flushes,
	// Reopen and Close. Log never takes it.
	wmu  sync.Mutex
	w    io.Writer
	file *os.File // non-nil when the log owns the destination

	dropped     atomic.Uint64
	writeErrors atomic.Uint64

	kick    chan struct{} // asks the flusher to write now (buffer half full)
	done    chan struct{} // closed by Close to stop the flusher
	stopped chan struct{} // closed by the flusher when it has stopped
}

// OpenAccessLog opens an access log with default options. dest is "stdout",
// "stderr" or a file path; a file is opened for appending (created 0644),
// and the #Version and #Fields header lines are written when it is new or
// empty. On a stream the header lines start the output.
func OpenAccessLog(dest string) (*AccessLog, error) {
	return OpenAccessLogWith(dest, AccessLogOptions{})
}

// OpenAccessLogWith is OpenAccessLog with options.
func OpenAccessLogWith(dest string, o AccessLogOptions) (*AccessLog, error) {
	switch dest {
	case "stdout":
		return newAccessLog(os.Stdout, nil, "stdout", "", true, o), nil
	case "stderr":
		return newAccessLog(os.Stderr, nil, "stderr", "", true, o), nil
	case "":
		return nil, errors.New("open access log: no destination (want stdout, stderr or a file path)")
	}
	f, err := openLogFile(dest)
	if err != nil {
		return nil, err
	}
	return newAccessLog(f, f, dest, dest, false, o), nil
}

// NewAccessLog returns an access log that writes to w, starting with the
// header lines. The caller keeps ownership of w: Close does not close it.
func NewAccessLog(w io.Writer, o AccessLogOptions) *AccessLog {
	return newAccessLog(w, nil, "writer", "", true, o)
}

func newAccessLog(w io.Writer, file *os.File, name, path string, header bool, o AccessLogOptions) *AccessLog {
	l := &AccessLog{
		name:    name,
		path:    path,
		limit:   o.BufferSize,
		onError: o.OnError,
		w:       w,
		file:    file,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if l.limit <= 0 {
		l.limit = defaultBufferSize
	}
	every := o.FlushInterval
	if every <= 0 || every > defaultFlushInterval {
		every = defaultFlushInterval
	}
	l.buf = make([]byte, 0, min(l.limit, 64<<10))
	l.spare = make([]byte, 0, cap(l.buf))
	if header {
		// Through the buffer, so a stream that blocks cannot block the
		// caller; the header still precedes every record.
		l.buf = append(l.buf, LogHeader...)
	}
	go l.flusher(every)
	return l
}

// openLogFile opens path for appending and writes the header lines if the
// file is empty.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open access log: %w", err)
	}
	if st.Size() == 0 {
		if _, err := io.WriteString(f, LogHeader); err != nil {
			f.Close()
			return nil, fmt.Errorf("open access log %s: write header: %w", path, err)
		}
	}
	return f, nil
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Log queues r for writing. It never waits for the destination: when the
// buffer is full, or the log is closed, the record is dropped and counted.
func (l *AccessLog) Log(r *Record) {
	bp := linePool.Get().(*[]byte)
	line := AppendRecord((*bp)[:0], r)

	l.mu.Lock()
	ok := !l.closed && len(l.buf)+len(line) <= l.limit
	if ok {
		l.buf = append(l.buf, line...)
	}
	kick := len(l.buf) >= l.limit/2
	l.mu.Unlock()

	if cap(line) <= maxPooledLine {
		*bp = line
		linePool.Put(bp)
	}
	if !ok {
		l.dropped.Add(1)
		return
	}
	if kick {
		select {
		case l.kick <- struct{}{}:
		default: // a flush is already asked for
		}
	}
}

// Dropped reports how many records were dropped because the buffer was full
// (the destination could not keep up) or the log was closed.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// WriteErrors reports how many writes to the destination failed. The
// records of a failed write are lost.
func (l *AccessLog) WriteErrors() uint64 { return l.writeErrors.Load() }

func (l *AccessLog) flusher(every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		case <-l.done:
			return
		}
		if err := l.flush(); err != nil && l.onError != nil {
			l.onError(err)
		}
	}
}

func (l *AccessLog) flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.flushLocked()
}

// flushLocked writes out the buffered records; l.wmu must be held.
//
// The buffers swap under l.mu and the write happens outside it: Log keeps
// filling the other buffer while this one is written, and only when that
// one fills too does Log start dropping. Holding l.wmu for the whole flush
// means at most one buffer is ever out, so spare is always there to swap in.
func (l *AccessLog) flushLocked() error {
	l.mu.Lock()
	out := l.buf
	l.buf, l.spare = l.spare, nil
	l.mu.Unlock()

	var err error
	if len(out) > 0 {
		if _, werr := l.w.Write(out); werr != nil {
			l.writeErrors.Add(1)
			err = fmt.Errorf("write access log %s: %w", l.name, werr)
		}
	}

	l.mu.Lock()
	l.spare = out[:0]
	l.mu.Unlock()
	return err
}

// Reopen flushes what is buffered to the current file, then reopens the
// file by its path, so that a log rotator that renamed the file gets a new
// one (with header lines). It is a no-op for streams. If the path cannot be
// opened, logging continues to the old file and the error is returned.
func (l *AccessLog) Reopen() error {
	if l.path == "" {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return fmt.Errorf("reopen access log %s: log is closed", l.name)
	}
	ferr := l.flushLocked()
	f, err := openLogFile(l.path)
	if err != nil {
		return errors.Join(ferr, fmt.Errorf("reopen: %w", err))
	}
	old := l.file
	l.file, l.w = f, f
	if err := old.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("reopen access log %s: close old file: %w", l.name, err))
	}
	return ferr
}

// Close stops the flusher, writes what is buffered, and closes the file the
// log opened. Records logged after Close are dropped. Close is idempotent.
func (l *AccessLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()

	close(l.done)
	<-l.stopped

	l.wmu.Lock()
	defer l.wmu.Unlock()
	err := l.flushLocked()
	if l.file != nil {
		if cerr := l.file.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close access log %s: %w", l.name, cerr))
		}
	}
	return err
}
