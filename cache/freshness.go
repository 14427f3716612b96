package cache

import (
	"net/textproto"
	"strings"
	"time"
)

// TTLPolicy is a cache behavior's TTL settings, as in a CloudFront cache
// policy. The zero value is CloudFront's CachingDisabled: every TTL is 0,
// so responses may be stored but each use needs validation.
type TTLPolicy struct {
	// MinTTL, DefaultTTL and MaxTTL clamp the origin's freshness: explicit
	// max-age, s-maxage or Expires is clamped to [MinTTL, MaxTTL]; a
	// response without explicit freshness gets DefaultTTL, clamped alike.
	MinTTL, DefaultTTL, MaxTTL time.Duration
	// OriginControlled (Tern-OriginControlled) applies no clamps: the
	// origin's freshness is used as sent, and RFC 9111 §4.2.2 heuristics
	// apply when the origin says nothing.
	OriginControlled bool
	// ErrorCachingMinTTL is CloudFront's error caching minimum TTL: a
	// response with one of these statuses and no explicit freshness is
	// cached this long. The caller fills the defaults (10s for 400, 403,
	// 404, 405, 414, 416, 500, 501, 502, 503, 504).
	ErrorCachingMinTTL map[int]time.Duration
}

// RequestFacts is what Evaluate needs of the viewer request that produced
// a response.
type RequestFacts struct {
	Method string
	Header Header
}

// Evaluate decides whether a shared cache may store a response received
// at responseTime, and for how long it is fresh.
//
// Storability follows RFC 9111 §3, with these choices:
//   - Only GET and HEAD responses are stored; a response to POST with
//     explicit freshness is not (RFC 9111 §3 allows it, few CDNs do).
//   - A response with Set-Cookie is stored only with an explicit public
//     or s-maxage (or private="Set-Cookie", which strips the field).
//     CloudFront stores such responses when the behavior forwards cookies;
//     Tern refuses by default, because a cookie meant for one viewer must
//     not be served to others.
//   - A request with Cache-Control: no-store is honoured (§5.2.1.5): its
//     response is not stored.
//
// When CDN-Cache-Control (RFC 9213) is present and valid, its directives
// replace Cache-Control and Expires for this cache; else Surrogate-Control
// does, when it carries a caching directive.
//
// TTL clamps follow CloudFront, except that no-cache is never raised by
// MinTTL (and no-store and private are never stored): Tern follows
// RFC 9111 over CloudFront's "MinTTL overrides no-cache".
func Evaluate(req RequestFacts, status int, resp Header, p TTLPolicy, responseTime time.Time) Freshness {
	// RFC 9111 §3: the request method is understood and cacheable. OPTIONS
	// too, because the caller passes it only when the behavior's
	// cached_methods include it (CloudFront caches CORS preflights that
	// way), a deliberate departure from RFC 9110 §9.3.7.
	if req.Method != "GET" && req.Method != "HEAD" && req.Method != "OPTIONS" {
		return Freshness{Reason: "method"}
	}
	// RFC 9111 §3: the status is final and understood; 206 and 304 are
	// never stored from an origin (the edge builds ranges itself, and a
	// 304 only freshens a stored response, §4.3.4).
	if !statusUnderstood(status) {
		return Freshness{Reason: "status"}
	}
	// RFC 9111 §5.2.1.5: request no-store.
	if rcc := req.Header["Cache-Control"]; len(rcc) > 0 && ParseCacheControl(rcc).NoStore {
		return Freshness{Reason: "request no-store"}
	}

	d, src := responseDirectives(resp)
	// RFC 9111 §5.2.2.5; must-understand overrides no-store for a status
	// the cache understands (§5.2.2.3), which statusUnderstood checked.
	if d.NoStore && !d.MustUnderstand {
		return Freshness{Reason: "no-store"}
	}
	// RFC 9111 §5.2.2.7: a shared cache must not store a private response.
	if d.Private {
		return Freshness{Reason: "private"}
	}
	// RFC 9111 §3.5: a response to a request with Authorization is stored
	// only when public, must-revalidate or s-maxage allows it.
	if _, ok := req.Header["Authorization"]; ok && !d.Public && !d.MustRevalidate && d.SMaxAge == Absent {
		return Freshness{Reason: "authorization"}
	}
	// RFC 9111 §4.1: Vary: * never matches a later request.
	if hasVaryStar(resp) {
		return Freshness{Reason: "vary *"}
	}
	if len(resp["Set-Cookie"]) > 0 && !d.Public && d.SMaxAge == Absent && !containsFold(d.PrivateFields, "Set-Cookie") {
		return Freshness{Reason: "set-cookie"}
	}

	f := Freshness{
		Storable:             true,
		NoCache:              d.NoCache,
		NoCacheFields:        d.NoCacheFields,
		MustRevalidate:       d.MustRevalidate || d.ProxyRevalidate || d.SMaxAge != Absent,
		StaleWhileRevalidate: max(d.StaleWhileRevalidate, 0),
		StaleIfError:         max(d.StaleIfError, 0),
	}

	date, ok := singleDate(resp["Date"])
	if !ok {
		date = responseTime
	}
	lifetime, explicit := explicitLifetime(d, src, resp, date)
	heuristicOK := heuristicStatus(status) || d.Public
	errorTTL, isError := p.ErrorCachingMinTTL[status]

	switch {
	case explicit && p.OriginControlled:
		f.Lifetime = lifetime
	case explicit:
		f.Lifetime = clamp(lifetime, p.MinTTL, p.MaxTTL)
	case isError:
		// CloudFront error caching: no explicit freshness on an error.
		f.Lifetime = errorTTL
	case heuristicOK && p.OriginControlled:
		// RFC 9111 §4.2.2: heuristic freshness.
		f.Lifetime = heuristicLifetime(resp, date)
		f.Heuristic = true
	case heuristicOK:
		f.Lifetime = clamp(p.DefaultTTL, p.MinTTL, p.MaxTTL)
	case d.NoCache:
		// RFC 9111 §5.2.2.4: may be stored, validated on every use.
	default:
		// RFC 9111 §3: no explicit freshness, no heuristic, no policy TTL.
		return Freshness{Reason: "no freshness"}
	}
	// RFC 9111 §5.2.2.4: no-cache means every use is validated; MinTTL
	// does not override it.
	if d.NoCache {
		f.Lifetime = 0
	}
	return f
}

