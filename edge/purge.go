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
	if err := ValidateInvalidationPath(path); err != nil {
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

// ValidateInvalidationPath checks a path the way CloudFront checks an
// invalidation path.
func ValidateInvalidationPath(path string) error {
	switch {
	case path == "":
		return fmt.Errorf("invalidation path is empty")
	case path[0] != '/':
		return fmt.Errorf("invalidation path %q does not start with /", path)
	case strings.Contains(strings.TrimSuffix(path, "*"), "*"):
		return fmt.Errorf("invalidation path %q has a * that is not its last character", path)
	case strings.ContainsAny(path, "?#"):
		return fmt.Errorf("invalidation path %q has a query or fragment: invalidations cover every query string of a path", path)
	}
	return nil
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
