package edge

import (
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
		b, err := io.ReadAll(g.reader(2))
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
	b, err := io.ReadAll(truncated.reader(0))
	if string(b) != "hel" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %q %v, want the bytes then the error", b, err)
	}

	var none *growing // no file to follow: the tee calls these anyway
	none.wrote(1)
	none.finish(nil)
}
