package disk

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/terncdn/tern/cache"
)

// records keeps the decoded objects of recent hits, by key, so that a hit
// on them costs no read transaction and no decoding: a bounded cache in
// front of the bbolt index, never ahead of it.
//
// Every change to a key's record (commit, metadata update, delete, drop)
// calls changed after the index transaction, which bumps the key's
// sequence number and removes its entry. A Get that read the index before
// a change may only put what it read if the sequence is still the one it
// saw before reading, checked under the shard lock that changed takes
// after bumping: either the put lands first and changed removes it, or the
// put sees the new number and keeps nothing. So an entry never outlives
// the record it was decoded from.
type records struct {
	shards [recordShards]recordShard
	seqs   [256]atomic.Uint64 // by key hash: changes so far
	max    int64              // bytes per shard
}

const recordShards = 64

type recordShard struct {
	mu    sync.RWMutex
	m     map[uint64]*recordEntry
	bytes int64
}

type recordEntry struct {
	key    string
	obj    cache.Object
	weight int64
}

// recordOverhead is what an entry weighs beyond its record and key: the
// entry, the header map and the file body.
const recordOverhead = 384

// newRecords keeps up to about max bytes of decoded records; none when
// max <= 0.
func newRecords(max int64) *records {
	r := &records{max: max / recordShards}
	for i := range r.shards {
		r.shards[i].m = make(map[uint64]*recordEntry)
	}
	return r
}

func (r *records) shard(hash uint64) *recordShard { return &r.shards[hash>>58] }

// seq is the sequence number of hash: read it before reading the index.
func (r *records) seq(hash uint64) uint64 { return r.seqs[hash%uint64(len(r.seqs))].Load() }

// get returns the cached object of key, or nil.
func (r *records) get(hash uint64, key string) *cache.Object {
	sh := r.shard(hash)
	sh.mu.RLock()
	e := sh.m[hash]
	sh.mu.RUnlock()
	if e == nil || e.key != key {
		return nil
	}
	return &e.obj
}

// put keeps a copy of obj, decoded from a record of recordLen bytes read
// after seq returned seq, unless the key's record changed since.
func (r *records) put(hash uint64, key string, obj *cache.Object, recordLen int, seq uint64) {
	if r.max <= 0 {
		return
	}
	e := &recordEntry{key: strings.Clone(key), obj: *obj}
	e.weight = int64(recordLen+len(key)) + recordOverhead
	sh := r.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r.seq(hash) != seq {
		return
	}
	if old := sh.m[hash]; old != nil {
		sh.bytes -= old.weight
	}
	sh.m[hash] = e
	sh.bytes += e.weight
	for k, v := range sh.m { // over budget: drop others, in map order
		if sh.bytes <= r.max {
			break
		}
		if k != hash {
			delete(sh.m, k)
			sh.bytes -= v.weight
		}
	}
}

// changed records that the index record of hash's key changed (or may
// have): its cached object, if any, goes.
func (r *records) changed(hash uint64) {
	r.seqs[hash%uint64(len(r.seqs))].Add(1)
	sh := r.shard(hash)
	sh.mu.Lock()
	if e := sh.m[hash]; e != nil {
		delete(sh.m, hash)
		sh.bytes -= e.weight
	}
	sh.mu.Unlock()
}
