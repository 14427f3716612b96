package disk

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/terncdn/tern/cache"
)

// taggedObject is a fresh object with a body of n bytes carrying tags.
func taggedObject(n int, tags ...string) *cache.Object {
	slices.Sort(tags)
	now := time.Now()
	return &cache.Object{Status: 200, Header: cache.Header{"Etag": {`"v1"`}}, Body: bytes.Repeat([]byte("x"), n),
		RequestTime: now, ResponseTime: now, Freshness: cache.Freshness{Storable: true, Lifetime: time.Hour}, Tags: tags}
}

// tagEntries lists the tag index, as "tag key" strings.
func tagEntries(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTags).ForEach(func(k, _ []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			out = append(out, fmt.Sprintf("%s %s %q", parts[0], parts[1], parts[2]))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTagsSurviveRestartAndPurge(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20})
	s.Set("d\x00/a\x00", taggedObject(100, "red", "round"))
	s.Set("d\x00/b\x00", taggedObject(0, "red"))
	s.Set("d\x00/c\x00", taggedObject(100, "blue"))
	s.Set("e\x00/a\x00", taggedObject(100, "red"))
	s.Close()

	s = open(t, Options{Path: dir, Size: 1 << 20})
	defer s.Close()
	obj, ok := s.Get("d\x00/a\x00")
	if !ok || !reflect.DeepEqual(obj.Tags, []string{"red", "round"}) {
		t.Fatalf("after a restart: present %v, tags %q; want red, round", ok, obj.Tags)
	}
	if n := s.DeleteTag("d", "red"); n != 2 {
		t.Errorf("DeleteTag(d, red) = %d, want 2", n)
	}
	for key, want := range map[string]bool{"d\x00/a\x00": false, "d\x00/b\x00": false, "d\x00/c\x00": true, "e\x00/a\x00": true} {
		if _, ok := s.Get(key); ok != want {
			t.Errorf("after DeleteTag: %q present %v, want %v", key, ok, want)
		}
	}
	want := []string{`d blue "d\x00/c\x00"`, `e red "e\x00/a\x00"`}
	if got := tagEntries(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("tag index after the purge = %q, want %q", got, want)
	}
}

// TestTagIndexFollowsEveryChange: replacing, re-tagging (a 304), deleting,
// dropping and evicting an object each leave the tag index naming exactly
// the tags of what is stored.
func TestTagIndexFollowsEveryChange(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 8 << 10, SliceSize: 1 << 10})
	defer s.Close()
	s.Set("d\x00/a\x00", taggedObject(100, "old", "both"))
	s.Set("d\x00/a\x00", taggedObject(100, "new", "both"))
	if got, want := tagEntries(t, s), []string{`d both "d\x00/a\x00"`, `d new "d\x00/a\x00"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a replacement: %q, want %q", got, want)
	}
	if n := s.DeleteTag("d", "old"); n != 0 {
		t.Errorf("DeleteTag of a tag the replacement dropped = %d, want 0", n)
	}
	// A revalidation rewrites the metadata over the same body: new tags.
	obj, _ := s.Get("d\x00/a\x00")
	re := *obj
	re.Tags = []string{"fresh"}
	s.Set("d\x00/a\x00", &re)
	if got, want := tagEntries(t, s), []string{`d fresh "d\x00/a\x00"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a metadata update: %q, want %q", got, want)
	}
	s.Delete("d\x00/a\x00")
	if got := tagEntries(t, s); len(got) != 0 {
		t.Errorf("after Delete: %q, want none", got)
	}
	// Evictions: far more than the store holds.
	for i := range 100 {
		s.Set(fmt.Sprintf("d\x00/%d\x00", i), taggedObject(500, "bulk"))
	}
	if got, n := len(tagEntries(t, s)), s.Len(); got != n {
		t.Errorf("after evictions the tag index holds %d entries for %d objects", got, n)
	}
	// A partial object stored slice by slice carries its tags too.
	meta := taggedObject(0, "sliced")
	if err := s.PutSlice("d\x00/big\x00", meta, 3000, 1, bytes.Repeat([]byte("y"), 1024)); err != nil {
		t.Fatal(err)
	}
	if n := s.DeleteTag("d", "sliced"); n != 1 {
		t.Errorf("DeleteTag of a partial object = %d, want 1", n)
	}
}

func TestSoftPurgePersists(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20})
	s.Set("d\x00/img/a\x00", taggedObject(100))
	s.Set("d\x00/img/b\x00", taggedObject(100, "red"))
	s.Set("d\x00/css/c\x00", taggedObject(100, "red"))
	s.Set("d\x00/js/d\x00", taggedObject(100))
	s.Get("d\x00/img/a\x00") // a decoded record in memory must not outlive the purge
	now := time.Now()
	if n := s.ExpirePrefix("d\x00/img/", now); n != 2 {
		t.Errorf("ExpirePrefix = %d, want 2", n)
	}
	if n := s.ExpireTag("d", "red", now); n != 1 {
		t.Errorf("ExpireTag = %d, want 1 (the other is stale already)", n)
	}
	check := func(when string) {
		for key, stale := range map[string]bool{"d\x00/img/a\x00": true, "d\x00/img/b\x00": true, "d\x00/css/c\x00": true, "d\x00/js/d\x00": false} {
			obj, ok := s.Get(key)
			if !ok {
				t.Errorf("%s: %q gone, want it kept", when, key)
				continue
			}
			if got := obj.FreshFor(time.Now()) <= 0; got != stale {
				t.Errorf("%s: %q stale %v, want %v", when, key, got, stale)
			}
			if body, err := readBody(t, obj); err != nil || len(body) != 100 {
				t.Errorf("%s: %q body %d bytes, %v", when, key, len(body), err)
			}
		}
	}
	check("after the soft purge")
	s.Close()
	s = open(t, Options{Path: dir, Size: 1 << 20})
	defer s.Close()
	check("after a restart")
	if n := s.DeleteTag("d", "red"); n != 2 {
		t.Errorf("DeleteTag after ExpireTag = %d, want 2: expired objects keep their tags", n)
	}
}

// TestRecordWithoutTagsDecodes: records written before tags existed end
// after the header fields; they decode, with no tags.
func TestRecordWithoutTagsDecodes(t *testing.T) {
	obj := fullObject([]byte("abc"))
	rec := encodeRecord(nil, 7, obj, 3, time.Now(), 4, []uint32{1}, nil)
	obj.Tags = []string{"a", "b"}
	withTags := encodeRecord(nil, 7, obj, 3, time.Now(), 4, []uint32{1}, nil)
	r, err := decodeRecord(rec)
	if err != nil || r.obj.Tags != nil {
		t.Errorf("record without tags: %v, tags %q", err, r.obj.Tags)
	}
	r, err = decodeRecord(withTags)
	if err != nil || !reflect.DeepEqual(r.obj.Tags, []string{"a", "b"}) {
		t.Errorf("record with tags: %v, tags %q", err, r.obj.Tags)
	}
}
