package disk

import (
	"io"
	"strconv"
	"testing"

	"github.com/terncdn/tern/cache"
)

// BenchmarkGet is a hit that reads the metadata only (the body is served
// from the file by the caller).
func BenchmarkGet(b *testing.B) {
	s := open(b, Options{Path: b.TempDir(), Size: 1 << 30})
	defer s.Close()
	<-s.loaded
	s.Set("dist-1/assets/app.js", fullObject(make([]byte, 64<<10)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.Get("dist-1/assets/app.js"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkSet64K(b *testing.B) {
	s := open(b, Options{Path: b.TempDir(), Size: 64 << 20})
	defer s.Close()
	<-s.loaded
	obj := &cache.Object{Status: 200, Header: cache.Header{"Content-Type": {"application/octet-stream"}}, Body: make([]byte, 64<<10)}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Set("k/"+strconv.Itoa(i), obj)
	}
	if st := s.Stats(); st.WriteErrors != 0 {
		b.Fatalf("%d write errors", st.WriteErrors)
	}
}

// BenchmarkVerify4M checks one 4 MiB slice from the page cache each time
// (the verified bitmap is reset, or the second Verify would not read).
func BenchmarkVerify4M(b *testing.B) {
	s := open(b, Options{Path: b.TempDir(), Size: 64 << 20})
	defer s.Close()
	<-s.loaded
	s.Set("big", &cache.Object{Status: 200, Body: content("big", 1, 4<<20)})
	obj, _ := s.Get("big")
	fb := obj.File.(*fileBody)
	b.SetBytes(4 << 20)
	b.ReportAllocs()
	for b.Loop() {
		s.idx.lookup(fb.hash, fb.id).verified.Store(nil)
		if err := obj.File.Verify(0, 4<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHit64K is the disk tier's share of a 64 KiB hit as the edge
// serves it, without the network: Get, Verify (checked once, then
// remembered), a file to sendfile from, positioned at the body.
func BenchmarkHit64K(b *testing.B) {
	s := open(b, Options{Path: b.TempDir(), Size: 1 << 30})
	defer s.Close()
	<-s.loaded
	const objects = 512
	keys := make([]string, objects)
	for i := range keys {
		keys[i] = "bench\x00/obj/64k/" + strconv.Itoa(i)
		s.Set(keys[i], fullObject(make([]byte, 64<<10)))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		obj, ok := s.Get(keys[i%objects])
		if !ok {
			b.Fatal("miss")
		}
		if err := obj.File.Verify(0, obj.File.Len()); err != nil {
			b.Fatal(err)
		}
		sf := obj.File.(cache.SharedFileBody)
		f, off, err := sf.Borrow()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		sf.Return(f)
	}
}
