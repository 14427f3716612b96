package cache

import (
	"slices"
	"strings"
	"testing"
)

func key(path, rawQuery string, h Header, p *KeyPolicy) string {
	return string(AppendKey(nil, "d1", path, rawQuery, h, p))
}

func TestAppendKeyEquivalence(t *testing.T) {
	allQuery := &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectAll}}
	tests := []struct {
		name    string
		p       *KeyPolicy
		q1, q2  string
		h1, h2  Header
		sameKey bool
	}{
		{"query order ignored", allQuery, "b=2&a=1", "a=1&b=2", nil, nil, true},
		{"equal names sorted by value", allQuery, "a=2&a=1", "a=1&a=2", nil, nil, true},
		{"empty parameters ignored", allQuery, "a=1&&b=2&", "b=2&a=1", nil, nil, true},
		{"percent-encoded unreserved decoded (RFC 3986 §6.2.2.2)", allQuery, "a=%7Euser%2d1", "a=~user-1", nil, nil, true},
		{"percent-encoding case (RFC 3986 §6.2.2.1)", allQuery, "a=%2f", "a=%2F", nil, nil, true},
		{"reserved encoding kept", allQuery, "a=%2F", "a=/", nil, nil, false},
		{"plus is not %20", allQuery, "a=+", "a=%20", nil, nil, false},
		{"name without = differs from empty value", allQuery, "a", "a=", nil, nil, false},
		{"values differ", allQuery, "a=1", "a=2", nil, nil, false},
		{"query none", &KeyPolicy{}, "a=1", "a=2", nil, nil, true},
		{"query whitelist", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectWhitelist, Names: []string{"a"}}}, "a=1&utm=x", "utm=y&a=1", nil, nil, true},
		{"query whitelist keeps named", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectWhitelist, Names: []string{"a"}}}, "a=1", "a=2", nil, nil, false},
		{"query whitelist matches encoded name", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectWhitelist, Names: []string{"a b"}}}, "a%20b=1", "x=1", nil, nil, false},
		{"query names case-sensitive", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectWhitelist, Names: []string{"a"}}}, "A=1", "", nil, nil, true},
		{"query allExcept", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectAllExcept, Names: []string{"utm"}}}, "a=1&utm=x", "a=1", nil, nil, true},
		{"query allExcept keeps others", &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectAllExcept, Names: []string{"utm"}}}, "a=1&b=2", "a=1", nil, nil, false},
		{"header whitelist, case-insensitive name", &KeyPolicy{Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{"x-device"}}},
			"", "", hdr("X-Device", "mobile", "X-Other", "1"), hdr("X-Device", "mobile"), true},
		{"header value matters", &KeyPolicy{Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{"X-Device"}}},
			"", "", hdr("X-Device", "mobile"), hdr("X-Device", "desktop"), false},
		{"header absent differs from empty", &KeyPolicy{Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{"X-Device"}}},
			"", "", hdr("X-Device", ""), hdr(), false},
		{"header whitespace collapsed", &KeyPolicy{Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{"Accept-Language"}}},
			"", "", hdr("Accept-Language", " en,   fr "), hdr("Accept-Language", "en, fr"), true},
		{"headers none", &KeyPolicy{}, "", "", hdr("X-Device", "mobile"), hdr(), true},
		{"headers all", &KeyPolicy{Headers: KeySelection{Behavior: SelectAll}}, "", "", hdr("A", "1", "B", "2"), hdr("B", "2", "A", "1"), true},
		{"headers allExcept", &KeyPolicy{Headers: KeySelection{Behavior: SelectAllExcept, Names: []string{"user-agent"}}},
			"", "", hdr("A", "1", "User-Agent", "x"), hdr("A", "1", "User-Agent", "y"), true},
		{"cookie whitelist", &KeyPolicy{Cookies: KeySelection{Behavior: SelectWhitelist, Names: []string{"theme"}}},
			"", "", hdr("Cookie", "session=1; theme=dark"), hdr("Cookie", "theme=dark; other=2"), true},
		{"cookie value matters", &KeyPolicy{Cookies: KeySelection{Behavior: SelectWhitelist, Names: []string{"theme"}}},
			"", "", hdr("Cookie", "theme=dark"), hdr("Cookie", "theme=light"), false},
		{"cookies all, order and lines ignored", &KeyPolicy{Cookies: KeySelection{Behavior: SelectAll}},
			"", "", hdr("Cookie", "b=2; a=1"), hdr("Cookie", "a=1", "Cookie", "b=2"), true},
		{"cookies none", &KeyPolicy{}, "", "", hdr("Cookie", "a=1"), hdr(), true},
		{"cookie names case-sensitive", &KeyPolicy{Cookies: KeySelection{Behavior: SelectAllExcept, Names: []string{"sid"}}},
			"", "", hdr("Cookie", "SID=1"), hdr(), false},
		{"accept-encoding normalised", &KeyPolicy{AcceptEncodingGzip: true, AcceptEncodingBrotli: true},
			"", "", hdr("Accept-Encoding", "gzip, deflate, br"), hdr("Accept-Encoding", "br;q=1.0, gzip"), true},
		{"accept-encoding gzip vs none", &KeyPolicy{AcceptEncodingGzip: true},
			"", "", hdr("Accept-Encoding", "gzip"), hdr(), false},
		{"accept-encoding ignored when disabled", &KeyPolicy{},
			"", "", hdr("Accept-Encoding", "gzip"), hdr(), true},
		{"accept-encoding q=0", &KeyPolicy{AcceptEncodingGzip: true},
			"", "", hdr("Accept-Encoding", "gzip;q=0"), hdr(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.h1 == nil {
				tt.h1 = Header{}
			}
			if tt.h2 == nil {
				tt.h2 = Header{}
			}
			k1, k2 := key("/p", tt.q1, tt.h1, tt.p), key("/p", tt.q2, tt.h2, tt.p)
			if (k1 == k2) != tt.sameKey {
				t.Errorf("keys %q and %q: same = %v, want %v", k1, k2, k1 == k2, tt.sameKey)
			}
		})
	}
}

