package cache

import (
	"fmt"
	"strings"
)

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
