package disk

import (
	"math/bits"
	"sync"
)

// admission is TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly
// Efficient Cache Admission Policy", 2017): a count-min sketch of recent
// request frequencies, with a doorkeeper bloom filter in front of it so
// that keys seen once do not occupy counters, aged by halving every counter
// after a sample of requests ten times its width.
//
// It was chosen over "admit on the second request" because a disk write is
// the expensive thing a cold object costs: comparing the candidate with the
// object it would evict admits everything while the store has room, lets
// an object that has become popular replace a less popular one, and keeps
// a one-pass scan of any length out once the store is full (each scanned
// key has frequency 1, never more than the victim's).
type admission struct {
	mu        sync.Mutex
	rows      [4][]uint64 // 4-bit counters, 16 to a word
	mask      uint64      // counters per row - 1
	door      []uint64    // doorkeeper bloom filter bits
	doorMask  uint64
	additions int
	sample    int
}

// newAdmission sizes the sketch for about objects distinct keys.
func newAdmission(objects int64) *admission {
	counters := uint64(1) << bits.Len64(uint64(max(min(objects, 1<<22), 1024)-1))
	a := &admission{mask: counters - 1, doorMask: counters*4 - 1, sample: int(10 * counters)}
	for i := range a.rows {
		a.rows[i] = make([]uint64, counters/16)
	}
	a.door = make([]uint64, counters*4/64)
	return a
}

// rehash derives the i'th independent hash of h (the finaliser of
// SplitMix64, with a different odd constant per row).
func rehash(h uint64, i int) uint64 {
	h += uint64(i+1) * 0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

func (a *admission) counter(row int, h uint64) (word *uint64, shift uint) {
	i := rehash(h, row) & a.mask
	return &a.rows[row][i/16], uint(i%16) * 4
}

func (a *admission) doorBits(h uint64) (uint64, uint64) {
	return rehash(h, 4) & a.doorMask, rehash(h, 5) & a.doorMask
}

func (a *admission) inDoor(h uint64) bool {
	b1, b2 := a.doorBits(h)
	return a.door[b1/64]&(1<<(b1%64)) != 0 && a.door[b2/64]&(1<<(b2%64)) != 0
}

// estimate is the sketch's frequency for h; a.mu is held.
func (a *admission) estimate(h uint64) uint64 {
	f := uint64(15)
	for r := range a.rows {
		w, sh := a.counter(r, h)
		f = min(f, *w>>sh&15)
	}
	if a.inDoor(h) {
		f++
	}
	return f
}

// record counts one request for h and returns its new frequency; a.mu is
// held.
func (a *admission) record(h uint64) uint64 {
	if !a.inDoor(h) {
		b1, b2 := a.doorBits(h)
		a.door[b1/64] |= 1 << (b1 % 64)
		a.door[b2/64] |= 1 << (b2 % 64)
	} else {
		// Conservative update: raise only the counters at the minimum.
		m := a.estimate(h) - 1
		for r := range a.rows {
			w, sh := a.counter(r, h)
			if c := *w >> sh & 15; c == m && c < 15 {
				*w += 1 << sh
			}
		}
	}
	if a.additions++; a.additions >= a.sample {
		a.age()
	}
	return a.estimate(h)
}

// age halves every counter and empties the doorkeeper, so that the sketch
// follows a changing popularity.
func (a *admission) age() {
	for _, row := range a.rows {
		for i := range row {
			row[i] = row[i] >> 1 & 0x7777777777777777
		}
	}
	clear(a.door)
	a.additions /= 2
}

// admit records a request for candidate and reports whether it should
// replace victim (full: the store has no room without evicting).
func (a *admission) admit(candidate, victim uint64, full bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.record(candidate)
	return !full || f > a.estimate(victim)
}
