package origin

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// viewerRequest builds a viewer request as net/http's server would hand it
// to the edge.
func viewerRequest(method, target string, header http.Header, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = "cdn.example"
	for name, vs := range header {
		r.Header[http.CanonicalHeaderKey(name)] = vs
	}
	return r
}

func TestApplyHeaders(t *testing.T) {
	full := http.Header{
		"Authorization":               {"Bearer x"},
		"X-Custom":                    {"1"},
		"User-Agent":                  {"curl/8"},
		"Accept-Encoding":             {"br, gzip"},
		"Cloudfront-Viewer-Country":   {"NZ"},
		"If-None-Match":               {`"v1"`},
		"If-Modified-Since":           {"Mon, 01 Jan 2024 00:00:00 GMT"},
		"Via":                         {"1.1 corp-proxy"},
		"Expect":                      {"100-continue"},
		"Cookie":                      {"a=1"},
		"Connection":                  {"X-Secret, keep-alive"},
		"X-Secret":                    {"s"},
		"Keep-Alive":                  {"timeout=5"},
		"Te":                          {"trailers"},
		"Proxy-Authorization":         {"Basic abc"},
		"Proxy-Connection":            {"keep-alive"},
		"Upgrade":                     {"h2c"},
		"Transfer-Encoding":           {"chunked"},
		"Proxy-Authenticate":          {"Basic"},
		"X-Forwarded-For":             {"10.0.0.1", "10.0.0.2"},
		"Content-Type":                {"text/plain"},
		"Cloudfront-Is-Mobile-Viewer": {"false"},
	}
	xff := []string{"10.0.0.1, 10.0.0.2, 192.0.2.7"}
	tests := []struct {
		name      string
		sel       Selection
		method    string
		body      string
		acceptEnc string
		want      http.Header
		wantHost  string
	}{
		{
			name: "none forwards only what is always sent",
			sel:  Selection{Behavior: None},
			want: http.Header{"X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"}},
		},
		{
			name:     "whitelist is case-insensitive and may select Host",
			sel:      Selection{Behavior: Whitelist, Names: []string{"x-custom", "HOST", "user-agent"}},
			want:     http.Header{"X-Custom": {"1"}, "User-Agent": {"curl/8"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"}},
			wantHost: "cdn.example",
		},
		{
			name: "allViewer leaves out hop-by-hop, CloudFront-*, preconditions, Expect",
			sel:  Selection{Behavior: AllViewer},
			want: http.Header{
				"Authorization": {"Bearer x"}, "X-Custom": {"1"}, "User-Agent": {"curl/8"},
				"Accept-Encoding": {"br, gzip"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"},
				"Content-Type": {"text/plain"},
			},
			wantHost: "cdn.example",
		},
		{
			name: "allViewerAndWhitelistCloudFront adds the named CloudFront and precondition headers",
			sel:  Selection{Behavior: AllViewerAndWhitelistCloudFront, Names: []string{"CloudFront-Viewer-Country", "if-none-match"}},
			want: http.Header{
				"Authorization": {"Bearer x"}, "X-Custom": {"1"}, "User-Agent": {"curl/8"},
				"Accept-Encoding": {"br, gzip"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"},
				"Cloudfront-Viewer-Country": {"NZ"}, "If-None-Match": {`"v1"`}, "Content-Type": {"text/plain"},
			},
			wantHost: "cdn.example",
		},
		{
			name: "allExcept drops the named, keeps CloudFront-*",
			sel:  Selection{Behavior: AllExcept, Names: []string{"authorization", "Host", "Accept-Encoding"}},
			want: http.Header{
				"X-Custom": {"1"}, "User-Agent": {"curl/8"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"},
				"Cloudfront-Viewer-Country": {"NZ"}, "Cloudfront-Is-Mobile-Viewer": {"false"}, "Content-Type": {"text/plain"},
			},
		},
		{
			name:      "cache key Accept-Encoding replaces the viewer's",
			sel:       Selection{Behavior: AllViewer},
			acceptEnc: "gzip",
			want: http.Header{
				"Authorization": {"Bearer x"}, "X-Custom": {"1"}, "User-Agent": {"curl/8"},
				"Accept-Encoding": {"gzip"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"},
				"Content-Type": {"text/plain"},
			},
			wantHost: "cdn.example",
		},
		{
			name:      "cache key Accept-Encoding is sent even with none",
			sel:       Selection{Behavior: None},
			acceptEnc: "br",
			want:      http.Header{"Accept-Encoding": {"br"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"}},
		},
		{
			name:   "body fields kept for a request body",
			sel:    Selection{Behavior: None},
			method: http.MethodPost,
			body:   "hello",
			want:   http.Header{"Content-Type": {"text/plain"}, "X-Forwarded-For": xff, "Via": {"1.1 corp-proxy"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			v := viewerRequest(method, "/p", full.Clone(), tt.body)
			f := Forwarding{Headers: tt.sel}
			var out Request
			f.Apply(v, "192.0.2.7", tt.acceptEnc, &out)
			if !reflect.DeepEqual(out.Header, tt.want) {
				t.Errorf("header\n got %v\nwant %v", out.Header, tt.want)
			}
			if out.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", out.Host, tt.wantHost)
			}
		})
	}
}

func TestApplyForwardedFor(t *testing.T) {
	tests := []struct {
		name   string
		viewer []string
		client string
		want   []string
	}{
		{"first proxy", nil, "192.0.2.7", []string{"192.0.2.7"}},
		{"appended", []string{"203.0.113.1"}, "192.0.2.7", []string{"203.0.113.1, 192.0.2.7"}},
		{"no client address", []string{"203.0.113.1"}, "", []string{"203.0.113.1"}},
		{"neither", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.viewer != nil {
				h["X-Forwarded-For"] = tt.viewer
			}
			var out Request
			(&Forwarding{}).Apply(viewerRequest("GET", "/", h, ""), tt.client, "", &out)
			if got := out.Header["X-Forwarded-For"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyCookies(t *testing.T) {
	lines := []string{"a=1; b=2", "c=3;  A=4"}
	tests := []struct {
		sel  Selection
		want string // "" = no Cookie field
	}{
		{Selection{Behavior: None}, ""},
		{Selection{}, ""},
		{Selection{Behavior: Whitelist, Names: []string{"a", "c"}}, "a=1; c=3"},
		{Selection{Behavior: Whitelist, Names: []string{"A"}}, "A=4"},
		{Selection{Behavior: Whitelist, Names: []string{"zzz"}}, ""},
		{Selection{Behavior: AllExcept, Names: []string{"b"}}, "a=1; c=3; A=4"},
		{Selection{Behavior: All}, "a=1; b=2; c=3; A=4"},
	}
	for _, tt := range tests {
		t.Run(tt.sel.Behavior+"/"+strings.Join(tt.sel.Names, ","), func(t *testing.T) {
			var out Request
			f := Forwarding{Cookies: tt.sel, Headers: Selection{Behavior: AllViewer}}
			f.Apply(viewerRequest("GET", "/", http.Header{"Cookie": lines}, ""), "", "", &out)
			got, ok := out.Header["Cookie"]
			if tt.want == "" {
				if ok {
					t.Errorf("Cookie = %q, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, []string{tt.want}) {
				t.Errorf("Cookie = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyQuery(t *testing.T) {
	const raw = "b=2&a=1&x%20y=3&a=4&flag&c=%2F"
	tests := []struct {
		sel  Selection
		want string
	}{
		{Selection{Behavior: None}, ""},
		{Selection{Behavior: All}, raw},
		{Selection{Behavior: Whitelist, Names: []string{"a", "x y", "flag"}}, "a=1&x%20y=3&a=4&flag"},
		{Selection{Behavior: Whitelist, Names: []string{"A"}}, ""},
		{Selection{Behavior: AllExcept, Names: []string{"a", "flag"}}, "b=2&x%20y=3&c=%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.sel.Behavior+"/"+strings.Join(tt.sel.Names, ","), func(t *testing.T) {
			var out Request
			f := Forwarding{QueryStrings: tt.sel}
			f.Apply(viewerRequest("GET", "/x?"+raw, nil, ""), "", "", &out)
			if out.RawQuery != tt.want {
				t.Errorf("RawQuery = %q, want %q", out.RawQuery, tt.want)
			}
		})
	}
}

func TestApplyRequestLine(t *testing.T) {
	v := viewerRequest("PUT", "/a%2Fb/c%20d", nil, "body")
	v.TLS = &tls.ConnectionState{}
	var out Request
	(&Forwarding{}).Apply(v, "", "", &out)
	if out.Method != "PUT" || out.Path != "/a%2Fb/c%20d" || !out.ViewerHTTPS || out.ContentLength != 4 || out.Body == nil {
		t.Errorf("got method %q path %q https %v length %d body %v", out.Method, out.Path, out.ViewerHTTPS, out.ContentLength, out.Body != nil)
	}
}

func TestApplyDoesNotAliasViewerHeader(t *testing.T) {
	v := viewerRequest("GET", "/", http.Header{"X-A": make([]string, 1, 4)}, "")
	v.Header["X-A"][0] = "viewer"
	var out Request
	(&Forwarding{Headers: Selection{Behavior: AllViewer}}).Apply(v, "", "", &out)
	out.Header.Add("X-A", "edge")
	if got := v.Header["X-A"][:2][1]; got == "edge" {
		t.Fatal("adding to the forwarded header wrote into the viewer's")
	}
}

func TestMerge(t *testing.T) {
	sel := func(b string, names ...string) Selection { return Selection{Behavior: b, Names: names} }
	tests := []struct {
		name              string
		key, origin, want Selection
		header            bool
	}{
		{"none+none", sel(None), sel(""), sel(None), false},
		{"none+whitelist", sel(None), sel(Whitelist, "a"), sel(Whitelist, "a"), false},
		{"whitelist union", sel(Whitelist, "a", "b"), sel(Whitelist, "b", "c"), sel(Whitelist, "a", "b", "c"), false},
		{"cookie names are case-sensitive", sel(Whitelist, "a"), sel(Whitelist, "A"), sel(Whitelist, "a", "A"), false},
		{"all absorbs", sel(Whitelist, "a"), sel(All), sel(All), false},
		{"allExcept minus whitelist", sel(Whitelist, "a"), sel(AllExcept, "a", "b"), sel(AllExcept, "b"), false},
		{"allExcept intersect", sel(AllExcept, "a", "b"), sel(AllExcept, "b", "c"), sel(AllExcept, "b"), false},
		{"unknown is none", sel("bogus", "x"), sel(Whitelist, "a"), sel(Whitelist, "a"), false},

		{"header whitelist union folds case", sel(Whitelist, "X-A"), sel(Whitelist, "x-a", "X-B"), sel(Whitelist, "X-A", "X-B"), true},
		{"header all is allViewer", sel(All), sel(None), sel(AllViewer), true},
		{"allViewer keeps whitelisted names", sel(Whitelist, "CloudFront-Viewer-Country"), sel(AllViewer),
			sel(AllViewerAndWhitelistCloudFront, "CloudFront-Viewer-Country"), true},
		{"allViewer+allViewerAndWhitelistCloudFront", sel(AllViewer), sel(AllViewerAndWhitelistCloudFront, "CloudFront-Is-Mobile-Viewer"),
			sel(AllViewerAndWhitelistCloudFront, "CloudFront-Is-Mobile-Viewer"), true},
		{"allViewer+allExcept keeps only CloudFront exclusions", sel(AllViewer), sel(AllExcept, "Authorization", "CloudFront-Viewer-Country"),
			sel(AllExcept, "CloudFront-Viewer-Country"), true},
		{"header allExcept minus whitelist", sel(Whitelist, "authorization"), sel(AllExcept, "Authorization", "X-B"), sel(AllExcept, "X-B"), true},
		{"header allExcept intersect", sel(AllExcept, "A", "B"), sel(AllExcept, "b"), sel(AllExcept, "B"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var key, origin Forwarding
			if tt.header {
				key.Headers, origin.Headers = tt.key, tt.origin
			} else {
				key.Cookies, origin.Cookies = tt.key, tt.origin
				key.QueryStrings, origin.QueryStrings = tt.key, tt.origin
			}
			got := Merge(key, origin)
			check := func(what string, got Selection) {
				if got.Behavior != tt.want.Behavior || !reflect.DeepEqual(got.Names, tt.want.Names) && (len(got.Names)+len(tt.want.Names) > 0) {
					t.Errorf("%s = %+v, want %+v", what, got, tt.want)
				}
			}
			if tt.header {
				check("Headers", got.Headers)
			} else {
				check("Cookies", got.Cookies)
				check("QueryStrings", got.QueryStrings)
			}
			// Merging is a union: the order of the policies does not matter
			// to what is forwarded.
			swapped := Merge(origin, key)
			if tt.header && swapped.Headers.Behavior != got.Headers.Behavior {
				t.Errorf("swapped Headers behavior %q, want %q", swapped.Headers.Behavior, got.Headers.Behavior)
			}
			if !tt.header && swapped.Cookies.Behavior != got.Cookies.Behavior {
				t.Errorf("swapped Cookies behavior %q, want %q", swapped.Cookies.Behavior, got.Cookies.Behavior)
			}
		})
	}
}

// TestMergeForwardsUnion checks the contract on real requests: a header is
// forwarded under Merge(a, b) exactly when a or b forwards it.
func TestMergeForwardsUnion(t *testing.T) {
	names := []string{"Authorization", "X-A", "X-B", "Cloudfront-Viewer-Country", "Cloudfront-Is-Mobile-Viewer", "User-Agent"}
	h := http.Header{}
	for _, n := range names {
		h[n] = []string{"v"}
	}
	sels := []Selection{
		{Behavior: None},
		{Behavior: Whitelist, Names: []string{"X-A", "CloudFront-Viewer-Country"}},
		{Behavior: Whitelist, Names: []string{"x-b"}},
		{Behavior: AllViewer},
		{Behavior: AllViewerAndWhitelistCloudFront, Names: []string{"CloudFront-Is-Mobile-Viewer"}},
		{Behavior: AllExcept, Names: []string{"Authorization", "CloudFront-Viewer-Country"}},
		{Behavior: AllExcept, Names: []string{"X-A", "Cloudfront-Is-Mobile-Viewer"}},
	}
	forwarded := func(s Selection) map[string]bool {
		var out Request
		(&Forwarding{Headers: s}).Apply(viewerRequest("GET", "/", h.Clone(), ""), "", "", &out)
		m := map[string]bool{}
		for _, n := range names {
			_, m[n] = out.Header[n]
		}
		return m
	}
	for _, a := range sels {
		for _, b := range sels {
			fa, fb := forwarded(a), forwarded(b)
			fm := forwarded(Merge(Forwarding{Headers: a}, Forwarding{Headers: b}).Headers)
			for _, n := range names {
				if fm[n] != (fa[n] || fb[n]) {
					t.Errorf("Merge(%+v, %+v) forwards %s = %v, want %v", a, b, n, fm[n], fa[n] || fb[n])
				}
			}
		}
	}
}

func FuzzApplyCookiesAndQuery(f *testing.F) {
	f.Add("a=1; b=2; c", "a=1&b=%zz&&c=3")
	f.Add(";;=;a==b", "=&%&a=%41")
	f.Fuzz(func(t *testing.T, cookie, query string) {
		v := viewerRequest("GET", "/", nil, "")
		v.Header.Set("Cookie", cookie)
		v.URL.RawQuery = query
		fw := Forwarding{
			Cookies:      Selection{Behavior: Whitelist, Names: []string{"a", "c"}},
			QueryStrings: Selection{Behavior: AllExcept, Names: []string{"b"}},
		}
		var out Request
		fw.Apply(v, "", "", &out)
		if c := out.Header.Get("Cookie"); c != "" {
			for pair := range strings.SplitSeq(c, "; ") {
				name, _, _ := strings.Cut(pair, "=")
				if name = strings.TrimSpace(name); name != "a" && name != "c" {
					t.Fatalf("cookie %q forwarded from %q", pair, cookie)
				}
				if !strings.Contains(cookie, pair) {
					t.Fatalf("cookie %q not in the viewer's %q", pair, cookie)
				}
			}
		}
		// Every kept parameter is one of the viewer's, in order.
		rest := query
		for param := range strings.SplitSeq(out.RawQuery, "&") {
			if out.RawQuery == "" {
				break
			}
			i := strings.Index(rest, param)
			if i < 0 {
				t.Fatalf("parameter %q not in order in %q", param, query)
			}
			rest = rest[i+len(param):]
		}
	})
}

func BenchmarkApply(b *testing.B) {
	v := viewerRequest("GET", "/img/a.png?w=100&h=200&utm_source=x", http.Header{
		"User-Agent":      {"Mozilla/5.0"},
		"Accept":          {"image/avif,image/webp,*/*"},
		"Accept-Encoding": {"gzip, deflate, br"},
		"Accept-Language": {"en-NZ,en;q=0.9"},
		"Cookie":          {"session=abc; theme=dark; _ga=GA1.2.3"},
		"Referer":         {"https://example.com/"},
		"Connection":      {"keep-alive"},
	}, "")
	f := Forwarding{
		Headers:      Selection{Behavior: Whitelist, Names: []string{"Accept", "Accept-Language"}},
		Cookies:      Selection{Behavior: Whitelist, Names: []string{"session"}},
		QueryStrings: Selection{Behavior: AllExcept, Names: []string{"utm_source"}},
	}
	var out Request
	b.ReportAllocs()
	for b.Loop() {
		f.Apply(v, "192.0.2.7", "br", &out)
	}
}
