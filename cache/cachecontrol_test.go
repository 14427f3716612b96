package cache

import (
	"reflect"
	"testing"
	"time"
)

// dirs builds expected Directives from emptyDirectives.
func dirs(f func(d *Directives)) Directives {
	d := emptyDirectives
	f(&d)
	return d
}

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   Directives
	}{
		{"absent", nil, emptyDirectives},
		{"max-age §5.2.2.1", []string{"max-age=60"}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second })},
		{"names case-insensitive §5.2", []string{"MAX-AGE=60, Public"}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second; d.Public = true })},
		{"quoted argument accepted §5.2", []string{`max-age="60"`}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second })},
		{"duplicate max-age is stale §4.2.1", []string{"max-age=60, max-age=120"}, dirs(func(d *Directives) { d.MaxAge = 0 })},
		{"duplicate across lines is stale §4.2.1", []string{"max-age=60", "max-age=60"}, dirs(func(d *Directives) { d.MaxAge = 0 })},
		{"invalid max-age is stale §4.2.1", []string{"max-age=abc"}, dirs(func(d *Directives) { d.MaxAge = 0 })},
		{"max-age without value is stale §4.2.1", []string{"max-age"}, dirs(func(d *Directives) { d.MaxAge = 0 })},
		{"negative max-age is stale §1.2.2", []string{"max-age=-1"}, dirs(func(d *Directives) { d.MaxAge = 0 })},
		{"overflow clamps to 2^31 §1.2.2", []string{"max-age=99999999999999999999"}, dirs(func(d *Directives) { d.MaxAge = maxDelta })},
		{"s-maxage §5.2.2.10", []string{"s-maxage=300"}, dirs(func(d *Directives) { d.SMaxAge = 300 * time.Second })},
		{"unqualified private §5.2.2.7", []string{"private"}, dirs(func(d *Directives) { d.Private = true })},
		{"qualified private §5.2.2.7", []string{`private="set-cookie, x-user"`}, dirs(func(d *Directives) { d.PrivateFields = []string{"Set-Cookie", "X-User"} })},
		{"token-form private §5.2.2.7", []string{`private=set-cookie`}, dirs(func(d *Directives) { d.PrivateFields = []string{"Set-Cookie"} })},
		{"empty private list is unqualified", []string{`private=""`}, dirs(func(d *Directives) { d.Private = true })},
		{"unqualified no-cache §5.2.2.4", []string{"no-cache"}, dirs(func(d *Directives) { d.NoCache = true })},
		{"qualified no-cache §5.2.2.4", []string{`no-cache="Set-Cookie"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"Set-Cookie"} })},
		{"max-stale without value §5.2.1.2", []string{"max-stale"}, dirs(func(d *Directives) { d.MaxStaleAny = true })},
		{"max-stale with value §5.2.1.2", []string{"max-stale=30"}, dirs(func(d *Directives) { d.MaxStale = 30 * time.Second })},
		{"invalid max-stale ignored", []string{"max-stale=x"}, emptyDirectives},
		{"min-fresh §5.2.1.3", []string{"min-fresh=5"}, dirs(func(d *Directives) { d.MinFresh = 5 * time.Second })},
		{"RFC 5861 windows", []string{"stale-while-revalidate=30, stale-if-error=600"}, dirs(func(d *Directives) {
			d.StaleWhileRevalidate = 30 * time.Second
			d.StaleIfError = 600 * time.Second
		})},
		{"repeated stale-if-error keeps the smaller §4.2.1", []string{"stale-if-error=600, stale-if-error=60"}, dirs(func(d *Directives) { d.StaleIfError = 60 * time.Second })},
		{"comma inside quotes does not split", []string{`foo="a, max-age=5", max-age=10`}, dirs(func(d *Directives) { d.MaxAge = 10 * time.Second })},
		{"escaped quote in quoted string", []string{`private="x-a\"b", max-age=1`}, dirs(func(d *Directives) { d.PrivateFields = []string{`x-a"b`}; d.MaxAge = time.Second })},
		{"empty elements ignored §5.6.1 of RFC 9110", []string{",,, ,max-age=5,,"}, dirs(func(d *Directives) { d.MaxAge = 5 * time.Second })},
		{"flags", []string{"public, must-revalidate, proxy-revalidate, immutable, no-transform, must-understand, no-store, only-if-cached"}, dirs(func(d *Directives) {
			d.Public, d.MustRevalidate, d.ProxyRevalidate, d.Immutable = true, true, true, true
			d.NoTransform, d.MustUnderstand, d.NoStore, d.OnlyIfCached = true, true, true, true
		})},
		{"unknown directives ignored", []string{"community=UCI, foo, bar=baz"}, emptyDirectives},
		{"whitespace around =", []string{"max-age = 7"}, dirs(func(d *Directives) { d.MaxAge = 7 * time.Second })},
		{"no-store-remote is Surrogate-Control only", []string{"no-store-remote"}, emptyDirectives},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCacheControl(tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", tt.values, got, tt.want)
			}
		})
	}
}

