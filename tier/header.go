package tier

import (
	"strconv"
	"strings"
)

// Header marks a request one Tern node sends another on a miss:
//
//	Tern-Tier: peer; chain=fra-1
//	Tern-Tier: shield; chain=fra-1/fra-2
//
// The first token is the hop: "peer" (to the object's owner in the
// sender's POP) or "shield" (to a regional shield). chain lists, in
// order, the node ids the request passed through, the sender last.
//
// fence, if present, is the invalidation stream sequence of the latest
// purge the sender applied that may cover the object: the receiver first
// applies the invalidations up to it (waiting briefly), so that it does
// not hand back a copy the sender has already purged (see edge's
// fences). A node without a fence sends none:
//
//	Tern-Tier: peer; chain=fra-1; fence=1234
//
// A node that receives a request marked "peer" does not ask its own
// peers again; one marked "shield" goes straight to the origin; one whose
// chain holds its own node id, or MaxChain ids, is a loop and is answered
// 508 Loop Detected. A header that does not parse is ignored. Nodes of a
// control plane trust the header only with a valid AuthHeader beside it
// (signed with the control plane's secret); otherwise it is a viewer's
// and is dropped. A node given no secret (a static membership) trusts it
// as it comes.
const Header = "Tern-Tier"

// Hops.
const (
	HopPeer   = "peer"
	HopShield = "shield"
)

// MaxChain is the longest chain a node accepts. A miss takes at most two
// tier hops (edge → POP owner → shield); anything longer is a loop.
const MaxChain = 4

// Hop is a parsed Tern-Tier header. The zero Hop is a request from a
// viewer.
type Hop struct {
	// Kind is HopPeer or HopShield.
	Kind string
	// Chain is the node ids the request passed through, "/"-separated.
	Chain string
	// Fence is the invalidation stream sequence the receiver must have
	// applied before it answers from its cache; 0 for none.
	Fence uint64
}

// ParseHeader reads a Tern-Tier header value; ok is false when it is not
// one.
func ParseHeader(v string) (h Hop, ok bool) {
	kind, params, _ := strings.Cut(v, ";")
	switch h.Kind = strings.TrimSpace(kind); h.Kind {
	case HopPeer, HopShield:
	default:
		return Hop{}, false
	}
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if name == "fence" {
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return Hop{}, false
			}
			h.Fence = n
			continue
		}
		if name != "chain" {
			continue
		}
		for id := range strings.SplitSeq(value, "/") {
			if !validID(id) {
				return Hop{}, false
			}
		}
		h.Chain = value
	}
	if h.Chain == "" {
		return Hop{}, false
	}
	return h, true
}

// Has reports whether node is in the chain.
func (h Hop) Has(node string) bool {
	for id := range strings.SplitSeq(h.Chain, "/") {
		if id == node {
			return true
		}
	}
	return false
}

// Len is the number of nodes in the chain.
func (h Hop) Len() int {
	if h.Chain == "" {
		return 0
	}
	return strings.Count(h.Chain, "/") + 1
}

// Next is the header value node sends for a hop of kind, extending h's
// chain (h is the zero Hop for a viewer's request), with h's fence.
func (h Hop) Next(kind, node string) string {
	v := kind + "; chain=" + node
	if h.Chain != "" {
		v = kind + "; chain=" + h.Chain + "/" + node
	}
	if h.Fence > 0 {
		v += "; fence=" + strconv.FormatUint(h.Fence, 10)
	}
	return v
}

// validID accepts node ids as config allows them: letters, digits, ".",
// "-" and "_", at most 128 characters.
func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ErrorResponseHeader marks a node's answer to a tier-to-tier request
// that is one of its distribution's custom error responses (a page or a
// status in place of the origin's answer). The node that asked cannot
// store that as the origin's response, so it fetches from the origin
// itself; custom error responses are applied by the node facing the
// viewer.
const ErrorResponseHeader = "Tern-Tier-Error-Response"
