package origin

import (
	"sync/atomic"
	"time"
)

// connTimes measures, from httptrace hooks, how long a fetch spent on DNS
// and on connecting. The Transport dials on a goroutine of its own and
// lets that dial run on when the request takes another connection first,
// so the dial's DNSDone hook may fire while or after GotConn reads its
// mark: that is an atomic, in nanoseconds after start (0: not yet).
//
// The times run from start, when the fetch began to wait for a
// connection: the Transport starts its dial (and so the DNS lookup) at
// once when it has no idle one, so a DNSStart or ConnectStart mark would
// add allocations to every fetch and nothing at millisecond resolution.
type connTimes struct {
	start   time.Time
	dnsDone atomic.Int64
	// Set by got, on the fetch's goroutine: when the request got its
	// connection (it is sent next), and the durations.
	sent         time.Time
	dns, connect time.Duration
}

// resolved marks the end of a DNS lookup, the first time only (a dial
// that retries, connection_attempts, resolves more than once).
func (c *connTimes) resolved() {
	c.dnsDone.CompareAndSwap(0, max(1, int64(time.Since(c.start))))
}

// got works the durations out when the request has its connection at
// now. A reused connection took neither. A new one may have been dialed
// for another request, with this one's own lookup unfinished: a mark
// after now does not count, and the wait was all connecting.
func (c *connTimes) got(now time.Time, reused bool) {
	c.sent = now
	if reused {
		return
	}
	at := int64(now.Sub(c.start))
	if d := c.dnsDone.Load(); d != 0 && d <= at {
		c.dns, c.connect = time.Duration(d), time.Duration(at-d)
		return
	}
	c.connect = time.Duration(at)
}
