package tier

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func members(ids ...string) []Member {
	var ms []Member
	for _, id := range ids {
		ms = append(ms, Member{NodeID: id, POP: "p", Addr: id + ":1"})
	}
	return ms
}

func ids(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.NodeID)
	}
	return out
}

// TestRankIsTheSameOnEveryNode: the order depends on the members and the
// key, not on the order a node happens to list its members in.
func TestRankIsTheSameOnEveryNode(t *testing.T) {
	for k := range 200 {
		key := "dist/obj/" + strconv.Itoa(k)
		a := members("a", "b", "c", "d")
		b := members("d", "c", "a", "b")
		Rank(a, key)
		Rank(b, key)
		if !slices.Equal(ids(a), ids(b)) {
			t.Fatalf("key %s: %v vs %v", key, ids(a), ids(b))
		}
	}
}

// TestRankSpreadsAndMovesOnlyTheGoneNodesKeys: keys spread evenly, and
// when a node leaves only its keys move, each to its second choice.
func TestRankSpreadsAndMovesOnlyTheGoneNodesKeys(t *testing.T) {
	const n = 6000
	owners := map[string]int{}
	for k := range n {
		key := "d\x00/o/" + strconv.Itoa(k)
		all := members("fra-1", "fra-2", "fra-3")
		Rank(all, key)
		owners[all[0].NodeID]++
		less := members("fra-1", "fra-3")
		Rank(less, key)
		want := all[0].NodeID
		if want == "fra-2" {
			want = all[1].NodeID
		}
		if less[0].NodeID != want {
			t.Fatalf("key %s: owner %s without fra-2, want %s (full order %v)", key, less[0].NodeID, want, ids(all))
		}
	}
	for id, c := range owners {
		if c < n/3*85/100 || c > n/3*115/100 {
			t.Errorf("%s owns %d of %d keys: %v", id, c, n, owners)
		}
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		kind  string
		chain string
		n     int
	}{
		{"peer; chain=fra-1", true, HopPeer, "fra-1", 1},
		{"shield;chain=fra-1/fra-2", true, HopShield, "fra-1/fra-2", 2},
		{"  shield ; x=1; chain=a.b_c", true, HopShield, "a.b_c", 1},
		{"peer", false, "", "", 0},
		{"peer; chain=", false, "", "", 0},
		{"peer; chain=a//b", false, "", "", 0},
		{"peer; chain=a b", false, "", "", 0},
		{"origin; chain=a", false, "", "", 0},
		{"", false, "", "", 0},
	} {
		h, ok := ParseHeader(tc.in)
		if ok != tc.ok || h.Kind != tc.kind || h.Chain != tc.chain || h.Len() != tc.n {
			t.Errorf("ParseHeader(%q) = %+v %v (len %d)", tc.in, h, ok, h.Len())
		}
	}
	h, _ := ParseHeader("peer; chain=fra-1/fra-2")
	if !h.Has("fra-2") || h.Has("fra") || h.Has("fra-1/fra-2") {
		t.Errorf("Has on %+v", h)
	}
	if got := h.Next(HopShield, "fra-3"); got != "shield; chain=fra-1/fra-2/fra-3" {
		t.Errorf("Next = %q", got)
	}
	if got := (Hop{}).Next(HopPeer, "x"); got != "peer; chain=x" {
		t.Errorf("Next from a viewer = %q", got)
	}
	if h, ok := ParseHeader(h.Next(HopShield, "fra-3")); !ok || h.Len() != 3 {
		t.Errorf("round trip: %+v %v", h, ok)
	}
}

func TestStatic(t *testing.T) {
	s := NewStatic(Member{NodeID: "a", POP: "x", Addr: "a:1"}, Member{NodeID: "b", POP: "y", Addr: "b:1"}, Member{NodeID: "c", POP: "x"})
	if got := ids(s.Members("x")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Members(x) = %v (a member without an address is no candidate)", got)
	}
	s.Set()
	if got := s.Members("x"); len(got) != 0 {
		t.Errorf("after Set(): %v", got)
	}
}

// FuzzParseHeader: any value a viewer sends parses or is refused, and what
// parses names only valid node ids and survives a round trip.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"peer; chain=a", "shield;chain=a/b/c", "peer; chain=", "x", ";;;", "peer; chain=a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h, ok := ParseHeader(v)
		if !ok {
			return
		}
		for id := range strings.SplitSeq(h.Chain, "/") {
			if !validID(id) || !h.Has(id) {
				t.Fatalf("%q: chain %q holds %q", v, h.Chain, id)
			}
		}
		again, ok := ParseHeader(h.Next(h.Kind, "self"))
		if !ok || again.Len() != h.Len()+1 || !again.Has("self") {
			t.Fatalf("%q: round trip %+v %v", v, again, ok)
		}
	})
}

// TestHeaderFence: a fence rides along the chain; a malformed one makes
// the header not parse.
func TestHeaderFence(t *testing.T) {
	h, ok := ParseHeader("peer; chain=fra-1; fence=1234")
	if !ok || h.Fence != 1234 || h.Chain != "fra-1" {
		t.Fatalf("ParseHeader: %+v %v", h, ok)
	}
	if got := h.Next(HopShield, "fra-2"); got != "shield; chain=fra-1/fra-2; fence=1234" {
		t.Errorf("Next: %q", got)
	}
	if got := (Hop{}).Next(HopPeer, "a"); got != "peer; chain=a" {
		t.Errorf("Next without a fence: %q", got)
	}
	for _, bad := range []string{"peer; chain=a; fence=", "peer; chain=a; fence=-1", "peer; chain=a; fence=x"} {
		if _, ok := ParseHeader(bad); ok {
			t.Errorf("ParseHeader(%q) accepted", bad)
		}
	}
}
