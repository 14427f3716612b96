package tiered

import (
	"testing"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
)

// hookMem is the memory tier with a hook that runs inside Delete and
// DeletePrefix: the moment a concurrent viewer's Get can fall into.
type hookMem struct {
	*memory.Store
	during func()
}

func (m *hookMem) Delete(key string) bool {
	ok := m.Store.Delete(key)
	if m.during != nil {
		m.during()
	}
	return ok
}

func (m *hookMem) DeletePrefix(prefix string) int {
	n := m.Store.DeletePrefix(prefix)
	if m.during != nil {
		m.during()
	}
	return n
}

// TestPromotionCannotUndoADelete: a Get that runs while a
// Delete/DeletePrefix is removing keys from memory (after the epoch was
// bumped, before the disk delete is registered as pending) reads the
// purged object from disk and promotes it into memory with the new epoch:
// the invalidation is undone in memory, which is looked at first.
func TestPromotionCannotUndoADelete(t *testing.T) {
	for _, prefix := range []bool{false, true} {
		name := "Delete"
		if prefix {
			name = "DeletePrefix"
		}
		t.Run(name, func(t *testing.T) {
			mem := &hookMem{Store: memory.New(1<<20, 1<<20)}
			d, err := disk.Open(disk.Options{Path: t.TempDir(), Size: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			s := New(mem, []Disk{d}, Options{PromoteMax: 1 << 20, DiskMax: 1 << 20})
			t.Cleanup(s.Close)

			const key = "d\x00/a.js\x00"
			old := []byte("the purged version")
			s.Set(key, &cache.Object{Status: 200, Body: old})
			s.Flush()
			mem.Store.Delete(key) // memory let it go (evicted); the disk has it

			// A viewer asks for the key while the purge walks memory.
			mem.during = func() { s.Get(key) }
			if prefix {
				s.DeletePrefix("d\x00/a")
			} else {
				s.Delete(key)
			}
			mem.during = nil
			s.Flush()

			if got, ok := s.Get(key); ok {
				t.Fatalf("after the purge returned, Get still serves %q (memory holds it: %v)",
					got.Body, func() bool { _, ok := mem.Store.Get(key); return ok }())
			}
		})
	}
}

// TestSetAfterCloseDoesNotPanic: `tern serve` closes the tiered
// store (closing the disk queues) when the HTTP servers have shut down,
// but fills run detached from viewers (stale-while-revalidate refreshes,
// large downloads that go on after their viewer left) and store when they
// finish. Their Set then sends on a closed channel and the process panics
// on its way out.
func TestSetAfterCloseDoesNotPanic(t *testing.T) {
	mem := memory.New(1<<20, 1<<20)
	d, err := disk.Open(disk.Options{Path: t.TempDir(), Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := New(mem, []Disk{d}, Options{PromoteMax: 1 << 20, DiskMax: 1 << 20})
	s.Close()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("a store after Close panicked: %v", r)
		}
	}()
	s.Set("d\x00/late\x00", &cache.Object{Status: 200, Body: []byte("refreshed late")})
}
