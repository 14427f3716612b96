package cache

import (
	"net/url"
	"strings"
)

// InvalidationTargets lists the paths a cache must invalidate after it
// forwarded a request with method to target and got a response with
// status and header resp (RFC 9111 §4.4): when the method is unsafe (or
// unknown) and the status is not an error (2xx or 3xx), the target's path
// and the paths of Location and Content-Location, the latter only when
// they name the same host (§4.4: "MUST NOT ... if the host part of that
// URI differs").
//
// Paths are escaped, as AppendKey receives them; invalidating a path
// covers every query string and variant of it (see InvalidationPrefix),
// which is more than §4.4 requires and never less.
func InvalidationTargets(method string, target *url.URL, status int, resp Header) []string {
	if isSafeMethod(method) || status < 200 || status > 399 || target == nil {
		return nil
	}
	paths := []string{pathOf(target)}
	for _, field := range [...]string{"Location", "Content-Location"} {
		v := resp[field]
		if len(v) == 0 {
			continue
		}
		ref, err := url.Parse(strings.TrimSpace(v[0]))
		if err != nil {
			continue
		}
		u := target.ResolveReference(ref)
		if !strings.EqualFold(u.Hostname(), target.Hostname()) {
			continue
		}
		if p := pathOf(u); !contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths
}

// isSafeMethod reports whether the method is safe (RFC 9110 §9.2.1).
func isSafeMethod(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

func pathOf(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
