package config

import (
	"strings"
	"testing"
)

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/*", "/", true},
		{"/*", "/a/b/c.png", true},
		{"/images/*.jpg", "/images/a.jpg", true},
		{"/images/*.jpg", "/images/sub/dir/a.jpg", true}, // "*" crosses "/"
		{"/images/*.jpg", "/images/a.png", false},
		{"/images/*.jpg", "/Images/a.jpg", false}, // case-sensitive
		{"/images/*.jpg", "/images/a.jpg.bak", false},
		{"/api/*", "/api/", true},
		{"/api/*", "/api", false},
		{"/api/*", "/apis/x", false},
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/a?c", "/abbc", false},
		{"/*.js", "/x.json", false},
		{"/*a*b*c", "/xaxbxc", true},
		{"/*a*b*c", "/xaxcxb", false},
		{"/exact", "/exact", true},
		{"/exact", "/exact/", false},
		{"", "", true},
		{"*", "", true},
		{"/*/*/*/*/*/*/*/*/x", "/" + strings.Repeat("a/", 40) + "y", false}, // no exponential backtracking
	}
	for _, tt := range tests {
		if got := MatchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestBehaviorForFirstMatchWins(t *testing.T) {
	c := mustParse(t, `
distributions:
  - id: a
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
    cache_behaviors:
      - {path_pattern: /img/special.png, target_origin_id: o}
      - {path_pattern: /img/*, target_origin_id: o}
      - {path_pattern: /img/*.png, target_origin_id: o}
`)
	d := c.Distributions[0]
	tests := []struct {
		path string
		want *CacheBehavior
	}{
		{"/img/special.png", d.CacheBehaviors[0]},
		{"/img/other.png", d.CacheBehaviors[1]}, // earlier /img/* wins over /img/*.png
		{"/css/site.css", d.DefaultCacheBehavior},
	}
	for _, tt := range tests {
		if got := d.BehaviorFor(tt.path); got != tt.want {
			t.Errorf("BehaviorFor(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.BehaviorFor("/css/site.css") }); n != 0 {
		t.Errorf("BehaviorFor allocates %v times per call, want 0", n)
	}
}

func BenchmarkBehaviorFor(b *testing.B) {
	c, err := Parse(Example, "example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	d := c.Distributions[0]
	paths := []string{"/api/items/42", "/download/big.bin", "/assets/app.3f9a1c.js", "/"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.BehaviorFor(paths[i%len(paths)])
	}
}

func BenchmarkMatchPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchPath("/static/*/images/*.png", "/static/v2/theme/images/icons/logo.png")
	}
}
