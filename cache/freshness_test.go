package cache

import (
	"reflect"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") }

// hdr builds a Header from name, value pairs (names canonicalised).
func hdr(kv ...string) Header {
	h := Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

var errorTTLs = map[int]time.Duration{
	400: 10 * time.Second, 403: 10 * time.Second, 404: 10 * time.Second, 405: 10 * time.Second,
	414: 10 * time.Second, 416: 10 * time.Second, 500: 10 * time.Second, 501: 10 * time.Second,
	502: 10 * time.Second, 503: 10 * time.Second, 504: 10 * time.Second,
}

func TestEvaluate(t *testing.T) {
	clamped := TTLPolicy{MinTTL: 0, DefaultTTL: 24 * time.Hour, MaxTTL: 365 * 24 * time.Hour, ErrorCachingMinTTL: errorTTLs}
	minHour := clamped
	minHour.MinTTL = time.Hour
	maxHour := clamped
	maxHour.MaxTTL = time.Hour
	origin := TTLPolicy{OriginControlled: true, MinTTL: time.Hour, ErrorCachingMinTTL: errorTTLs}
	get := RequestFacts{Method: "GET", Header: Header{}}
	date := httpDate(t0)

	tests := []struct {
		name   string
		req    RequestFacts
		status int
		resp   Header
		p      TTLPolicy
		want   Freshness
	}{
		// Storability, RFC 9111 §3.
		{"POST not stored §3", RequestFacts{Method: "POST"}, 200, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "method"}},
		{"HEAD stored §3", RequestFacts{Method: "HEAD"}, 200, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"206 not stored §3", get, 206, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "status"}},
		{"304 not stored §3", get, 304, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "status"}},
		{"unknown status not stored §3", get, 299, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "status"}},
		{"no-store §5.2.2.5", get, 200, hdr("Cache-Control", "no-store, max-age=60"), clamped, Freshness{Reason: "no-store"}},
		{"must-understand overrides no-store §5.2.2.3", get, 200, hdr("Cache-Control", "no-store, must-understand, max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"request no-store §5.2.1.5", RequestFacts{Method: "GET", Header: hdr("Cache-Control", "no-store")}, 200, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "request no-store"}},
		{"private §5.2.2.7", get, 200, hdr("Cache-Control", "private, max-age=60"), clamped, Freshness{Reason: "private"}},
		{"qualified private stored §5.2.2.7", get, 200, hdr("Cache-Control", `private="Set-Cookie", max-age=60`, "Set-Cookie", "a=b"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"authorization §3.5", RequestFacts{Method: "GET", Header: hdr("Authorization", "Bearer x")}, 200, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Reason: "authorization"}},
		{"authorization with public §3.5", RequestFacts{Method: "GET", Header: hdr("Authorization", "Bearer x")}, 200, hdr("Cache-Control", "public, max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"authorization with must-revalidate §3.5", RequestFacts{Method: "GET", Header: hdr("Authorization", "Bearer x")}, 200, hdr("Cache-Control", "must-revalidate, max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute, MustRevalidate: true}},
		{"authorization with s-maxage §3.5", RequestFacts{Method: "GET", Header: hdr("Authorization", "Bearer x")}, 200, hdr("Cache-Control", "s-maxage=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute, MustRevalidate: true}},
		{"vary star §4.1", get, 200, hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding, *"), clamped, Freshness{Reason: "vary *"}},
		{"set-cookie refused", get, 200, hdr("Cache-Control", "max-age=60", "Set-Cookie", "id=1"), clamped, Freshness{Reason: "set-cookie"}},
		{"set-cookie with public", get, 200, hdr("Cache-Control", "public, max-age=60", "Set-Cookie", "id=1"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"set-cookie with s-maxage", get, 200, hdr("Cache-Control", "s-maxage=60", "Set-Cookie", "id=1"), clamped, Freshness{Storable: true, Lifetime: time.Minute, MustRevalidate: true}},

		// Lifetime, RFC 9111 §4.2.1.
		{"s-maxage over max-age §4.2.1", get, 200, hdr("Cache-Control", "max-age=60, s-maxage=30"), clamped, Freshness{Storable: true, Lifetime: 30 * time.Second, MustRevalidate: true}},
		{"Expires minus Date §4.2.1", get, 200, hdr("Date", date, "Expires", httpDate(t0.Add(time.Hour))), clamped, Freshness{Storable: true, Lifetime: time.Hour}},
		{"Expires without Date uses response time §4.2.1", get, 200, hdr("Expires", httpDate(t0.Add(2*time.Hour))), clamped, Freshness{Storable: true, Lifetime: 2 * time.Hour}},
		{"Expires in the past §4.2.1", get, 200, hdr("Date", date, "Expires", httpDate(t0.Add(-time.Hour))), clamped, Freshness{Storable: true}},
		{"invalid Expires is stale §5.3", get, 200, hdr("Date", date, "Expires", "0"), clamped, Freshness{Storable: true}},
		{"repeated Expires is stale §4.2.1", get, 200, hdr("Expires", httpDate(t0.Add(time.Hour)), "Expires", httpDate(t0.Add(time.Hour))), clamped, Freshness{Storable: true}},
		{"max-age over Expires §5.3", get, 200, hdr("Cache-Control", "max-age=60", "Date", date, "Expires", httpDate(t0.Add(time.Hour))), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"obsolete RFC 850 date accepted", get, 200, hdr("Date", "Saturday, 01-Mar-25 12:00:00 GMT", "Expires", "Saturday, 01-Mar-25 12:10:00 GMT"), clamped, Freshness{Storable: true, Lifetime: 10 * time.Minute}},
		{"asctime date accepted", get, 200, hdr("Date", "Sat Mar  1 12:00:00 2025", "Expires", "Sat Mar  1 12:05:00 2025"), clamped, Freshness{Storable: true, Lifetime: 5 * time.Minute}},

		// CloudFront TTL clamps.
		{"MinTTL raises max-age", get, 200, hdr("Cache-Control", "max-age=60"), minHour, Freshness{Storable: true, Lifetime: time.Hour}},
		{"MinTTL raises max-age=0", get, 200, hdr("Cache-Control", "max-age=0"), minHour, Freshness{Storable: true, Lifetime: time.Hour}},
		{"MaxTTL lowers max-age", get, 200, hdr("Cache-Control", "max-age=86400"), maxHour, Freshness{Storable: true, Lifetime: time.Hour}},
		{"MaxTTL lowers Expires", get, 200, hdr("Date", date, "Expires", httpDate(t0.Add(48*time.Hour))), maxHour, Freshness{Storable: true, Lifetime: time.Hour}},
		{"DefaultTTL without explicit freshness", get, 200, hdr(), clamped, Freshness{Storable: true, Lifetime: 24 * time.Hour}},
		{"DefaultTTL clamped by MaxTTL", get, 200, hdr(), maxHour, Freshness{Storable: true, Lifetime: time.Hour}},
		{"no-cache not raised by MinTTL §5.2.2.4", get, 200, hdr("Cache-Control", "no-cache, max-age=600"), minHour, Freshness{Storable: true, NoCache: true}},
		{"no-cache without freshness on 302 stored §5.2.2.4", get, 302, hdr("Cache-Control", "no-cache"), clamped, Freshness{Storable: true, NoCache: true}},
		{"qualified no-cache keeps lifetime §5.2.2.4", get, 200, hdr("Cache-Control", `no-cache="X-A", max-age=60`), clamped, Freshness{Storable: true, Lifetime: time.Minute, NoCacheFields: []string{"X-A"}}},
		{"302 without freshness not stored", get, 302, hdr(), clamped, Freshness{Reason: "no freshness"}},
		{"302 with max-age", get, 302, hdr("Cache-Control", "max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"302 public gets DefaultTTL §4.2.2", get, 302, hdr("Cache-Control", "public"), clamped, Freshness{Storable: true, Lifetime: 24 * time.Hour}},
		{"404 error caching", get, 404, hdr(), clamped, Freshness{Storable: true, Lifetime: 10 * time.Second}},
		{"503 error caching", get, 503, hdr(), clamped, Freshness{Storable: true, Lifetime: 10 * time.Second}},
		{"503 explicit freshness wins", get, 503, hdr("Cache-Control", "max-age=5"), clamped, Freshness{Storable: true, Lifetime: 5 * time.Second}},
		{"error caching not over no-cache", get, 503, hdr("Cache-Control", "no-cache"), clamped, Freshness{Storable: true, NoCache: true}},
		{"401 without freshness not stored", get, 401, hdr(), clamped, Freshness{Reason: "no freshness"}},
		{"zero policy is CachingDisabled", get, 200, hdr("Cache-Control", "max-age=600"), TTLPolicy{}, Freshness{Storable: true}},

		// Origin-controlled, heuristics RFC 9111 §4.2.2.
		{"origin-controlled: no clamp", get, 200, hdr("Cache-Control", "max-age=5"), origin, Freshness{Storable: true, Lifetime: 5 * time.Second}},
		{"heuristic 10% of age §4.2.2", get, 200, hdr("Date", date, "Last-Modified", httpDate(t0.Add(-24*time.Hour))), origin, Freshness{Storable: true, Lifetime: 144 * time.Minute, Heuristic: true}},
		{"heuristic capped at a day §4.2.2", get, 200, hdr("Date", date, "Last-Modified", httpDate(t0.Add(-100*24*time.Hour))), origin, Freshness{Storable: true, Lifetime: 24 * time.Hour, Heuristic: true}},
		{"heuristic without Last-Modified is 0 §4.2.2", get, 200, hdr("Date", date), origin, Freshness{Storable: true, Heuristic: true}},
		{"Last-Modified in the future gives 0 §4.2.2", get, 200, hdr("Date", date, "Last-Modified", httpDate(t0.Add(time.Hour))), origin, Freshness{Storable: true, Heuristic: true}},
		{"heuristic not for 302 §4.2.2", get, 302, hdr("Last-Modified", httpDate(t0.Add(-time.Hour))), origin, Freshness{Reason: "no freshness"}},
		{"heuristic for public 302 §4.2.2", get, 302, hdr("Cache-Control", "public", "Date", date, "Last-Modified", httpDate(t0.Add(-10*time.Hour))), origin, Freshness{Storable: true, Lifetime: time.Hour, Heuristic: true}},
		{"origin-controlled error caching", get, 404, hdr(), origin, Freshness{Storable: true, Lifetime: 10 * time.Second}},

		// Revalidation flags and RFC 5861.
		{"must-revalidate §5.2.2.2", get, 200, hdr("Cache-Control", "max-age=60, must-revalidate"), clamped, Freshness{Storable: true, Lifetime: time.Minute, MustRevalidate: true}},
		{"proxy-revalidate §5.2.2.8", get, 200, hdr("Cache-Control", "max-age=60, proxy-revalidate"), clamped, Freshness{Storable: true, Lifetime: time.Minute, MustRevalidate: true}},
		{"stale windows RFC 5861", get, 200, hdr("Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=600"), clamped, Freshness{Storable: true, Lifetime: time.Minute, StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute}},

		// CDN-Cache-Control RFC 9213 and Surrogate-Control.
		{"CDN-Cache-Control replaces Cache-Control RFC 9213 §2.1", get, 200, hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=600"), clamped, Freshness{Storable: true, Lifetime: 10 * time.Minute}},
		{"CDN-Cache-Control no-store", get, 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), clamped, Freshness{Reason: "no-store"}},
		{"CDN-Cache-Control private", get, 200, hdr("Cache-Control", "public, max-age=60", "CDN-Cache-Control", "private"), clamped, Freshness{Reason: "private"}},
		{"invalid CDN-Cache-Control falls back RFC 9213 §2.1", get, 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "Max-Age=600"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
		{"CDN-Cache-Control ignores Expires RFC 9213 §2.1", get, 200, hdr("CDN-Cache-Control", "public", "Date", date, "Expires", httpDate(t0.Add(time.Minute))), clamped, Freshness{Storable: true, Lifetime: 24 * time.Hour}},
		{"Surrogate-Control replaces Cache-Control", get, 200, hdr("Cache-Control", "max-age=60", "Surrogate-Control", "max-age=300"), clamped, Freshness{Storable: true, Lifetime: 5 * time.Minute}},
		{"Surrogate-Control no-store", get, 200, hdr("Cache-Control", "max-age=60", "Surrogate-Control", "no-store"), clamped, Freshness{Reason: "no-store"}},
		{"Surrogate-Control content only keeps Cache-Control", get, 200, hdr("Cache-Control", "private", "Surrogate-Control", `content="ESI/1.0"`), clamped, Freshness{Reason: "private"}},
		{"CDN-Cache-Control over Surrogate-Control", get, 200, hdr("Surrogate-Control", "max-age=300", "CDN-Cache-Control", "max-age=60"), clamped, Freshness{Storable: true, Lifetime: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Header == nil {
				tt.req.Header = Header{}
			}
			got := Evaluate(tt.req, tt.status, tt.resp, tt.p, t0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate(%d, %v)\n got %+v\nwant %+v", tt.status, tt.resp, got, tt.want)
			}
		})
	}
}

func TestStripPrivateFields(t *testing.T) {
	h := hdr("Cache-Control", `private="set-cookie, x-user", max-age=60`, "Set-Cookie", "a=1", "X-User", "bob", "Content-Type", "text/plain")
	StripPrivateFields(h, EffectiveDirectives(h))
	want := hdr("Cache-Control", `private="set-cookie, x-user", max-age=60`, "Content-Type", "text/plain")
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after StripPrivateFields: %v, want %v (RFC 9111 §5.2.2.7)", h, want)
	}
}

func TestRemoveUnstorableFields(t *testing.T) {
	h := hdr("Connection", "close, X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "Transfer-Encoding", "chunked",
		"Proxy-Authenticate", "Basic", "Content-Type", "text/plain", "ETag", `"x"`)
	RemoveUnstorableFields(h)
	want := hdr("Content-Type", "text/plain", "ETag", `"x"`)
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after RemoveUnstorableFields: %v, want %v (RFC 9111 §3.1)", h, want)
	}
}

func TestParseHTTPDate(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"Sat, 01 Mar 2025 12:00:00 GMT", true},
		{"Saturday, 01-Mar-25 12:00:00 GMT", true},
		{"Sat Mar  1 12:00:00 2025", true},
		{"0", false},
		{"-1", false},
		{"Sat, 01 Mar 2025 12:00:00 PST", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := ParseHTTPDate(tt.in)
		if ok != tt.ok || ok && !got.Equal(t0) {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v, %v (RFC 9110 §5.6.7)", tt.in, got, ok, t0, tt.ok)
		}
	}
}
