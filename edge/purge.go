package edge

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/terncdn/tern/cache"
)

// Purge removes what this edge holds for path in a distribution, in every
// tier, and keeps fetches in flight for it from storing. Paths follow
// CloudFront's invalidation rules: they start with "/", and "*" may only
// end them ("/images/*"); "/*" is everything. It returns the number of
// objects the memory tier dropped (disk tiers report their own).
func (s *Server) Purge(distribution, path string) (int, error) {
	if err := cache.ValidateInvalidationPath(path); err != nil {
		return 0, err
	}
	rt := s.routes.Load()
	if !rt.has(distribution) {
		return 0, fmt.Errorf("purge: no distribution %q", distribution)
	}
	wildcard := strings.HasSuffix(path, "*")
	p := strings.TrimSuffix(path, "*")
	// The key holds the path as the edge sees it: escaped, then normalised.
	p = normalizePath((&url.URL{Path: p}).EscapedPath())
	if wildcard {
		p += "*"
	}
	return s.invalidate(cache.InvalidationPrefix(distribution, p)), nil
}

func (rt *routes) has(id string) bool {
	for _, d := range rt.exact {
		if d.id == id {
			return true
		}
	}
	for _, w := range rt.wildcards {
		if w.dist.id == id {
			return true
		}
	}
	return rt.catchAll != nil && rt.catchAll.id == id
}

// DistributionIDs lists the distributions in service, sorted.
func (s *Server) DistributionIDs() []string {
	rt := s.routes.Load()
	seen := map[string]bool{}
	add := func(d *distribution) {
		if d != nil {
			seen[d.id] = true
		}
	}
	for _, d := range rt.exact {
		add(d)
	}
	for _, w := range rt.wildcards {
		add(w.dist)
	}
	add(rt.catchAll)
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
