// Package tier decides where an edge fetches a miss from before the
// origin: the owner of the object among its POP's live nodes, by
// rendezvous hashing, then its origin's regional shield. It holds the
// membership seam (Members), the ranking (Rank) and the Tern-Tier header
// that marks tier-to-tier requests and stops loops.
//
// It knows nothing of NATS: package control feeds a Members from the
// nodes' heartbeats, and Static serves tests and fixed clusters.
package tier

import (
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Roles a node plays (config edge.role).
const (
	// RoleEdge serves viewers; it may fetch through POP peers and shields.
	RoleEdge = "edge"
	// RoleShield is a regional cache other POPs' edges fetch through.
	RoleShield = "shield"
)

// Member is one live node that takes tier-to-tier requests.
type Member struct {
	NodeID string
	POP    string
	Role   string
	// Addr is host:port of the node's edge listener as other nodes reach
	// it (config edge.tier_address).
	Addr string
}

// Members is the membership an edge consults on a miss.
type Members interface {
	// Members returns the live nodes of pop that advertise a tier address,
	// in any order. The caller may reorder the slice it gets.
	Members(pop string) []Member
}

// Rank orders ms by their rendezvous weight for key, highest first: the
// first is the key's owner, and when it goes, every key it owned moves to
// the node that ranked second for it, while no other key moves. Every
// node computes the same order from the same members.
func Rank(ms []Member, key string) {
	if len(ms) < 2 {
		return
	}
	w := make([]uint64, len(ms))
	var d xxhash.Digest
	for i, m := range ms {
		d.ResetWithSeed(xxhash.Sum64String(m.NodeID))
		d.WriteString(key)
		w[i] = d.Sum64()
	}
	// Insertion sort: a POP has a handful of nodes. Ties (never in
	// practice) go to the smaller node id, so the order is total.
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && (w[j] > w[j-1] || w[j] == w[j-1] && ms[j].NodeID < ms[j-1].NodeID); j-- {
			w[j], w[j-1] = w[j-1], w[j]
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// Static is a membership set in code: every member listed is live. Tests
// use it, and so can a cluster without a control plane.
type Static struct {
	mu sync.RWMutex
	ms []Member
}

// NewStatic returns a membership of ms.
func NewStatic(ms ...Member) *Static {
	s := &Static{}
	s.Set(ms...)
	return s
}

// Set replaces the members.
func (s *Static) Set(ms ...Member) {
	s.mu.Lock()
	s.ms = slices.Clone(ms)
	s.mu.Unlock()
}

// Members returns the members of pop with an address.
func (s *Static) Members(pop string) []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Member
	for _, m := range s.ms {
		if m.POP == pop && m.Addr != "" {
			out = append(out, m)
		}
	}
	return out
}
