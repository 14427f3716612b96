package disk

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/terncdn/tern/cache"
)

func sliceMeta(etag string) *cache.Object {
	o := fullObject(nil)
	o.Status = 200
	o.Header = cache.Header{"Etag": {etag}, "Content-Type": {"video/mp4"}}
	return o
}

// readSlice reads bytes [off, off+n) of a stored object after verifying them.
func readSlice(t *testing.T, obj *cache.Object, off, n int64) ([]byte, error) {
	t.Helper()
	if err := obj.File.Verify(off, n); err != nil {
		return nil, err
	}
	f, base, err := obj.File.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, base+off, n))
}

func TestPutSlicePartialThenComplete(t *testing.T) {
	const ss = 64 << 10
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 64 << 20, SliceSize: ss})
	total := int64(3*ss + 1000)
	body := content("/big", 1, int(total))
	part := func(i int64) []byte { return body[i*ss : min((i+1)*ss, total)] }

	if err := s.PutSlice("/big", sliceMeta(`"v1"`), total, 2, part(2)); err != nil {
		t.Fatal(err)
	}
	obj, ok := s.Get("/big")
	if !ok {
		t.Fatal("partial object not found")
	}
	p := cache.Partial(obj)
	if p == nil || obj.File.Len() != total {
		t.Fatalf("want a partial body of %d bytes, got %#v", total, obj.File)
	}
	for i, want := range []bool{false, false, true, false} {
		if p.Has(int64(i)) != want {
			t.Errorf("Has(%d) = %v, want %v", i, !want, want)
		}
	}
	if _, err := readSlice(t, obj, 0, 10); !errors.Is(err, ErrMissingSlice) {
		t.Errorf("Verify of a missing slice: %v, want ErrMissingSlice", err)
	}
	got, err := readSlice(t, obj, 2*ss+5, 100)
	if err != nil || !bytes.Equal(got, body[2*ss+5:2*ss+105]) {
		t.Fatalf("present slice: %v, bytes equal %v", err, bytes.Equal(got, body[2*ss+5:2*ss+105]))
	}
	// Only the slice held counts against the store's size.
	if b := s.Bytes(); b >= ss*2 {
		t.Errorf("a partial object with one 64 KiB slice weighs %d bytes", b)
	}
	if got := s.Stats().ChecksumFailures; got != 0 {
		t.Errorf("checksum failures %d", got)
	}

	// The rest, in any order; a slice put twice is harmless.
	for _, i := range []int64{3, 0, 2, 1} {
		if err := s.PutSlice("/big", sliceMeta(`"v1"`), total, i, part(i)); err != nil {
			t.Fatal(err)
		}
	}
	obj, _ = s.Get("/big")
	if cache.Partial(obj) != nil {
		t.Fatal("object with every slice is still partial")
	}
	if got, err := readBody(t, obj); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("complete object: %v, bytes equal %v", err, bytes.Equal(got, body))
	}
	if n := countDataFiles(t, s); n != 1 {
		t.Errorf("%d data files, want 1", n)
	}

	// Survives a restart, like any object.
	s.Close()
	s = open(t, Options{Path: dir, Size: 64 << 20, SliceSize: ss})
	defer s.Close()
	obj, ok = s.Get("/big")
	if !ok {
		t.Fatal("lost after reopen")
	}
	if got, err := readBody(t, obj); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestPutSliceNewVersionDiscardsOldSlices(t *testing.T) {
	const ss = 64 << 10
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 20, SliceSize: ss})
	defer s.Close()
	total := int64(4 * ss)
	v1, v2 := content("/v", 1, int(total)), content("/v", 2, int(total))
	if err := s.PutSlice("/v", sliceMeta(`"v1"`), total, 0, v1[:ss]); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlice("/v", sliceMeta(`"v1"`), total, 1, v1[ss:2*ss]); err != nil {
		t.Fatal(err)
	}
	// The origin changed the object: a slice of the new version must not
	// be combined with the old ones.
	if err := s.PutSlice("/v", sliceMeta(`"v2"`), total, 3, v2[3*ss:]); err != nil {
		t.Fatal(err)
	}
	obj, _ := s.Get("/v")
	p := cache.Partial(obj)
	if p == nil || p.Has(0) || p.Has(1) || !p.Has(3) {
		t.Fatalf("after a new version: want only slice 3, got %+v", obj.File)
	}
	if obj.Header.Get("Etag") != `"v2"` {
		t.Errorf("metadata is of %s", obj.Header.Get("Etag"))
	}
	if got, err := readSlice(t, obj, 3*ss, ss); err != nil || !bytes.Equal(got, v2[3*ss:]) {
		t.Fatalf("new slice: %v", err)
	}
	if n := countDataFiles(t, s); n != 1 {
		t.Errorf("%d data files, want 1 (the old version's is removed)", n)
	}
	// Weak entity tags never combine (RFC 9110 §13.1.5).
	if err := s.PutSlice("/v", sliceMeta(`W/"v2"`), total, 0, v2[:ss]); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlice("/v", sliceMeta(`W/"v2"`), total, 1, v2[ss:2*ss]); err != nil {
		t.Fatal(err)
	}
	obj, _ = s.Get("/v")
	if p := cache.Partial(obj); p == nil || p.Has(0) || !p.Has(1) {
		t.Fatalf("weak validators were combined: %+v", obj.File)
	}
}

