package config

import (
	"strings"
	"testing"
)

func TestDiskTiers(t *testing.T) {
	base := "distributions:\n  - id: d\n    origins: [{id: o, domain_name: example.com}]\n    default_cache_behavior: {target_origin_id: o}\n"
	one, err := Parse([]byte("edge:\n  cache:\n    disk: {path: /var/cache/tern, size: 10GiB}\n"+base), "one")
	if err != nil {
		t.Fatal(err)
	}
	if d := one.Edge.Cache.Disk; len(d) != 1 || d[0].Path != "/var/cache/tern" || d[0].Size != 10*GiB {
		t.Errorf("one disk: %+v", d)
	}
	if one.Edge.Cache.SliceSize != DefaultSliceSize || one.Edge.Cache.DiskMaxObjectSize != DefaultDiskMaxObjectSize {
		t.Errorf("defaults: slice %s, disk max object %s", one.Edge.Cache.SliceSize, one.Edge.Cache.DiskMaxObjectSize)
	}
	two, err := Parse([]byte("edge:\n  cache:\n    disk:\n      - {path: /a, size: 1GiB}\n      - {path: /b, size: 100MiB}\n"+base), "two")
	if err != nil {
		t.Fatal(err)
	}
	if len(two.Edge.Cache.Disk) != 2 || two.Edge.Cache.DiskMaxObjectSize != 100*MiB {
		t.Errorf("two disks: %+v, disk max object %s (want the smallest disk)", two.Edge.Cache.Disk, two.Edge.Cache.DiskMaxObjectSize)
	}
	if none, _ := Parse([]byte(base), "none"); len(none.Edge.Cache.Disk) != 0 {
		t.Error("a disk tier appeared from nowhere")
	}

	for _, tt := range []struct{ yaml, field string }{
		{"disk: {size: 1GiB}", "edge.cache.disk[0].path: is required"},
		{"disk: {path: /a}", "edge.cache.disk[0].size"},
		{"disk: [{path: /a, size: 1GiB}, {path: /a/, size: 1GiB}]", "edge.cache.disk[1].path"},
		{"disk: {path: /a, size: 1GiB}\n    slice_size: 1KiB", "edge.cache.slice_size"},
		{"disk: {path: /a, size: 1GiB, sise: 2}", "sise"},
	} {
		_, err := Parse([]byte("edge:\n  cache:\n    "+tt.yaml+"\n"+base), "bad")
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%q: error %v, want it to name %s", tt.yaml, err, tt.field)
		}
	}
}
