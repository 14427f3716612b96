package tiered

import (
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

// slowPurgeDisk is a gatedDisk whose purges by tag and soft purges also
// wait on the gate, so that a test can hold them in the queue.
type slowPurgeDisk struct{ *gatedDisk }

func (d slowPurgeDisk) DeleteTag(dist, tag string) int {
	d.gate.RLock()
	defer d.gate.RUnlock()
	return d.Store.DeleteTag(dist, tag)
}

func (d slowPurgeDisk) ExpireTag(dist, tag string, now time.Time) int {
	d.gate.RLock()
	defer d.gate.RUnlock()
	return d.Store.ExpireTag(dist, tag, now)
}

func (d slowPurgeDisk) ExpirePrefix(prefix string, now time.Time) int {
	d.gate.RLock()
	defer d.gate.RUnlock()
	return d.Store.ExpirePrefix(prefix, now)
}

func freshTagged(body string, tags ...string) *cache.Object {
	return &cache.Object{Status: 200, Body: []byte(body), ResponseTime: time.Now(),
		Freshness: cache.Freshness{Storable: true, Lifetime: time.Hour}, Tags: tags}
}

// TestPurgesTakeEffectBeforeTheDiskCatchesUp: a purge by tag, and a soft
// purge, apply to Get at once, even for objects only the disk holds while
// the disk has not applied them yet.
func TestPurgesTakeEffectBeforeTheDiskCatchesUp(t *testing.T) {
	s, mem, gd := newStore(t)
	disk := slowPurgeDisk{gd}
	s.disks[0].disk = disk
	for key, o := range map[string]*cache.Object{
		"d\x00/red\x00":   freshTagged("r", "red"),
		"d\x00/blue\x00":  freshTagged("b", "blue"),
		"d\x00/img/x\x00": freshTagged("x"),
	} {
		s.Set(key, o)
	}
	s.Flush()
	for _, k := range []string{"d\x00/red\x00", "d\x00/blue\x00", "d\x00/img/x\x00"} {
		mem.Delete(k) // only the disk has them now, as after a restart
	}

	gd.gate.Lock() // the disk applies nothing for now
	s.DeleteTag("d", "red")
	now := time.Now()
	s.ExpireTag("d", "blue", now)
	s.ExpirePrefix("d\x00/img/", now)
	if _, ok := s.Get("d\x00/red\x00"); ok {
		t.Error("an object purged by tag is served while the disk catches up")
	}
	for _, k := range []string{"d\x00/blue\x00", "d\x00/img/x\x00"} {
		o, ok := s.Get(k)
		if !ok || o.FreshFor(time.Now()) > 0 {
			t.Errorf("%q while the disk catches up on a soft purge: present %v, want present and stale", k, ok)
		}
	}
	gd.gate.Unlock()
	s.Flush()
	for _, k := range []string{"d\x00/blue\x00", "d\x00/img/x\x00"} {
		mem.Delete(k) // the promoted stale copies
		o, ok := gd.Store.Get(k)
		if !ok || o.FreshFor(time.Now()) > 0 {
			t.Errorf("%q once the disk caught up: present %v, want present and stale", k, ok)
		}
	}
	if _, ok := gd.Store.Get("d\x00/red\x00"); ok {
		t.Error("the disk kept an object purged by tag")
	}
	if n := s.disks[0].npending.Load(); n != 0 {
		t.Errorf("%d purges still pending after Flush", n)
	}
}
