package router

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/control"
)

type fixedHealth map[string]int

// LiveEdges returns a copy, as the registry returns a new map each time.
func (f fixedHealth) LiveEdges() (map[string]int, bool) { return maps.Clone(f), true }

// TestLinkedHealth walks a router's health through its control plane's
// absence: nothing before the first connection, the live reading once
// its heartbeats are in, the last reading while away (for
// StaleHealthFor), then nothing again; and the last reading just after a
// reconnect, while the registry's heartbeats are old.
func TestLinkedHealth(t *testing.T) {
	clock := time.Unix(1e9, 0)
	h := NewLinkedHealth()
	h.now = func() time.Time { return clock }
	read := func(what string, want map[string]int, note string) {
		t.Helper()
		got, complete := h.LiveEdges()
		if !complete || len(got) != len(want) || (want == nil) != (got == nil) {
			t.Fatalf("%s: %v %v, want %v", what, got, complete, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
		if n := h.HealthNote(); !strings.Contains(n, note) || (note == "") != (n == "") {
			t.Fatalf("%s: note %q, want %q", what, n, note)
		}
	}
	read("not linked", nil, "no control plane reached yet")

	live := fixedHealth{"fra": 0, "iad": 2}
	up := true
	h.Link(live, func() bool { return up })
	read("just linked", nil, "heartbeats are not all in yet: every POP not drained")
	clock = clock.Add(control.GoneAfter)
	read("linked", live, "")

	up = false
	clock = clock.Add(time.Second)
	read("away", live, "the control plane is away: health as read 1s ago")
	// The registry reads every POP down meanwhile (its heartbeats stop):
	// the router does not follow it.
	live["iad"] = 0
	clock = clock.Add(StaleHealthFor - 2*time.Second)
	read("away, kept", fixedHealth{"fra": 0, "iad": 2}, "health as read")
	clock = clock.Add(time.Second)
	read("away too long", nil, "is over 30s old: every POP not drained counts healthy")

	// Back: the registry's heartbeats are old for GoneAfter; the reading
	// is too, so every POP counts until the heartbeats are in.
	up = true
	read("back", nil, "heartbeats are not all in yet, and its last health reading is over 30s old")
	clock = clock.Add(control.GoneAfter)
	live["iad"] = 3
	read("back, heard", fixedHealth{"fra": 0, "iad": 3}, "")

	// A short blip: the last reading holds through it and the first
	// GoneAfter after it.
	up = false
	clock = clock.Add(2 * time.Second)
	read("blip", fixedHealth{"fra": 0, "iad": 3}, "is away")
	up = true
	live["iad"] = 0 // old heartbeats in the registry
	clock = clock.Add(time.Second)
	read("after the blip", fixedHealth{"fra": 0, "iad": 3}, "reached again")
	clock = clock.Add(control.GoneAfter)
	read("after the blip, heard", fixedHealth{"fra": 0, "iad": 0}, "")
}