func TestAppendKeyLayout(t *testing.T) {
	p := &KeyPolicy{
		QueryStrings:       KeySelection{Behavior: SelectAll},
		Headers:            KeySelection{Behavior: SelectWhitelist, Names: []string{"X-Device", "accept-language", "X-DEVICE"}},
		Cookies:            KeySelection{Behavior: SelectAll},
		AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
	}
	h := hdr("X-Device", "mobile", "Accept-Language", "en", "Cookie", "b=2; a=1", "Accept-Encoding", "gzip, br")
	got := string(AppendKey([]byte("prefix:"), "d1", "/a.jpg", "z=1&y=%7e", h, p))
	want := "prefix:d1\x00/a.jpg\x00y=~&z=1\x00accept-language:en\x01x-device:mobile\x01\x00a=1;b=2;\x00br,gzip"
	if got != want {
		t.Errorf("AppendKey =\n%q\nwant\n%q", got, want)
	}
}

func TestInvalidationPrefix(t *testing.T) {
	p := &KeyPolicy{QueryStrings: KeySelection{Behavior: SelectAll}}
	tests := []struct {
		pattern, path, query string
		covered              bool
	}{
		{"/a.jpg", "/a.jpg", "", true},
		{"/a.jpg", "/a.jpg", "v=2", true},
		{"/a.jpg", "/a.jpg2", "", false},
		{"/images/*", "/images/x/y.png", "a=1", true},
		{"/images/*", "/images2/x.png", "", false},
		{"/*", "/anything", "", true},
	}
	for _, tt := range tests {
		k := key(tt.path, tt.query, Header{}, p)
		if got := strings.HasPrefix(k, InvalidationPrefix("d1", tt.pattern)); got != tt.covered {
			t.Errorf("InvalidationPrefix(%q) covers %s?%s = %v, want %v", tt.pattern, tt.path, tt.query, got, tt.covered)
		}
		if strings.HasPrefix(key(tt.path, tt.query, Header{}, p), InvalidationPrefix("d2", tt.pattern)) {
			t.Errorf("InvalidationPrefix for d2 covers a d1 key")
		}
	}
}

