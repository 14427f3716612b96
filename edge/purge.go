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
// objects the memory tier dropped (disk tiers report their own), and an
// error for a distribution not in service, whose objects it drops too.
func (s *Server) Purge(distribution, path string) (int, error) {
	if err := cache.ValidateInvalidationPath(path); err != nil {
		return 0, err
	}
	wildcard := strings.HasSuffix(path, "*")
	p := strings.TrimSuffix(path, "*")
	// The key holds the path as the edge sees it: escaped, then normalised.
	p = normalizePath((&url.URL{Path: p}).EscapedPath())
	if wildcard {
		p += "*"
	}
	// A distribution out of service (disabled, or not applied yet) may
	// still have objects stored, served again once it is back: they go too.
	n := s.invalidate(cache.InvalidationPrefix(distribution, p))
	if !s.routes.Load().has(distribution) {
		return n, fmt.Errorf("purge: no distribution %q in service (what it stored is purged all the same)", distribution)
	}
	return n, nil
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

// PurgeAll empties the cache: every distribution's objects in every tier,
// and keeps every fetch in flight from storing. It returns the number of
// objects the memory tier dropped.
func (s *Server) PurgeAll() int {
	return s.invalidate("")
}