func TestParseSurrogateControl(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   Directives
	}{
		{"max-age", []string{"max-age=300"}, dirs(func(d *Directives) { d.MaxAge = 300 * time.Second })},
		{"max-age with extension is stale-if-error", []string{"max-age=60+120"}, dirs(func(d *Directives) {
			d.MaxAge = 60 * time.Second
			d.StaleIfError = 120 * time.Second
		})},
		{"targeted directives ignored", []string{"max-age=60;edge1, no-store"}, dirs(func(d *Directives) { d.NoStore = true })},
		{"no-store-remote", []string{"no-store-remote"}, dirs(func(d *Directives) { d.NoStore = true })},
		{"content only", []string{`content="ESI/1.0"`}, emptyDirectives},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseSurrogateControl(tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSurrogateControl(%q)\n got %+v\nwant %+v", tt.values, got, tt.want)
			}
		})
	}
}

func TestParseCDNCacheControl(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   Directives
		ok     bool
	}{
		{"absent", nil, emptyDirectives, false},
		{"empty", []string{"  "}, emptyDirectives, false},
		{"max-age integer RFC 9213 §2.1", []string{"max-age=60"}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second }), true},
		{"bare boolean", []string{"no-store"}, dirs(func(d *Directives) { d.NoStore = true }), true},
		{"explicit false boolean RFC 8941 §3.3.6", []string{"no-store=?0, max-age=5"}, dirs(func(d *Directives) { d.MaxAge = 5 * time.Second }), true},
		{"string field list", []string{`no-cache="Set-Cookie, X-A"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"Set-Cookie", "X-A"} }), true},
		{"parameters ignored", []string{"max-age=60;foo=bar, public"}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second; d.Public = true }), true},
		{"last duplicate wins RFC 8941 §4.2.2", []string{"max-age=60, max-age=120"}, dirs(func(d *Directives) { d.MaxAge = 120 * time.Second }), true},
		{"lines combined", []string{"max-age=60", "must-revalidate"}, dirs(func(d *Directives) { d.MaxAge = 60 * time.Second; d.MustRevalidate = true }), true},
		{"decimal max-age is stale", []string{"max-age=1.5"}, dirs(func(d *Directives) { d.MaxAge = 0 }), true},
		{"negative max-age is stale", []string{"max-age=-5"}, dirs(func(d *Directives) { d.MaxAge = 0 }), true},
		{"inner list skipped", []string{"foo=(a b 1), s-maxage=3"}, dirs(func(d *Directives) { d.SMaxAge = 3 * time.Second }), true},
		{"token and byte sequence skipped", []string{"foo=bar/baz, x=:aGk=:, max-age=2"}, dirs(func(d *Directives) { d.MaxAge = 2 * time.Second }), true},
		{"uppercase key fails RFC 8941 §3.1.2", []string{"Max-Age=60"}, emptyDirectives, false},
		{"trailing comma fails", []string{"max-age=60,"}, emptyDirectives, false},
		{"unterminated string fails", []string{`no-cache="x`}, emptyDirectives, false},
		{"Cache-Control syntax with spaces fails", []string{"max-age = 60"}, emptyDirectives, false},
		{"too many digits fails", []string{"max-age=1234567890123456"}, emptyDirectives, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCDNCacheControl(tt.values)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCDNCacheControl(%q)\n got %+v, %v\nwant %+v, %v", tt.values, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", `private="a, b", no-cache="c"`, "max-stale", "s-maxage=99999999999999999999",
		`x="\"`, "max-age=60+5;dev", "no-store=?0, max-age=1;a=2, b=(c d)", `a="\\\"", ,,`,
	} {
		f.Add(s)
	}
	inRange := func(t *testing.T, name string, v time.Duration) {
		if v != Absent && (v < 0 || v > maxDelta) {
			t.Fatalf("%s = %v, outside [0, 2^31s]", name, v)
		}
	}
	check := func(t *testing.T, d Directives) {
		inRange(t, "MaxAge", d.MaxAge)
		inRange(t, "SMaxAge", d.SMaxAge)
		inRange(t, "MaxStale", d.MaxStale)
		inRange(t, "MinFresh", d.MinFresh)
		inRange(t, "StaleWhileRevalidate", d.StaleWhileRevalidate)
		inRange(t, "StaleIfError", d.StaleIfError)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check(t, ParseCacheControl([]string{s}))
		check(t, ParseSurrogateControl([]string{s}))
		d, ok := ParseCDNCacheControl([]string{s})
		check(t, d)
		if !ok && !reflect.DeepEqual(d, emptyDirectives) {
			t.Fatalf("invalid CDN-Cache-Control %q returned directives %+v", s, d)
		}
	})
}

func BenchmarkParseCacheControl(b *testing.B) {
	v := []string{"public, max-age=3600, s-maxage=86400, stale-while-revalidate=60, stale-if-error=600"}
	b.ReportAllocs()
	for b.Loop() {
		d := ParseCacheControl(v)
		if d.SMaxAge != 86400*time.Second {
			b.Fatal(d)
		}
	}
}

func TestParseCacheControlDoesNotAllocate(t *testing.T) {
	v := []string{"public, max-age=3600, s-maxage=86400, stale-while-revalidate=60, stale-if-error=600, no-cache"}
	if n := testing.AllocsPerRun(100, func() { ParseCacheControl(v) }); n != 0 {
		t.Errorf("ParseCacheControl allocates %v times per call, want 0", n)
	}
}
