package cache

import (
	"net/url"
	"slices"
	"testing"
)

func TestInvalidationTargets(t *testing.T) {
	target, _ := url.Parse("https://shop.example/items/5?x=1")
	tests := []struct {
		name   string
		method string
		status int
		resp   Header
		want   []string
	}{
		{"safe method invalidates nothing §4.4", "GET", 200, hdr("Location", "/items/6"), nil},
		{"HEAD is safe §4.4", "HEAD", 200, hdr(), nil},
		{"error status invalidates nothing §4.4", "POST", 500, hdr(), nil},
		{"client error invalidates nothing §4.4", "DELETE", 404, hdr(), nil},
		{"unsafe method: target §4.4", "DELETE", 204, hdr(), []string{"/items/5"}},
		{"unknown method is unsafe §4.4", "PURGE", 200, hdr(), []string{"/items/5"}},
		{"Location and Content-Location §4.4", "POST", 201, hdr("Location", "/items/6", "Content-Location", "https://SHOP.example/items/6/view"),
			[]string{"/items/5", "/items/6", "/items/6/view"}},
		{"relative reference resolved §4.4", "PUT", 200, hdr("Content-Location", "../list"), []string{"/items/5", "/list"}},
		{"redirect status invalidates §4.4", "POST", 303, hdr("Location", "/done"), []string{"/items/5", "/done"}},
		{"other host not invalidated §4.4", "POST", 201, hdr("Location", "https://evil.example/items/6"), []string{"/items/5"}},
		{"duplicates removed", "POST", 200, hdr("Content-Location", "/items/5?y=2"), []string{"/items/5"}},
		{"escaped path kept", "POST", 200, hdr("Location", "/a%20b"), []string{"/items/5", "/a%20b"}},
	}
	for _, tt := range tests {
		got := InvalidationTargets(tt.method, target, tt.status, tt.resp)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: InvalidationTargets = %q, want %q", tt.name, got, tt.want)
		}
	}
}