func TestNormalizeAcceptEncoding(t *testing.T) {
	tests := []struct {
		v        string
		gzip, br bool
		want     string
	}{
		{"gzip, deflate, br", true, true, "br,gzip"},
		{"gzip, deflate, br", true, false, "gzip"},
		{"gzip, deflate, br", false, true, "br"},
		{"", true, true, ""},
		{"identity", true, true, ""},
		{"GZIP", true, true, "gzip"},
		{"x-gzip", true, true, "gzip"}, // RFC 9110 §8.4.1.3
		{"gzip;q=0, br", true, true, "br"},
		{"gzip; q=0.000, br;q=0.001", true, true, "br"},
		{"*", true, true, "br,gzip"},
		{"*;q=0", true, true, ""},
		{"*, gzip;q=0", true, true, "br"},
		{"br;q=0, *", true, true, "gzip"},
		{"deflate", true, true, ""},
	}
	for _, tt := range tests {
		if got := NormalizeAcceptEncoding(tt.v, tt.gzip, tt.br); got != tt.want {
			t.Errorf("NormalizeAcceptEncoding(%q, %v, %v) = %q, want %q (RFC 9110 §12.5.3)", tt.v, tt.gzip, tt.br, got, tt.want)
		}
	}
}

func TestVaryFields(t *testing.T) {
	tests := []struct {
		name   string
		resp   Header
		fields []string
		star   bool
	}{
		{"absent", hdr(), nil, false},
		{"sorted, lower case, deduplicated §4.1", hdr("Vary", "User-Agent, Accept-Encoding", "Vary", "accept-encoding"), []string{"accept-encoding", "user-agent"}, false},
		{"empty elements", hdr("Vary", " , ,Origin,"), []string{"origin"}, false},
		{"star §4.1", hdr("Vary", "Accept-Encoding, *"), nil, true},
	}
	for _, tt := range tests {
		fields, star := VaryFields(tt.resp)
		if !slices.Equal(fields, tt.fields) || star != tt.star {
			t.Errorf("%s: VaryFields = %q, %v; want %q, %v", tt.name, fields, star, tt.fields, tt.star)
		}
	}
}

func TestAppendVariantKey(t *testing.T) {
	fields := []string{"accept-encoding", "accept-language"}
	tests := []struct {
		name   string
		r1, r2 Header
		same   bool
	}{
		{"whitespace normalised §4.1", hdr("Accept-Language", "en,   fr"), hdr("Accept-Language", " en, fr"), true},
		{"lines combined §4.1", hdr("Accept-Language", "en", "Accept-Language", "fr"), hdr("Accept-Language", "en, fr"), true},
		{"values differ §4.1", hdr("Accept-Language", "en"), hdr("Accept-Language", "fr"), false},
		{"absent matches only absent §4.1", hdr("Accept-Language", ""), hdr(), false},
		{"accept-encoding normalised", hdr("Accept-Encoding", "gzip, br"), hdr("Accept-Encoding", "br, gzip;q=0.8, deflate"), true},
		{"accept-encoding differs", hdr("Accept-Encoding", "gzip"), hdr("Accept-Encoding", "br"), false},
		{"unvaried fields ignored", hdr("User-Agent", "a"), hdr("User-Agent", "b"), true},
	}
	for _, tt := range tests {
		k1 := VariantKey("d1\x00/p\x00", fields, tt.r1)
		k2 := VariantKey("d1\x00/p\x00", fields, tt.r2)
		if (k1 == k2) != tt.same {
			t.Errorf("%s: keys %q and %q: same = %v, want %v", tt.name, k1, k2, k1 == k2, tt.same)
		}
		if !strings.HasPrefix(k1, "d1\x00/p\x00") {
			t.Errorf("%s: variant key %q does not start with its primary key", tt.name, k1)
		}
	}
}

