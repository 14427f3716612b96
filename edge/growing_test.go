package edge

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGrowingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "body")
	f, _ := os.Create(path)
	defer f.Close()
	g := newGrowing(path)
	f.Write([]byte("hello "))
	g.wrote(6)
	got := make(chan string, 1)
	go func() {
		b, err := io.ReadAll(g.reader(context.Background(), 2))
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b)
	}()
	time.Sleep(20 * time.Millisecond) // the reader waits for what is not written
	f.Write([]byte("world"))
	g.wrote(5)
	g.finish(nil)
	if s := <-got; s != "llo world" {
		t.Errorf("read %q", s)
	}

	truncated := newGrowing(path)
	truncated.wrote(3)
	truncated.finish(io.ErrUnexpectedEOF)
	b, err := io.ReadAll(truncated.reader(context.Background(), 0))
	if string(b) != "hel" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %q %v, want the bytes then the error", b, err)
	}

	// A viewer who leaves stops waiting at once.
	waiting := newGrowing(path)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := waiting.reader(ctx, 0).Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a left viewer's read ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a viewer who left kept waiting for bytes")
	}

	var none *growing // no file to follow: the tee calls these anyway
	none.wrote(1)
	none.finish(nil)
}
