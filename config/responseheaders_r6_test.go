package config

import (
	"strings"
	"testing"
)

// TestResponseHeaderValuesRefuseControlCharacters: a custom header value
// or a Content-Security-Policy with a control character other than HTAB
// (RFC 9110 §5.5) is refused naming the field. net/http's HTTP/2 server
// silently leaves such a field out of the response, and HTTP/1.1 sends it
// raw, so the policy would apply differently by protocol. A tab and
// non-ASCII text are fine.
func TestResponseHeaderValuesRefuseControlCharacters(t *testing.T) {
	for _, tc := range []struct{ name, old, new, field string }{
		{"custom value with SOH", `value: ""}`, `value: "a\x01b"}`, "response_headers_policies[0].custom_headers_config[1].value"},
		{"custom value with DEL", `value: ""}`, `value: "a\x7fb"}`, "response_headers_policies[0].custom_headers_config[1].value"},
		{"custom value with ESC", `value: ""}`, `value: "\e[31m"}`, "response_headers_policies[0].custom_headers_config[1].value"},
		{"csp with a control character", `content_security_policy: "default-src 'self'"`, `content_security_policy: "default-src 'self'\x0b"`,
			"response_headers_policies[0].security_headers_config.content_security_policy.content_security_policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(headersBase, tc.old, tc.new, 1)), "test")
			for _, fe := range FieldErrors(err) {
				if fe.Field == tc.field && strings.Contains(fe.Problem, "control character") {
					return
				}
			}
			t.Errorf("want %s: …control character…, got: %v", tc.field, err)
		})
	}
	ok := strings.Replace(headersBase, `value: ""}`, `value: "a\tb, café"}`, 1)
	if _, err := Parse([]byte(ok), "test"); err != nil {
		t.Errorf("a value with a tab and UTF-8: %v", err)
	}
}

// TestCheckCORSOriginIPv6: an IPv6 literal origin, as browsers send it
// ("http://[::1]" or with a port), is an origin; a broken one is not.
func TestCheckCORSOriginIPv6(t *testing.T) {
	for o, ok := range map[string]bool{
		"http://[::1]":            true,
		"http://[::1]:3000":       true,
		"https://[2001:db8::1]":   true,
		"https://[::1":            false,
		"https://[not-an-ip]":     false,
		"https://::1":             false,
		"https://[*.example.com]": false,
	} {
		if got := checkCORSOrigin(o) == ""; got != ok {
			t.Errorf("%q: valid=%v, want %v (%s)", o, got, ok, checkCORSOrigin(o))
		}
	}
}