// EffectiveDirectives returns the response directives that Evaluate
// applies for this cache: CDN-Cache-Control when present and valid
// (RFC 9213 §2.1), else Surrogate-Control when it carries a caching
// directive, else Cache-Control (RFC 9111 §5.2).
func EffectiveDirectives(resp Header) Directives {
	d, _ := responseDirectives(resp)
	return d
}

type directiveSource uint8

const (
	fromCacheControl directiveSource = iota
	fromCDNCacheControl
	fromSurrogateControl
)

func responseDirectives(resp Header) (Directives, directiveSource) {
	if v := resp["Cdn-Cache-Control"]; len(v) > 0 {
		if d, ok := ParseCDNCacheControl(v); ok {
			return d, fromCDNCacheControl
		}
	}
	if v := resp["Surrogate-Control"]; len(v) > 0 {
		if d := ParseSurrogateControl(v); d.hasCachingDirective() {
			return d, fromSurrogateControl
		}
	}
	return ParseCacheControl(resp["Cache-Control"]), fromCacheControl
}

// explicitLifetime is RFC 9111 §4.2.1: s-maxage, else max-age, else
// Expires minus Date. An invalid or repeated Expires makes the response
// stale. RFC 9213 §2.1: Expires is ignored under CDN-Cache-Control.
func explicitLifetime(d Directives, src directiveSource, resp Header, date time.Time) (time.Duration, bool) {
	switch {
	case d.SMaxAge != Absent:
		return d.SMaxAge, true
	case d.MaxAge != Absent:
		return d.MaxAge, true
	case src == fromCDNCacheControl:
		return 0, false
	}
	ev := resp["Expires"]
	if len(ev) == 0 {
		return 0, false
	}
	exp, ok := singleDate(ev)
	if !ok {
		return 0, true // RFC 9111 §5.3: invalid Expires means stale
	}
	return clampDuration(exp.Sub(date)), true
}

// heuristicLifetime is RFC 9111 §4.2.2: 10% of the time since
// Last-Modified, at most a day; 0 without a usable Last-Modified.
func heuristicLifetime(resp Header, date time.Time) time.Duration {
	lm, ok := singleDate(resp["Last-Modified"])
	if !ok || !lm.Before(date) {
		return 0
	}
	return min(date.Sub(lm)/10, 24*time.Hour)
}

func clamp(v, lo, hi time.Duration) time.Duration {
	return max(min(v, hi), lo)
}

// clampDuration limits d to [0, 2^31 s] (RFC 9111 §1.2.2).
func clampDuration(d time.Duration) time.Duration {
	return max(min(d, maxDelta), 0)
}

// statusUnderstood reports whether the status is final and one whose
// caching semantics Tern implements (RFC 9111 §3). 206 and 304 are
// excluded: see Evaluate.
func statusUnderstood(status int) bool {
	switch status {
	case 200, 201, 202, 203, 204, 205,
		300, 301, 302, 303, 307, 308,
		400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
		421, 422, 426, 429, 451,
		500, 501, 502, 503, 504, 505:
		return true
	}
	return false
}

// heuristicStatus reports whether the status is heuristically cacheable
// (RFC 9110 §15.1).
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// StripPrivateFields removes from h the fields named by private="..."
// (RFC 9111 §5.2.2.7), which a shared cache must not store. Call it on
// the copy of the header that is stored, with EffectiveDirectives(h).
func StripPrivateFields(h Header, d Directives) {
	for _, name := range d.PrivateFields {
		delete(h, name)
	}
}

// RemoveUnstorableFields removes from h the fields a shared cache must
// not store (RFC 9111 §3.1): Connection and the fields it names, the
// other hop-by-hop fields (RFC 9110 §7.6.1), and the proxy-specific
// Proxy-Authenticate, Proxy-Authentication-Info and Proxy-Authorization.
func RemoveUnstorableFields(h Header) {
	for _, v := range h["Connection"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = strings.TrimSpace(name); name != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for _, name := range unstorableFields {
		delete(h, name)
	}
}

var unstorableFields = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade",
	"Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization",
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// HTTP-date formats (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete
// RFC 850 and asctime forms, which recipients must accept.
var dateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

// ParseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7).
func ParseHTTPDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		if len(s) < len(layout)-4 || len(s) > len(layout)+4 {
			continue
		}
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// singleDate parses a singleton date field: absent, repeated or invalid
// values report false (RFC 9111 §4.2.1, §5.3).
func singleDate(values []string) (time.Time, bool) {
	if len(values) != 1 {
		return time.Time{}, false
	}
	return ParseHTTPDate(values[0])
}
