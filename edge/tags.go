package edge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
)

// tagsForTier hands tags on in h when x comes from another Tern tier (an
// edge fetching from its shield or from the owner of an object in its
// POP), as Surrogate-Key, so that the node that asked stores them too and
// a purge by tag reaches its copy. An object's tags are kept apart from
// its header (cache.Object.Tags), so a viewer's response needs nothing
// removed: the hit path pays one length check for an untagged object.
//
// A request is from another tier when its Tern-Tier header parsed
// (x.tierHop, set only on a node with a tier membership): a viewer who
// sends a Tern-Tier header that is not one, or sends any to a node
// without tiers, is a viewer and does not see the tags.
func tagsForTier(x *exchange, h http.Header, tags []string) {
	if len(tags) == 0 {
		return
	}
	if fromTier(x) {
		h[cache.SurrogateKeyHeader] = []string{cache.TagsHeaderValue(tags)}
	}
}

// fromTier reports whether x is a request from another Tern tier.
func fromTier(x *exchange) bool { return x.tierHop.Kind != "" }

// takeTags removes the tag fields from an origin response's header h and
// returns its tags, logging (at debug level) those it dropped as malformed
// or beyond the limits (cache.MaxTagLen, cache.MaxTagBytes).
func takeTags(h cache.Header, key string) (tags []string, present bool) {
	tags, dropped, present := cache.TakeTags(h)
	if dropped > 0 {
		slog.Debug("cache tags dropped: malformed or beyond the limits", "key", key, "dropped", dropped, "kept", len(tags),
			"max_tag_len", cache.MaxTagLen, "max_tag_bytes", cache.MaxTagBytes)
	}
	return tags, present
}

// PurgeTag removes every object of a distribution that carries tag (see
// cache.TakeTags), in every tier, or with soft set marks them stale
// instead, so that each is revalidated with the origin on its next use
// (and stale-while-revalidate or stale-if-error may serve it meanwhile).
//
// Fetches in flight for the distribution store nothing afterwards if they
// bring the tag, or if their response head has not arrived yet (its tags
// are not known, and it may predate the purge): at worst a few objects are
// fetched once more. It returns the number of objects the memory tier
// purged, and an error for a malformed tag or a distribution not in
// service (whose objects it purges all the same).
func (s *Server) PurgeTag(distribution, tag string, soft bool) (int, error) {
	if err := cache.ValidateTag(tag); err != nil {
		return 0, err
	}
	match := func(h collapse.Head, published bool) bool {
		return !published || headHasTag(h, tag)
	}
	prefix := distribution + "\x00"
	// As in invalidate: span fills first, then whole fetches, then the
	// stored objects, so that a store racing with the purge lands before it.
	if s.sliceFills != nil {
		s.sliceFills.InvalidateMatch(prefix, match)
	}
	s.fills.InvalidateMatch(prefix, match)
	var n int
	if soft {
		n = s.store.ExpireTag(distribution, tag, time.Now())
	} else {
		n = s.store.DeleteTag(distribution, tag)
	}
	return n, s.inService(distribution)
}

// headHasTag reports whether a fill's published head brings tag, or may
// (a head whose tags it cannot tell).
func headHasTag(h collapse.Head, tag string) bool {
	var o cache.Object
	switch m := h.Meta.(type) {
	case *fillResult:
		o.Tags = m.tags
	case *sliceResult:
		o.Tags = m.meta.Tags
	case wholeFetch:
		return false // its viewers follow a fill of its own, matched on its own
	default:
		return true
	}
	return o.HasTag(tag)
}
