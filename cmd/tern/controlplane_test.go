package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
	"github.com/terncdn/tern/control"
)

// startTestControlPlane runs startControlPlane over dir with embedded NATS
// in this process only.
func startTestControlPlane(t *testing.T, dir string, base string) (*controlPlane, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cp, err := startControlPlane(ctx, controlOptions{dir: dir, base: []byte(base), baseSource: "tern.yaml"})
	if err == nil {
		t.Cleanup(cp.close)
	}
	return cp, err
}

const seedBase = `
edge: {listen: "127.0.0.1:0", node_id: n1}
admin: {listen: "off"}
distributions:
  - id: site
    aliases: ["*"]
    origins: [{id: o, domain_name: origin.example.org}]
    default_cache_behavior: {target_origin_id: o}
`

// TestSeedDoesNotRestoreDeletedDistributions: the seed is for the first
// start only; once the operator has deleted every distribution through the
// API, a restart must not bring the configuration file's back.
func TestSeedDoesNotRestoreDeletedDistributions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cp, err := startTestControlPlane(t, dir, seedBase)
	if err != nil {
		t.Fatal(err)
	}
	store, err := control.NewStore(cp.kv, []byte(seedBase), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Get(ctx, "site")
	if err != nil {
		t.Fatalf("the first start did not seed: %v", err)
	}
	if err := store.Delete(ctx, "site", d.Revision); err != nil {
		t.Fatal(err)
	}
	cp.close()

	// Restart on the same data dir.
	cp, err = startTestControlPlane(t, dir, seedBase)
	if err != nil {
		t.Fatal(err)
	}
	es, err := cp.kv.List(ctx, configwatch.DistributionPrefix+">")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		t.Errorf("after deleting every distribution and restarting, the bucket holds %d (%s): the seed ran again", len(es), es[0].Key)
	}
}

// TestSeedWithYAMLAnchors: a configuration file that tern serve accepts,
// with one distribution reusing another's origins through a YAML anchor,
// must start with --data-dir too, and the seeded distributions must
// assemble as the file did.
func TestSeedWithYAMLAnchors(t *testing.T) {
	base := `
edge: {listen: "127.0.0.1:0", node_id: n1}
admin: {listen: "off"}
distributions:
  - id: a
    aliases: [a.example.com]
    origins: &origins [{id: o, domain_name: origin.example.org}]
    default_cache_behavior: {target_origin_id: o}
  - id: b
    aliases: [b.example.com]
    origins: *origins
    default_cache_behavior: &behavior {target_origin_id: o}
  - <<: {default_cache_behavior: *behavior, origins: *origins}
    id: c
    aliases: [c.example.com]
`
	if _, err := config.Parse([]byte(base), "tern.yaml"); err != nil {
		t.Fatalf("the file itself: %v", err)
	}
	cp, err := startTestControlPlane(t, t.TempDir(), base)
	if err != nil {
		t.Fatalf("a valid configuration file with an anchor: %v", err)
	}
	es, err := cp.kv.List(context.Background(), configwatch.DistributionPrefix+">")
	if err != nil {
		t.Fatal(err)
	}
	var docs []config.Document
	for _, e := range es {
		docs = append(docs, config.Document{Source: e.Key, Data: e.Value})
	}
	c, err := config.Assemble([]byte(base), "tern.yaml", docs)
	if err != nil {
		t.Fatalf("the seeded distributions do not assemble: %v", err)
	}
	if len(c.Distributions) != 3 {
		t.Fatalf("%d distributions seeded, want 3", len(c.Distributions))
	}
	for _, d := range c.Distributions {
		if len(d.Origins) != 1 || d.Origins[0].DomainName != "origin.example.org" {
			t.Errorf("distribution %s seeded with origins %+v", d.ID, d.Origins)
		}
	}
}

// TestSeededIDsAreManageable: a distribution the seed puts in the bucket
// must be one the API can get, update and delete. The configuration allows
// "." in ids; the store does not.
func TestSeededIDsAreManageable(t *testing.T) {
	ctx := context.Background()
	base := strings.Replace(seedBase, "id: site", "id: www.example", 1)
	cp, err := startTestControlPlane(t, t.TempDir(), base)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	store, err := control.NewStore(cp.kv, []byte(base), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := store.Get(ctx, d.ID); err != nil {
			t.Errorf("the API lists distribution %q (seeded from the file) but cannot get it: %v", d.ID, err)
		}
	}
}
