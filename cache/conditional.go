package cache

// EvaluateConditional answers a viewer's conditional request from a stored
// response (RFC 9110 §13.2.2). status is the status the response would
// have without the conditions. It returns 0 to serve the response
// normally, 304 (Not Modified) or 412 (Precondition Failed).
//
// Preconditions apply only when the response would be 2xx (§13.2.1).
// Order: If-Match (strong comparison), else If-Unmodified-Since; then
// If-None-Match (weak comparison), else If-Modified-Since for GET and
// HEAD. If-Range is handled by IfRangeAllows.
func EvaluateConditional(method string, req, stored Header, status int) int {
	if status < 200 || status > 299 {
		return 0
	}
	// Most requests carry no precondition: then nothing of the stored
	// response needs parsing (its Last-Modified is a time.Parse, and this
	// runs on every hit).
	if len(req["If-Match"]) == 0 && len(req["If-Unmodified-Since"]) == 0 &&
		len(req["If-None-Match"]) == 0 && len(req["If-Modified-Since"]) == 0 {
		return 0
	}
	tag, hasTag := storedETag(stored)
	lm, hasLM := singleDate(stored["Last-Modified"])
	getOrHead := method == "GET" || method == "HEAD"

	// §13.2.2 step 1 and 2.
	if v := req["If-Match"]; len(v) > 0 {
		// §13.1.1: strong comparison; "*" matches any current representation.
		if !etagListMatches(v, tag, hasTag, true) {
			return 412
		}
	} else if v := req["If-Unmodified-Since"]; len(v) > 0 {
		// §13.1.4: ignored when invalid or when there is no date to compare.
		if t, ok := singleDate(v); ok && hasLM && lm.After(t) {
			return 412
		}
	}
	// §13.2.2 step 3 and 4.
	if v := req["If-None-Match"]; len(v) > 0 {
		// §13.1.2: weak comparison.
		if etagListMatches(v, tag, hasTag, false) {
			if getOrHead {
				return 304
			}
			return 412
		}
		return 0
	}
	if getOrHead {
		// §13.1.3: ignored when invalid, repeated, or without Last-Modified.
		if t, ok := singleDate(req["If-Modified-Since"]); ok && hasLM && !lm.After(t) {
			return 304
		}
	}
	return 0
}

// notModifiedFields are the fields a 304 carries (RFC 9110 §15.4.5) when
// the 200 would: Cache-Control, Content-Location, Date, ETag, Expires and
// Vary. CDN-Cache-Control travels with Cache-Control, since it guides the
// viewer-side CDNs that Tern passes it on to.
var notModifiedFields = [...]string{
	"Cache-Control", "Cdn-Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary",
}

// NotModifiedHeader copies into out the fields of stored that a 304
// response carries (RFC 9110 §15.4.5), plus Last-Modified when there is
// no ETag, as it then guides cache updates. The caller sets Age.
func NotModifiedHeader(stored Header, out Header) {
	for _, k := range notModifiedFields {
		if v, ok := stored[k]; ok {
			out[k] = v
		}
	}
	if _, ok := stored["Etag"]; !ok {
		if v, ok := stored["Last-Modified"]; ok {
			out["Last-Modified"] = v
		}
	}
}

// etag is an entity tag (RFC 9110 §8.8.3); opaque excludes the quotes.
type etag struct {
	weak   bool
	opaque string
}

// parseETag parses one entity-tag, tolerating surrounding whitespace.
func parseETag(s string) (etag, bool) {
	s = trimRightOWS(trimLeftOWS(s))
	var t etag
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		t.weak = true
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return etag{}, false
	}
	t.opaque = s[1 : len(s)-1]
	for i := 0; i < len(t.opaque); i++ {
		if t.opaque[i] == '"' {
			return etag{}, false
		}
	}
	return t, true
}

func storedETag(stored Header) (etag, bool) {
	v := stored["Etag"]
	if len(v) == 0 {
		return etag{}, false
	}
	return parseETag(v[0])
}

// strongMatch is strong comparison (RFC 9110 §8.8.3.2): neither weak,
// opaque tags equal.
func strongMatch(a, b etag) bool {
	return !a.weak && !b.weak && a.opaque == b.opaque
}

// weakMatch is weak comparison (RFC 9110 §8.8.3.2): opaque tags equal.
func weakMatch(a, b etag) bool {
	return a.opaque == b.opaque
}

// etagListMatches reports whether the "*" / #entity-tag list in values
// matches the stored tag. "*" matches whenever a representation is stored.
// A member that does not parse matches nothing.
func etagListMatches(values []string, stored etag, hasStored, strong bool) bool {
	for _, s := range values {
		for {
			s = trimLeftOWS(s)
			for len(s) > 0 && (s[0] == ',' || isOWS(s[0])) {
				s = s[1:]
			}
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			var t etag
			if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
				t.weak = true
				s = s[2:]
			}
			if len(s) == 0 || s[0] != '"' {
				// malformed member: skip it
				s = skipToComma(s)
				continue
			}
			end := 1
			for end < len(s) && s[end] != '"' {
				end++
			}
			if end == len(s) {
				break // unterminated
			}
			t.opaque = s[1:end]
			s = s[end+1:]
			if hasStored {
				if strong && strongMatch(t, stored) || !strong && weakMatch(t, stored) {
					return true
				}
			}
		}
	}
	return false
}