func FuzzVaryFields(f *testing.F) {
	for _, s := range []string{"Accept-Encoding", "a, B, a", "*", " , ,", "X-\x00, y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields, star := VaryFields(Header{"Vary": {s}})
		if star && fields != nil {
			t.Fatalf("VaryFields(%q): star with fields %q", s, fields)
		}
		for i, fld := range fields {
			if fld == "" || fld != strings.ToLower(fld) {
				t.Fatalf("VaryFields(%q): field %q empty or not lower case", s, fld)
			}
			if i > 0 && fields[i-1] >= fld {
				t.Fatalf("VaryFields(%q) = %q: not sorted and deduplicated", s, fields)
			}
		}
		k := AppendVariantKey(nil, "p", fields, Header{"Accept-Encoding": {s}})
		if !strings.HasPrefix(string(k), "p") {
			t.Fatalf("variant key %q lost its primary", k)
		}
	})
}

var benchPolicy = &KeyPolicy{
	QueryStrings:       KeySelection{Behavior: SelectWhitelist, Names: []string{"w", "h", "format"}},
	Headers:            KeySelection{Behavior: SelectWhitelist, Names: []string{"CloudFront-Is-Mobile-Viewer", "accept-language"}},
	Cookies:            KeySelection{Behavior: SelectWhitelist, Names: []string{"theme", "locale"}},
	AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
}

var benchHeader = Header{
	"Accept-Encoding":             {"gzip, deflate, br, zstd"},
	"Accept-Language":             {"en-GB,en;q=0.9"},
	"Cloudfront-Is-Mobile-Viewer": {"false"},
	"Cookie":                      {"session=abc123; theme=dark; locale=en_GB; _ga=GA1.2.3"},
	"User-Agent":                  {"Mozilla/5.0"},
}

func TestAppendKeyDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 512)
	n := testing.AllocsPerRun(100, func() {
		buf = AppendKey(buf[:0], "E2QWRUHAPOMQZL", "/img/photo%20one.jpg", "w=800&utm_source=x&h=600&format=webp", benchHeader, benchPolicy)
	})
	if n != 0 {
		t.Errorf("AppendKey allocates %v times per call, want 0", n)
	}
	v := Header{"Accept-Encoding": {"gzip"}, "Accept-Language": {"en"}}
	n = testing.AllocsPerRun(100, func() {
		buf = AppendVariantKey(buf[:0], "primary", []string{"accept-encoding", "accept-language"}, v)
	})
	if n != 0 {
		t.Errorf("AppendVariantKey allocates %v times per call, want 0", n)
	}
}

func BenchmarkAppendKey(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendKey(buf[:0], "E2QWRUHAPOMQZL", "/img/photo%20one.jpg", "w=800&utm_source=x&h=600&format=webp", benchHeader, benchPolicy)
	}
}

func TestNormalizeAcceptEncodingZstd(t *testing.T) {
	p := KeyPolicy{AcceptEncodingGzip: true, AcceptEncodingBrotli: true, AcceptEncodingZstd: true}
	for v, want := range map[string]string{
		"gzip, deflate, br, zstd": "br,gzip,zstd",
		"zstd":                    "zstd",
		"gzip, zstd;q=0.5":        "gzip,zstd",
		"zstd;q=0, br":            "br",
		"*":                       "br,gzip,zstd",
		"":                        "",
	} {
		if got := p.Encoding([]string{v}); got != want {
			t.Errorf("Encoding(%q) = %q, want %q", v, got, want)
		}
	}
	// Without zstd enabled, keys are what they were before zstd existed.
	p.AcceptEncodingZstd = false
	if got := p.Encoding([]string{"gzip, deflate, br, zstd"}); got != "br,gzip" {
		t.Errorf("zstd off: %q", got)
	}
}

