package cache

import "time"

// Freshness is what RFC 9111 (with RFC 5861 and CloudFront's TTL clamps)
// decided about one response: whether a shared cache may store it and for
// how long it may be served without asking the origin.
type Freshness struct {
	// Storable reports whether the response may be stored at all
	// (RFC 9111 §3). When false, Reason says why, in a few words fit for a
	// header or a log ("no-store", "private", "vary *", ...).
	Storable bool
	Reason   string

	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1) after the
	// policy's TTL clamps. Zero means stale on arrival: it may be stored but
	// every use needs validation.
	Lifetime time.Duration

	// StaleWhileRevalidate and StaleIfError are the RFC 5861 windows past
	// Lifetime in which a stale response may be served while it is refreshed
	// in the background, or when the origin fails.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration

	// MustRevalidate is set by must-revalidate, proxy-revalidate or
	// s-maxage (RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10): once stale, the
	// response must not be served without successful validation, not even
	// when the origin is down.
	MustRevalidate bool

	// NoCache is set by an unqualified no-cache (RFC 9111 §5.2.2.4): the
	// response may be stored, but each use must be validated first.
	NoCache bool
	// NoCacheFields are the fields named by no-cache="...": they must not be
	// sent in a response served without successful validation.
	NoCacheFields []string

	// Heuristic is true when Lifetime came from RFC 9111 §4.2.2 heuristics.
	Heuristic bool
}
