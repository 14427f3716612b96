package telemetry

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAccessLogFileHeaderAndRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	r := knownRecord()
	l.Log(r)
	l.Log(r)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	line := string(AppendRecord(nil, r))
	if got, want := readFile(t, path), LogHeader+line+line; got != want {
		t.Fatalf("file:\n%q\nwant:\n%q", got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("file mode %v, want at most 0644", perm)
	}
}

func TestAccessLogAppendsAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	line := string(AppendRecord(nil, knownRecord()))
	for range 3 {
		l, err := OpenAccessLog(path)
		if err != nil {
			t.Fatal(err)
		}
		l.Log(knownRecord())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readFile(t, path), LogHeader+line+line+line; got != want {
		t.Fatalf("header must appear once, records appended:\n%q", got)
	}
}

func TestAccessLogHeaderOnEmptyExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != LogHeader {
		t.Fatalf("got %q, want the header lines", got)
	}
}

func TestAccessLogReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := knownRecord()
	line := string(AppendRecord(nil, r))

	l.Log(r)
	// A rotator renames the file, then asks for a reopen (SIGHUP).
	rotated := filepath.Join(dir, "access.log.1")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	r2 := knownRecord()
	r2.URIStem = "/after"
	l.Log(r2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, rotated); got != LogHeader+line {
		t.Errorf("rotated file got %q: records logged before Reopen belong there", got)
	}
	if got, want := readFile(t, path), LogHeader+string(AppendRecord(nil, r2)); got != want {
		t.Errorf("new file got %q, want %q", got, want)
	}
}

func TestAccessLogReopenWithoutRotationAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(knownRecord())
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(knownRecord())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	line := string(AppendRecord(nil, knownRecord()))
	if got := readFile(t, path); got != LogHeader+line+line {
		t.Fatalf("got %q", got)
	}
}

func TestAccessLogReopenFailureKeepsLogging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(dir, "old.log")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil { // the path cannot be opened as a file
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen onto a directory succeeded")
	}
	l.Log(knownRecord())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, rotated); got != LogHeader+string(AppendRecord(nil, knownRecord())) {
		t.Fatalf("records after a failed Reopen must go to the old file, got %q", got)
	}
}

func TestOpenAccessLogErrors(t *testing.T) {
	for _, dest := range []string{"", filepath.Join(t.TempDir(), "missing", "access.log")} {
		if l, err := OpenAccessLog(dest); err == nil {
			l.Close()
			t.Errorf("OpenAccessLog(%q) succeeded", dest)
		}
	}
}

func TestAccessLogFlushesWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := OpenAccessLog(path) // default interval: at most a second
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(knownRecord())
	want := LogHeader + string(AppendRecord(nil, knownRecord()))
	deadline := time.Now().Add(1500 * time.Millisecond)
	for readFile(t, path) != want {
		if time.Now().After(deadline) {
			t.Fatalf("record not on disk 1.5s after Log: %q", readFile(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blockingWriter stands in for a disk that has stopped answering: every
// Write waits until release is closed.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func TestAccessLogSlowWriterDropsInsteadOfBlocking(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	l := NewAccessLog(w, AccessLogOptions{BufferSize: 4 << 10, FlushInterval: time.Millisecond})
	r := knownRecord()
	const n = 2000

	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for range n {
			l.Log(r)
		}
	}()
	select {
	case <-logged:
	case <-time.After(5 * time.Second):
		close(w.release) // let the test end
		t.Fatalf("Log blocked behind a stalled writer")
	}
	dropped := l.Dropped()
	if dropped == 0 {
		t.Fatal("no drops counted although the writer never returned")
	}

	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := w.buf.String()
	if !strings.HasPrefix(out, LogHeader) {
		t.Fatalf("output does not start with the header lines")
	}
	written := strings.Count(out, "\n") - 2
	if uint64(written)+l.Dropped() != n {
		t.Errorf("written %d + dropped %d != logged %d: records lost without being counted", written, l.Dropped(), n)
	}
	if l.Dropped() != dropped {
		t.Errorf("drops grew from %d to %d after the writer recovered", dropped, l.Dropped())
	}
	line := string(AppendRecord(nil, r))
	if strings.Count(out, line) != written {
		t.Errorf("a written record was torn or interleaved")
	}
}

func TestAccessLogAfterClose(t *testing.T) {
	var buf bytes.Buffer
	l := NewAccessLog(&buf, AccessLogOptions{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Log(knownRecord())
	if l.Dropped() != 1 {
		t.Errorf("Dropped() = %d after logging to a closed log, want 1", l.Dropped())
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if buf.String() != LogHeader {
		t.Errorf("closed log wrote %q", buf.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAccessLogWriteErrors(t *testing.T) {
	errs := make(chan error, 10)
	l := NewAccessLog(failingWriter{}, AccessLogOptions{
		FlushInterval: time.Millisecond,
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	})
	l.Log(knownRecord())
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "disk full") {
			t.Errorf("error %q does not wrap the cause", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("OnError not called")
	}
	l.Close()
	if l.WriteErrors() == 0 {
		t.Error("WriteErrors() = 0 after failed writes")
	}
}

func TestAccessLogConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := OpenAccessLogWith(path, AccessLogOptions{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := knownRecord()
			r.ClientPort = 1000 + g
			for range 200 {
				l.Log(r)
			}
		})
		if g == 4 {
			if err := l.Reopen(); err != nil {
				t.Error(err)
			}
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
	if got := uint64(len(lines)-2) + l.Dropped(); got != 1600 {
		t.Fatalf("%d lines + %d dropped, want 1600", len(lines)-2, l.Dropped())
	}
	for _, line := range lines[2:] {
		if strings.Count(line, "\t") != 32 {
			t.Fatalf("torn line %q", line)
		}
	}
}

func BenchmarkAccessLogLog(b *testing.B) {
	l := NewAccessLog(discard{}, AccessLogOptions{})
	defer l.Close()
	r := knownRecord()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(r)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
