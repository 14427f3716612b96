package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// etag is the entity tag of a distribution at revision rev: the revision
// as a strong tag, `"42"` (RFC 9110 section 8.8.3).
func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// ifMatch is a parsed If-Match field (RFC 9110 section 13.1.1).
type ifMatch struct {
	any       bool     // "*": any current revision
	revisions []uint64 // the strong tags that are revisions
}

func (m ifMatch) matches(rev uint64) bool {
	if m.any {
		return true
	}
	for _, r := range m.revisions {
		if r == rev {
			return true
		}
	}
	return false
}

// parseIfMatch parses an If-Match value: "*" or a comma-separated list of
// entity tags. A bare revision (42, as CloudFront's clients send IfMatch)
// is taken for "42". Weak tags (W/"42") are dropped, since If-Match
// compares strongly and a weak tag never matches; so are strong tags that
// are not revisions, which match nothing here.
func parseIfMatch(v string) (ifMatch, error) {
	var m ifMatch
	v = strings.TrimSpace(v)
	if v == "*" {
		m.any = true
		return m, nil
	}
	n := 0
	for rest := v; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		n++
		weak := strings.HasPrefix(rest, "W/")
		if weak {
			rest = rest[2:]
		}
		var tag string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return ifMatch{}, fmt.Errorf("If-Match %q: unterminated entity tag", v)
			}
			tag, rest = rest[1:1+end], rest[2+end:]
			if r := strings.TrimLeft(rest, " \t"); r != "" && r[0] != ',' {
				return ifMatch{}, fmt.Errorf("If-Match %q: expected \",\" after an entity tag", v)
			}
		} else if !weak {
			end := strings.IndexAny(rest, " \t,")
			if end < 0 {
				end = len(rest)
			}
			tag, rest = rest[:end], rest[end:]
			if _, err := strconv.ParseUint(tag, 10, 64); err != nil {
				return ifMatch{}, fmt.Errorf("If-Match %q: %q is neither an entity tag (\"42\") nor a revision", v, tag)
			}
		} else {
			return ifMatch{}, fmt.Errorf("If-Match %q: W/ must precede a quoted entity tag", v)
		}
		if weak {
			continue
		}
		if rev, err := strconv.ParseUint(tag, 10, 64); err == nil && rev > 0 {
			m.revisions = append(m.revisions, rev)
		}
	}
	if n == 0 {
		return ifMatch{}, errors.New("If-Match is empty: send the distribution's ETag")
	}
	return m, nil
}

// noneMatchHit reports whether an If-None-Match value names revision rev,
// by weak comparison (RFC 9110 section 13.1.2), so a GET may answer 304.
// A malformed value matches nothing.
func noneMatchHit(v string, rev uint64) bool {
	if strings.TrimSpace(v) == "*" {
		return true
	}
	want := strconv.FormatUint(rev, 10)
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' && part[1:len(part)-1] == want {
			return true
		}
	}
	return false
}
