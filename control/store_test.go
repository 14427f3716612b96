package control

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStoreAfterTheBaseChanged: when the base file no longer has a policy a
// stored distribution names, every write that would keep that distribution
// is refused naming it, and fixing or deleting it is what gets through.
func TestStoreAfterTheBaseChanged(t *testing.T) {
	ctx := context.Background()
	kv := newKV(t)
	old, err := NewStore(kv, []byte(testBase), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := old.Create(ctx, []byte(dist("a", "a.example.com"))) // names cache policy Short
	if err != nil {
		t.Fatal(err)
	}

	s, err := NewStore(kv, []byte(strings.Replace(testBase, "name: Short", "name: Long", 1)), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(ctx, []byte(strings.Replace(dist("b", "b.example.com"), "cache_policy: Short", "cache_policy: Long", 1)))
	var ie *InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || len(ie.Problems) != 1 ||
		ie.Problems[0].Field != "distribution a: default_cache_behavior.cache_policy" {
		t.Fatalf("create beside a broken distribution: %v (%+v)", err, ie)
	}

	fixed, err := s.Update(ctx, "a", []byte(strings.Replace(dist("a", "a.example.com"), "Short", "Long", 1)), a.Revision)
	if err != nil {
		t.Fatalf("fixing the broken distribution: %v", err)
	}
	if fixed.Revision <= a.Revision {
		t.Errorf("revision %d after %d", fixed.Revision, a.Revision)
	}
	if err := s.Delete(ctx, "a", a.Revision); !errors.Is(err, ErrRevisionMismatch) {
		t.Errorf("delete at the old revision: %v", err)
	}
	if err := s.Delete(ctx, "a", fixed.Revision); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	if ds, err := s.List(ctx); err != nil || len(ds) != 0 {
		t.Errorf("list after delete: %v, %v", ds, err)
	}
}
