package disk

import (
	"bytes"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/terncdn/tern/cache"
)

// The tag index is a bbolt bucket beside the records: one empty entry
// distribution \0 tag \0 key (cache.TagPrefix + key) for each tag of each
// stored object. It changes in the same transaction as the record it
// describes, so it survives restarts and crashes exactly as the records
// do, and a purge by tag reads only the entries under its prefix: it costs
// the objects it removes, not the objects the store holds.

// tagEntry is the tag index key of key's object for tag.
func tagEntry(key, tag string) []byte {
	d := cache.DistributionOf(key)
	b := make([]byte, 0, len(d)+len(tag)+len(key)+2)
	b = append(b, d...)
	b = append(b, 0)
	b = append(b, tag...)
	b = append(b, 0)
	return append(b, key...)
}

// recordTags returns the tags of the record v (nil for none, or for a
// record that does not decode). v may be a bbolt page: it is copied.
func recordTags(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	r, err := decodeRecord(bytes.Clone(v))
	if err != nil {
		return nil
	}
	return r.obj.Tags
}

// retag updates the tag index for key, whose record changes from old (nil:
// none) to one with tags (nil: the record goes), inside tx.
func retag(tx *bolt.Tx, key string, old []byte, tags []string) error {
	oldTags := recordTags(old)
	if len(oldTags) == 0 && len(tags) == 0 {
		return nil
	}
	// Tags are kept sorted (cache.ParseTags); sorted copies otherwise, so
	// that an object with thousands of tags costs n log n, not n².
	if !slices.IsSorted(oldTags) {
		oldTags = slices.Sorted(slices.Values(oldTags))
	}
	if !slices.IsSorted(tags) {
		tags = slices.Sorted(slices.Values(tags))
	}
	has := func(list []string, t string) bool { _, ok := slices.BinarySearch(list, t); return ok }
	b := tx.Bucket(bucketTags)
	for _, t := range oldTags {
		if !has(tags, t) {
			if err := b.Delete(tagEntry(key, t)); err != nil {
				return err
			}
		}
	}
	for _, t := range tags {
		if !has(oldTags, t) {
			if err := b.Put(tagEntry(key, t), []byte{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// taggedKeys returns the keys of distribution's objects that carry tag,
// reading the tag index a chunk per read transaction.
func (s *Store) taggedKeys(distribution, tag string) []string {
	prefix := []byte(cache.TagPrefix(distribution, tag))
	var keys []string
	seek, skipFirst := prefix, false
	for {
		more := false
		var last []byte
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketTags).Cursor()
			k, _ := c.Seek(seek)
			if skipFirst && k != nil && bytes.Equal(k, seek) {
				k, _ = c.Next()
			}
			for n := 0; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if n == walkChunk {
					more = true
					return nil
				}
				n++
				last = k
				keys = append(keys, string(k[len(prefix):]))
			}
			return nil
		})
		if err != nil || !more {
			return keys
		}
		seek, skipFirst = bytes.Clone(last), true
	}
}

// DeleteTag removes every object of distribution that carries tag and
// returns how many it removed. It visits only the tag's entries in the
// tag index.
func (s *Store) DeleteTag(distribution, tag string) int {
	n := 0
	for _, key := range s.taggedKeys(distribution, tag) {
		if s.deleteIf(key, tag) {
			n++
		}
	}
	return n
}

// ExpirePrefix marks every object whose key starts with prefix stale as
// of now (a soft purge, see cache.Expired), in its record, so that it stays
// stale across a restart; it returns how many it marked. It visits only
// the matching keys.
func (s *Store) ExpirePrefix(prefix string, now time.Time) int {
	var keys []string
	s.scan(prefix, func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	return s.expire(keys, "", now)
}

// ExpireTag marks every object of distribution that carries tag stale as
// of now, as ExpirePrefix does, visiting only the tag's entries.
func (s *Store) ExpireTag(distribution, tag string, now time.Time) int {
	return s.expire(s.taggedKeys(distribution, tag), tag, now)
}

// expire rewrites the records of keys that are fresh (and carry tag, when
// it is not empty) with their expired metadata, a chunk of keys per write
// transaction. The data files and the eviction index stay as they are: the
// body, the id and the weight do not change.
func (s *Store) expire(keys []string, tag string, now time.Time) int {
	total := 0
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), walkChunk)]
		keys = keys[len(chunk):]
		var changed []string
		err := s.update(func(tx *bolt.Tx) error {
			changed = changed[:0] // update may run fn more than once
			objects := tx.Bucket(bucketObjects)
			for _, key := range chunk {
				v := objects.Get(keyBytes(key))
				if v == nil {
					continue
				}
				r, err := decodeRecord(bytes.Clone(v))
				if err != nil {
					continue
				}
				if tag != "" && !slices.Contains(r.obj.Tags, tag) {
					continue
				}
				exp := cache.Expired(&r.obj, now)
				if exp == nil {
					continue
				}
				present := r.present
				if allBits(present, len(r.crcs)) {
					present = nil
				}
				rec := encodeRecord(nil, r.id, exp, r.bodyLen, r.stored, r.sliceSize, r.crcs, present)
				if err := objects.Put([]byte(key), rec); err != nil {
					return err
				}
				changed = append(changed, key)
			}
			return nil
		})
		if err != nil {
			s.writeErrors.Add(1)
			continue
		}
		for _, key := range changed {
			s.recs.changed(hashKey(key)) // no decoded copy outlives its record
		}
		total += len(changed)
	}
	return total
}
