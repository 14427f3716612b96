package edge

import (
	"fmt"
	"slices"
	"time"

	"github.com/terncdn/tern/cache"
)

// Purge removes what this edge holds for path in a distribution, in every
// tier, and keeps fetches in flight for it from storing: PurgePath, hard.
func (s *Server) Purge(distribution, path string) (int, error) {
	return s.PurgePath(distribution, path, false)
}

// PurgePath removes what this edge holds for path in a distribution, in
// every tier, or with soft set marks it stale instead, so that its next use
// revalidates it with the origin (a conditional request: a 304 makes it
// fresh again without fetching the body). Either way fetches in flight for
// it store nothing. Paths follow CloudFront's invalidation rules: they
// start with "/", and "*" may only end them ("/images/*"); "/*" is
// everything. It returns the number of objects the memory tier purged
// (disk tiers report their own), and an error for a distribution not in
// service, whose objects it purges too.
func (s *Server) PurgePath(distribution, path string, soft bool) (int, error) {
	if err := cache.ValidateInvalidationPath(path); err != nil {
		return 0, err
	}
	// A distribution out of service (disabled, or not applied yet) may
	// still have objects stored, served again once it is back: they go too.
	prefix := purgePrefix(distribution, path)
	var n int
	if soft {
		s.invalidateFills(prefix)
		n = s.store.ExpirePrefix(prefix, time.Now())
	} else {
		n = s.invalidate(prefix)
	}
	return n, s.inService(distribution)
}

// inService is nil for a distribution in service, and otherwise the error
// a purge of it reports.
func (s *Server) inService(distribution string) error {
	if !s.routes.Load().has(distribution) {
		return fmt.Errorf("purge: no distribution %q in service (what it stored is purged all the same)", distribution)
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

// PurgeAll empties the cache: every distribution's objects in every tier,
// and keeps every fetch in flight from storing. It returns the number of
// objects the memory tier dropped.
func (s *Server) PurgeAll() int {
	return s.invalidate("")
}