func TestPutSliceRejectsWrongLength(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 20, SliceSize: 1024})
	defer s.Close()
	for _, c := range []struct {
		total, i int64
		n        int
	}{{3000, 0, 1000}, {3000, 2, 1024}, {3000, 3, 1024}, {0, 0, 0}, {3000, -1, 1024}} {
		if err := s.PutSlice("/k", sliceMeta(`"x"`), c.total, c.i, make([]byte, c.n)); err == nil {
			t.Errorf("PutSlice(total %d, slice %d, %d bytes) accepted", c.total, c.i, c.n)
		}
	}
	if _, ok := s.Get("/k"); ok {
		t.Error("a refused slice left an object")
	}
}

func TestPutSliceKeepsVerifiedSlices(t *testing.T) {
	const ss = 4096
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 20, SliceSize: ss})
	defer s.Close()
	<-s.loaded
	body := content("/c", 1, 3*ss)
	if err := s.PutSlice("/c", sliceMeta(`"a"`), 3*ss, 0, body[:ss]); err != nil {
		t.Fatal(err)
	}
	obj, _ := s.Get("/c")
	if _, err := readSlice(t, obj, 0, ss); err != nil {
		t.Fatal(err)
	}
	// A new slice keeps slice 0 verified (it is not read again); the new
	// one is checked when it is first read.
	if err := s.PutSlice("/c", sliceMeta(`"a"`), 3*ss, 1, body[ss:2*ss]); err != nil {
		t.Fatal(err)
	}
	obj, _ = s.Get("/c")
	if _, err := readSlice(t, obj, 0, 2*ss); err != nil {
		t.Fatal(err)
	}
	fb := obj.File.(*fileBody)
	vs := s.idx.verifiedFor(fb.hash, fb.id, len(fb.crcs))
	if vs == nil || !vs.has(0) || !vs.has(1) || vs.has(2) {
		t.Fatalf("verified slices after a new slice: %+v", vs)
	}
}

// TestPutSliceSeenByNextGet: a Get after PutSlice sees the new slice and
// the new metadata, never a decoded copy of the record from before.
func TestPutSliceSeenByNextGet(t *testing.T) {
	const ss = 4096
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 20, SliceSize: ss})
	defer s.Close()
	<-s.loaded
	body := content("/g", 1, 3*ss)
	for i := range int64(3) {
		if err := s.PutSlice("/g", sliceMeta(`"a"`), 3*ss, i, body[i*ss:(i+1)*ss]); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second Get may come from the decoded records
			obj, _ := s.Get("/g")
			p := cache.Partial(obj)
			for j := range int64(3) {
				if stored := p == nil || p.Has(j); stored != (j <= i) {
					t.Fatalf("after slice %d: slice %d stored %v", i, j, stored)
				}
			}
		}
	}
	if err := s.PutSlice("/g", sliceMeta(`"b"`), 3*ss, 1, body[ss:2*ss]); err != nil {
		t.Fatal(err)
	}
	if obj, _ := s.Get("/g"); obj.Header.Get("Etag") != `"b"` {
		t.Fatalf("after a new representation, Get returns %s", obj.Header.Get("Etag"))
	}
}
