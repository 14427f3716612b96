package cache

import (
	"io"
	"time"
)

// Storage is a tier that holds objects by key. Implementations are safe for
// concurrent use; Get on a hit is the hot path and must not allocate.
type Storage interface {
	// Get returns the object stored under key. It must not keep key, nor
	// store anything under it: callers pass views of buffers they reuse
	// (the edge does, so that a hit allocates no key).
	Get(key string) (*Object, bool)
	// Set stores obj under key, replacing what was there. A tier may decline
	// an object (too large, or refused by its admission policy).
	Set(key string, obj *Object)
	// Delete removes key and reports whether it was present.
	Delete(key string) bool
	// DeletePrefix removes every key that starts with prefix and returns how
	// many were removed.
	DeletePrefix(prefix string) int
	// DeleteTag removes every object of distribution that carries tag (see
	// Object.Tags) and returns how many were removed. Tiers keep an index
	// of tags, so that it visits only those objects.
	DeleteTag(distribution, tag string) int
	// ExpirePrefix and ExpireTag are the soft purges of DeletePrefix and
	// DeleteTag: each matching object is kept but made stale as of now
	// (Expired), so that its next use revalidates it with the origin.
	// They return how many objects they marked.
	ExpirePrefix(prefix string, now time.Time) int
	ExpireTag(distribution, tag string, now time.Time) int
	// Len and Bytes report the number of objects and their total Size.
	Len() int
	Bytes() int64
}

// BodyStore keeps bodies too large for the memory tier as they stream from
// the origin (a disk tier).
type BodyStore interface {
	// Create starts storing an object with obj's metadata (Body unset)
	// under key, of size bytes (-1: unknown). It returns an error when the
	// store declines it (admission, size, space).
	Create(key string, obj *Object, size int64) (BodyWriter, error)
}

// BodyWriter receives one body; nothing of it is visible until Commit.
type BodyWriter interface {
	io.Writer
	Commit() error
	Abort()
}
