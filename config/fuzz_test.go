package config

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// survives being written back as YAML and parsed again.
func FuzzParse(f *testing.F) {
	f.Add(Example)
	f.Add([]byte(minimal))
	f.Add([]byte(valid))
	f.Add([]byte("distributions: [~, {id: a, origins: [~], cache_behaviors: [~], default_cache_behavior: {cache_policy: {headers: x}}}]"))
	f.Add([]byte("cache_policies: [~, {name: p, min_ttl: 1e300}]\norigin_request_policies: [~]"))
	f.Add([]byte("edge: {cache: {memory: 1.5GB, max_object_size: 1e30TiB}}"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		if _, err := Parse(out, "fuzz-again.yaml"); err != nil {
			t.Fatalf("a parsed config did not parse again: %v\ninput:\n%s\nwritten:\n%s", err, data, out)
		}
	})
}
