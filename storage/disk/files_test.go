package disk

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/terncdn/tern/cache"
)

// openDataFiles counts this process's descriptors open on s's data files,
// removed or not.
func openDataFiles(t testing.TB, s *Store) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, s.dir+"/") {
			n++
		}
	}
	return n
}

// borrowRead borrows obj's file, reads the body through it and gives it
// back.
func borrowRead(t testing.TB, obj *cache.Object) []byte {
	t.Helper()
	sf := obj.File.(cache.SharedFileBody)
	f, off, err := sf.Borrow()
	if err != nil {
		t.Fatalf("Borrow: %v", err)
	}
	defer sf.Return(f)
	b, err := io.ReadAll(io.NewSectionReader(f, off, obj.File.Len()))
	if err != nil {
		t.Fatalf("read borrowed file: %v", err)
	}
	return b
}

func TestOpenFilesKeptAndClosed(t *testing.T) {
	tests := []struct {
		name string
		// change runs between a hit and the next one; want is the body the
		// next Get serves (nil: a miss).
		change func(s *Store)
		want   []byte
	}{
		{"nothing", func(*Store) {}, content("k", 1, 5000)},
		{"replace", func(s *Store) { s.Set("k", fullObject(content("k", 2, 4000))) }, content("k", 2, 4000)},
		{"delete", func(s *Store) { s.Delete("k") }, nil},
		{"purge by prefix", func(s *Store) { s.DeletePrefix("k") }, nil},
		{"evict", func(s *Store) {
			for i := range 8 {
				s.Set("other/"+strconv.Itoa(i), fullObject(content("o", uint64(i), 5000)))
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Options{Path: t.TempDir(), Size: 20000, SliceSize: 1 << 10})
			defer s.Close()
			<-s.loaded
			s.Set("k", fullObject(content("k", 1, 5000)))
			obj, ok := s.Get("k")
			if !ok {
				t.Fatal("miss")
			}
			if got := borrowRead(t, obj); !bytes.Equal(got, content("k", 1, 5000)) {
				t.Fatal("borrowed file does not hold the body")
			}
			if n := openDataFiles(t, s); n != 1 {
				t.Fatalf("%d descriptors open after a hit, want 1 kept for the next", n)
			}
			tt.change(s)
			obj, ok = s.Get("k")
			if tt.want == nil {
				if ok {
					t.Fatal("hit after the object was removed")
				}
				if n := openDataFiles(t, s); n != 0 {
					t.Errorf("%d descriptors still open on removed data files", n)
				}
				return
			}
			if !ok {
				t.Fatal("miss")
			}
			if got := borrowRead(t, obj); !bytes.Equal(got, tt.want) {
				t.Errorf("served %d bytes of another version", len(got))
			}
			if n := openDataFiles(t, s); n != 1 {
				t.Errorf("%d descriptors open, want 1 (the current version's)", n)
			}
		})
	}
}

// TestReturnAfterRemove: a descriptor given back after its object was
// removed is closed, not kept (its file's space is freed only then).
func TestReturnAfterRemove(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20})
	defer s.Close()
	<-s.loaded
	s.Set("k", fullObject(content("k", 1, 5000)))
	obj, _ := s.Get("k")
	sf := obj.File.(cache.SharedFileBody)
	f, _, err := sf.Borrow()
	if err != nil {
		t.Fatal(err)
	}
	s.Set("k", fullObject(content("k", 2, 5000))) // replaced while borrowed
	sf.Return(f)
	if n := openDataFiles(t, s); n != 0 {
		t.Errorf("%d descriptors open after the replaced body's was given back, want 0", n)
	}
}

// TestBorrowExclusive: two sends of one object at once get descriptors of
// their own (sendfile moves the file position).
func TestBorrowExclusive(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20})
	defer s.Close()
	<-s.loaded
	s.Set("k", fullObject(content("k", 1, 5000)))
	obj, _ := s.Get("k")
	sf := obj.File.(cache.SharedFileBody)
	f1, _, err1 := sf.Borrow()
	f2, _, err2 := sf.Borrow()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if f1 == f2 {
		t.Fatal("one descriptor lent twice")
	}
	sf.Return(f1)
	sf.Return(f2)
	if f3, _, _ := sf.Borrow(); f3 != f1 && f3 != f2 {
		t.Error("a given-back descriptor was not lent again")
	} else {
		sf.Return(f3)
	}
}

// TestOpenFilesBounded: the store keeps at most about Options.OpenFiles
// descriptors however many objects are hit, and none when it is negative.
func TestOpenFilesBounded(t *testing.T) {
	for _, tt := range []struct{ openFiles, max int }{{16, 16}, {-1, 0}} {
		s := open(t, Options{Path: t.TempDir(), Size: 64 << 20, OpenFiles: tt.openFiles})
		<-s.loaded
		for i := range 200 {
			k := "k/" + strconv.Itoa(i)
			s.Set(k, fullObject(content(k, 1, 100)))
			obj, _ := s.Get(k)
			borrowRead(t, obj)
		}
		if n := openDataFiles(t, s); n > tt.max || tt.max > 0 && n == 0 {
			t.Errorf("OpenFiles %d: %d descriptors open after hits on 200 objects, want 1..%d", tt.openFiles, n, tt.max)
		}
		s.Close()
		if n := openDataFiles(t, s); n != 0 {
			t.Errorf("OpenFiles %d: %d descriptors open after Close", tt.openFiles, n)
		}
	}
}

// TestReturnAfterClose: a descriptor given back after Close is closed.
func TestReturnAfterClose(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20})
	<-s.loaded
	s.Set("k", fullObject(content("k", 1, 5000)))
	obj, _ := s.Get("k")
	sf := obj.File.(cache.SharedFileBody)
	f, _, err := sf.Borrow()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sf.Return(f)
	if n := openDataFiles(t, s); n != 0 {
		t.Errorf("%d descriptors open after Close", n)
	}
}
