package cache

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cache tags name groups of objects that one purge removes together (a
// product's page, its images and its API answers). An origin gives each
// response its tags in either of the two headers CDNs read:
//
//	Surrogate-Key: product-42 category-7   (Fastly: separated by spaces)
//	Cache-Tag: product-42,category-7       (Cloudflare: separated by commas)
//
// Tags are compared exactly (case matters, as Fastly compares them).
const (
	// SurrogateKeyHeader and CacheTagHeader are the response fields that
	// carry an object's tags from the origin.
	SurrogateKeyHeader = "Surrogate-Key"
	CacheTagHeader     = "Cache-Tag"

	// MaxTagLen is the longest tag kept, in bytes (Cloudflare's and
	// Fastly's limit). Longer ones are dropped.
	MaxTagLen = 1024
	// MaxTagBytes bounds the tags of one object: once the tags kept add up
	// to this many bytes (a separator counted per tag), the rest are
	// dropped. It is the 16 KiB both Cloudflare and Fastly allow for the
	// whole header, and it bounds what one object adds to the tag indexes.
	MaxTagBytes = 16 << 10
)

// TakeTags removes the tag fields (Surrogate-Key, Cache-Tag) from h and
// returns the tags they carried, sorted and without duplicates; present
// reports whether either field was there at all (a 304 without them keeps
// the stored object's tags). dropped counts the tags left out: malformed
// (a byte outside visible ASCII, or a comma), longer than MaxTagLen, or
// beyond MaxTagBytes. A response is never refused for its tags.
func TakeTags(h Header) (tags []string, dropped int, present bool) {
	sk, hasSK := h[SurrogateKeyHeader]
	ct, hasCT := h[CacheTagHeader]
	if !hasSK && !hasCT {
		return nil, 0, false
	}
	delete(h, SurrogateKeyHeader)
	delete(h, CacheTagHeader)
	add := func(t string) {
		if t == "" {
			return
		}
		if ValidateTag(t) != nil {
			dropped++
			return
		}
		tags = append(tags, t)
	}
	for _, v := range sk {
		for _, t := range strings.Fields(v) {
			add(t)
		}
	}
	for _, v := range ct {
		for t := range strings.SplitSeq(v, ",") {
			add(strings.TrimSpace(t))
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	total := 0
	for i, t := range tags {
		if total+len(t)+1 > MaxTagBytes {
			dropped += len(tags) - i
			tags = tags[:i]
			break
		}
		total += len(t) + 1
	}
	return slices.Clip(tags), dropped, true
}

// ValidateTag checks one cache tag: 1 to MaxTagLen bytes of visible ASCII
// other than the comma (so that either header can carry it).
func ValidateTag(tag string) error {
	if tag == "" {
		return fmt.Errorf("cache tag is empty")
	}
	if len(tag) > MaxTagLen {
		return fmt.Errorf("cache tag %.32q... is %d bytes long, the limit is %d", tag, len(tag), MaxTagLen)
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return fmt.Errorf("cache tag %q has %q at byte %d: tags are visible ASCII without spaces or commas", tag, c, i)
		}
	}
	return nil
}

// HasTag reports whether the object carries tag.
func (o *Object) HasTag(tag string) bool {
	_, ok := slices.BinarySearch(o.Tags, tag)
	return ok
}

// TagsHeaderValue is the Surrogate-Key value that hands tags on to another
// cache tier.
func TagsHeaderValue(tags []string) string { return strings.Join(tags, " ") }

// TagPrefix is the prefix shared by the tag index entries of tag in
// distribution: distribution \0 tag \0, followed by the object's key.
func TagPrefix(distribution, tag string) string {
	return distribution + "\x00" + tag + "\x00"
}

// DistributionOf is the distribution a storage key belongs to: what
// precedes its first NUL (see AppendKey).
func DistributionOf(key string) string {
	d, _, _ := strings.Cut(key, "\x00")
	return d
}

// Expired returns a copy of o that is stale from now on (a soft purge):
// its freshness lifetime ends at its current age, so the next use
// revalidates it with the origin (RFC 9111 §4.3), and its
// stale-while-revalidate and stale-if-error windows (RFC 5861) run from
// now. It returns nil when there is nothing to expire: a vary marker (its
// variants are expired on their own), or an object already stale.
func Expired(o *Object, now time.Time) *Object {
	if o == nil || o.Vary != nil || o.FreshFor(now) <= 0 {
		return nil
	}
	n := *o
	n.Freshness.Lifetime = o.CurrentAge(now)
	return &n
}
