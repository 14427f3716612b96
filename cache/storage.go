package cache

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
	// Len and Bytes report the number of objects and their total Size.
	Len() int
	Bytes() int64
}
