package config

import (
	"strings"
	"testing"
)

const assembleBase = `
edge: {listen: "127.0.0.1:0", node_id: n1}
admin: {listen: "off"}
cache_policies:
  - name: Short
    default_ttl: 5s
distributions:
  - id: from-file
    aliases: [file.example]
    origins: [{id: o, domain_name: example.org}]
    default_cache_behavior: {target_origin_id: o}
`

func TestAssemble(t *testing.T) {
	docs := []Document{
		{Source: "distribution media", Data: []byte(`
id: media
aliases: [media.example.com]
origins: [{id: o, domain_name: origin.example.com}]
default_cache_behavior: {target_origin_id: o, cache_policy: Short}
`)},
		{Source: "distribution api", Data: []byte(`{"id": "api", "aliases": ["api.example.com"],
  "origins": [{"id": "o", "domain_name": "api.internal"}],
  "default_cache_behavior": {"target_origin_id": "o"}}`)},
	}
	c, err := Assemble([]byte(assembleBase), "tern.yaml", docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Distributions) != 2 || c.Distributions[0].ID != "media" || c.Distributions[1].ID != "api" {
		t.Fatalf("distributions %+v: the file's own must be replaced by the documents", c.Distributions)
	}
	if _, ok := c.Distribution("from-file"); ok {
		t.Error("the file's distribution survived")
	}
	// The named policy from the base file resolved.
	if p := c.Distributions[0].DefaultCacheBehavior.CachePolicy.Policy; p == nil || p.Name != "Short" {
		t.Errorf("cache policy %+v", p)
	}
	// None at all is a valid configuration: a node waiting for the control plane.
	if c, err := Assemble([]byte(assembleBase), "tern.yaml", nil); err != nil || len(c.Distributions) != 0 {
		t.Fatalf("no documents: %v", err)
	}
}

func TestAssembleNamesTheDocument(t *testing.T) {
	for _, c := range []struct {
		name string
		docs []Document
		want []string // substrings of the error, each required
	}{
		{"bad field", []Document{{Source: "distribution bad", Data: []byte(`
id: bad
aliases: [bad.example]
origins: [{id: o, domain_name: example.org, http_port: 70000}]
default_cache_behavior: {target_origin_id: o}
`)}}, []string{"distribution bad: origins[0].http_port"}},
		{"unknown policy", []Document{{Source: "distribution p", Data: []byte(`
id: p
aliases: [p.example]
origins: [{id: o, domain_name: example.org}]
default_cache_behavior: {target_origin_id: o, cache_policy: Nope}
`)}}, []string{"distribution p: default_cache_behavior.cache_policy"}},
		{"unknown field", []Document{{Source: "distribution u", Data: []byte("id: u\nalias: [x]\n")}}, []string{"distribution u", "alias"}},
		{"two documents", []Document{{Source: "distribution two", Data: []byte("id: a\n---\nid: b\n")}}, []string{"distribution two", "more than one"}},
		{"empty", []Document{{Source: "distribution e", Data: []byte("")}}, []string{"distribution e", "empty"}},
		{"the same id twice", []Document{
			{Source: "distribution a", Data: []byte("id: same\naliases: [a.example]\norigins: [{id: o, domain_name: x.org}]\ndefault_cache_behavior: {target_origin_id: o}\n")},
			{Source: "distribution b", Data: []byte("id: same\naliases: [b.example]\norigins: [{id: o, domain_name: x.org}]\ndefault_cache_behavior: {target_origin_id: o}\n")},
		}, []string{"distribution b", "same"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Assemble([]byte(assembleBase), "tern.yaml", c.docs)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestIDsFitNATSSubjects: ids end NATS subjects and KV keys, whose tokens
// may not be empty.
func TestIDsFitNATSSubjects(t *testing.T) {
	for id, ok := range map[string]bool{"www.example": true, "a-b_c.d": true, "a.": false, "a..b": false, ".a": false, "-a": false} {
		if validID(id) != ok {
			t.Errorf("validID(%q) = %v, want %v", id, !ok, ok)
		}
	}
}
