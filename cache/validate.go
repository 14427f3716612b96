package cache

import (
	"strings"
	"time"
)

// ValidatorRequestHeaders sets in out the conditional request fields that
// validate o with its origin (RFC 9111 §4.3.1): If-None-Match with the
// stored ETag, and If-Modified-Since with the stored Last-Modified. Both
// are sent when both exist; an origin that understands entity tags
// ignores If-Modified-Since (RFC 9110 §13.1.3).
func ValidatorRequestHeaders(o *Object, out Header) {
	if v := o.Header["Etag"]; len(v) > 0 && v[0] != "" {
		out["If-None-Match"] = []string{v[0]}
	}
	if v := o.Header["Last-Modified"]; len(v) > 0 && v[0] != "" {
		out["If-Modified-Since"] = []string{v[0]}
	}
}

// Selects reports whether a 304 response selects the stored object o for
// update (RFC 9111 §4.3.4): a strong ETag must equal o's strong ETag, a
// weak one must match o's ETag weakly, and a Last-Modified alone must
// equal o's. A 304 with no validator at all selects o: Tern only sends
// conditional requests built from o by ValidatorRequestHeaders, so such a
// 304 can only answer for o (RFC 9111 §4.3.4 reads this case narrowly,
// for clients that validate from a source other than the cache).
func Selects(o *Object, resp304 Header) bool {
	if v := resp304["Etag"]; len(v) > 0 {
		stored := o.Header["Etag"]
		if len(stored) == 0 {
			return false
		}
		newTag, ok1 := parseETag(v[0])
		oldTag, ok2 := parseETag(stored[0])
		if !ok1 || !ok2 {
			return false
		}
		if !newTag.weak {
			return strongMatch(newTag, oldTag)
		}
		return weakMatch(newTag, oldTag)
	}
	if v := resp304["Last-Modified"]; len(v) > 0 {
		stored := o.Header["Last-Modified"]
		if len(stored) == 0 {
			return false
		}
		a, ok1 := ParseHTTPDate(v[0])
		b, ok2 := ParseHTTPDate(stored[0])
		return ok1 && ok2 && a.Equal(b)
	}
	return true
}

// UpdatedHeader returns a new header: stored with every field of the 304
// response resp304 replacing the stored one (RFC 9111 §4.3.4), except:
//   - fields not stored at all (RFC 9111 §3.1, see RemoveUnstorableFields);
//   - Content-Length, which describes the 304, not the stored content;
//   - Content-Range, processed and removed by the recipient (§4.3.4);
//   - Content-Encoding, on which the stored body depends (§4.3.4): the
//     stored bytes are in the stored coding whatever the 304 says.
//
// A stored Age is dropped when the 304 has none, since it described the
// old response; the edge sets Age from CurrentAge anyway.
// Fields named by the merged response's private="..." are removed.
func UpdatedHeader(stored, resp304 Header) Header {
	h := make(Header, len(stored)+len(resp304))
	for k, v := range stored {
		if k == "Age" {
			continue
		}
		h[k] = v
	}
	connection := resp304["Connection"]
	for k, v := range resp304 {
		if notUpdated(k) || listsField(connection, k) {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	RemoveUnstorableFields(h)
	StripPrivateFields(h, EffectiveDirectives(h))
	return h
}

func notUpdated(k string) bool {
	switch k {
	case "Content-Length", "Content-Range", "Content-Encoding":
		return true
	}
	for _, u := range unstorableFields {
		if k == u {
			return true
		}
	}
	return false
}

// listsField reports whether Connection values name the field k.
func listsField(connection []string, k string) bool {
	for _, v := range connection {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(name), k) {
				return true
			}
		}
	}
	return false
}

// Updated freshens o with a 304 response to a validation request sent at
// requestTime and received at responseTime (RFC 9111 §4.3.4). It returns
// a new Object that shares o's body, with UpdatedHeader's header, the new
// times, an initial age computed from the 304 (§4.2.3), and f, which the
// caller computes with Evaluate(req, o.Status, UpdatedHeader(o.Header,
// resp304), policy, responseTime). o itself is not changed.
//
// It returns nil when the 304 does not select o (see Selects): the caller
// must then fetch the resource unconditionally.
func Updated(o *Object, resp304 Header, requestTime, responseTime time.Time, f Freshness) *Object {
	if !Selects(o, resp304) {
		return nil
	}
	n := *o
	n.Header = UpdatedHeader(o.Header, resp304)
	n.RequestTime = requestTime
	n.ResponseTime = responseTime
	n.InitialAge = InitialAge(resp304, requestTime, responseTime)
	n.Freshness = f
	return &n
}