func TestChooseEncoding(t *testing.T) {
	tests := []struct {
		v              string
		gzip, br, zstd bool
		want           string
	}{
		{"gzip, deflate, br, zstd", true, true, true, "br"},
		{"gzip, deflate, br, zstd", true, false, true, "zstd"},
		{"gzip, deflate, br, zstd", true, false, false, "gzip"},
		{"gzip, deflate, br, zstd", false, false, false, ""},
		{"gzip, zstd", true, true, true, "zstd"},
		{"gzip;q=1.0, br;q=0.9", true, true, true, "gzip"},           // the weight first
		{"br;q=0.5, zstd;q=0.5, gzip;q=0.5", true, true, true, "br"}, // ties: br, zstd, gzip
		{"zstd;q=0.5, gzip;q=0.5", true, true, true, "zstd"},
		{"br;q=0, gzip", true, true, true, "gzip"},
		{"br;q=0.000, gzip;q=0.", true, true, true, ""},
		{"x-gzip", true, true, true, "gzip"},
		{"*", true, true, true, "br"},
		{"*;q=0.2, br;q=0.1", true, true, true, "zstd"},
		{"*;q=0", true, true, true, ""},
		{"identity", true, true, true, ""},
		{"", true, true, true, ""},
		{"br;q=bogus", true, true, true, "br"}, // an invalid weight refuses nothing
		{"gzip;q=0.001", true, true, true, "gzip"},
		{"BR ; Q=0.8 , GZIP;q=0.7", true, true, true, "br"},
	}
	for _, tt := range tests {
		if got := ChooseEncoding(tt.v, tt.gzip, tt.br, tt.zstd); got != tt.want {
			t.Errorf("ChooseEncoding(%q, gzip %v, br %v, zstd %v) = %q, want %q", tt.v, tt.gzip, tt.br, tt.zstd, got, tt.want)
		}
	}
}

// TestChooseEncodingKey: with ChooseEncoding the key ends with the chosen
// coding, so viewers who get the same bytes share it.
func TestChooseEncodingKey(t *testing.T) {
	p := &KeyPolicy{AcceptEncodingGzip: true, AcceptEncodingBrotli: true, ChooseEncoding: true}
	k := func(ae string) string {
		return string(AppendKey(nil, "d", "/a.js", "", Header{"Accept-Encoding": {ae}}, p))
	}
	if k("gzip, deflate, br, zstd") != k("br") || k("gzip, br;q=0") != k("gzip") || k("deflate") != k("") {
		t.Error("viewers who get the same coding have different keys")
	}
	if k("br") == k("gzip") || !strings.HasSuffix(k("br"), "\x00br") {
		t.Errorf("key for br: %q", k("br"))
	}
}

// FuzzChooseEncoding: any Accept-Encoding gives one of the enabled codings
// or identity, and that coding is among those the viewer accepts (the
// normalised set).
func FuzzChooseEncoding(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "br;q=0.5, gzip;q=0.5", "*;q=0", "br;q=1.0000", ";;,,q=", "x-gzip;q=0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ChooseEncoding(s, true, true, true)
		set := normalizeAcceptEncoding([]string{s}, true, true, true)
		switch {
		case got == "" && set != "":
			t.Fatalf("ChooseEncoding(%q) = identity, but the viewer accepts %q", s, set)
		case got != "" && !slices.Contains(strings.Split(set, ","), got):
			t.Fatalf("ChooseEncoding(%q) = %q, not among the accepted %q", s, got, set)
		}
		if ChooseEncoding(s, false, false, false) != "" {
			t.Fatalf("ChooseEncoding(%q) with nothing enabled chose a coding", s)
		}
	})
}
