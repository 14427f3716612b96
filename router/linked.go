package router

import (
	"fmt"
	"sync"
	"time"

	"github.com/terncdn/tern/control"
)

// StaleHealthFor is how long a router that lost its control plane keeps
// answering by the last liveness it read. A NATS restart or a short
// partition ends well within it, and until then the last reading is the
// best guess (a POP that was down stays out). After it the reading says
// nothing of now: the router counts every POP not drained healthy, as a
// router without a control plane does, rather than keep sending viewers
// away from POPs that may long be back.
const StaleHealthFor = 30 * time.Second

// LinkedHealth is the Health of a control plane reached over a
// connection that may be away (tern router --nats). It reads:
//
//   - before the control plane was first reached: nothing; every POP
//     not drained counts healthy;
//   - while connected, from control.GoneAfter after (re)connecting: the
//     live reading of the registry of edges;
//   - while disconnected, and in the first control.GoneAfter after a
//     reconnect (when the edges' heartbeats are not all in again, and the
//     registry's last ones are old): the last live reading, for
//     StaleHealthFor after it was taken; then nothing, as before the
//     first connection.
//
// Drains do not depend on it: the router keeps the last set it had.
type LinkedHealth struct {
	now func() time.Time

	mu        sync.Mutex
	src       Health
	connected func() bool
	upSince   time.Time // when connected was first seen in this stretch; zero while down
	last      map[string]int
	complete  bool
	lastAt    time.Time // when last was read; zero: never
	note      string
}

// NewLinkedHealth returns a LinkedHealth with no control plane yet.
func NewLinkedHealth() *LinkedHealth { return &LinkedHealth{now: time.Now} }

// Link puts src, the control plane's registry of edges, in service;
// connected reports whether the connection it comes over is up now.
func (h *LinkedHealth) Link(src Health, connected func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.src, h.connected, h.upSince = src, connected, time.Time{}
}

// LiveEdges implements Health.
func (h *LinkedHealth) LiveEdges() (map[string]int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.src == nil {
		h.note = "no control plane reached yet: every POP not drained counts healthy"
		return nil, true
	}
	up := h.connected()
	if up {
		if h.upSince.IsZero() {
			h.upSince = now
		}
		if now.Sub(h.upSince) >= control.GoneAfter {
			h.last, h.complete = h.src.LiveEdges()
			h.lastAt, h.note = now, ""
			return h.last, h.complete
		}
	} else {
		h.upSince = time.Time{}
	}
	away := "the control plane is away"
	if up {
		away = "the control plane was reached again, its edges' heartbeats are not all in yet"
	}
	if !h.lastAt.IsZero() && now.Sub(h.lastAt) < StaleHealthFor {
		h.note = fmt.Sprintf("%s: health as read %v ago (kept for %v)", away, now.Sub(h.lastAt).Round(100*time.Millisecond), StaleHealthFor)
		return h.last, h.complete
	}
	if h.lastAt.IsZero() {
		h.note = away + ": every POP not drained counts healthy"
	} else {
		h.note = fmt.Sprintf("%s, and its last health reading is over %v old: every POP not drained counts healthy", away, StaleHealthFor)
	}
	return nil, true
}

// HealthNote implements HealthNoter: why the reading is not the live one,
// "" when it is.
func (h *LinkedHealth) HealthNote() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.note
}
