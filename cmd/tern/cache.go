package main

import (
	"encoding/json"
	"fmt"
	"github.com/terncdn/tern/storage/disk"
	"net/http"
	"strconv"
	"strings"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
	"github.com/terncdn/tern/telemetry"
)

// cacheTiers is the edge's storage: memory over the configured disks.
type cacheTiers struct {
	mem   *memory.Store
	disks []*diskTier
	store *tiered.Store
	close func()
}

// diskTier is one configured disk.
type diskTier struct {
	name  string
	store *disk.Store
	walk  func(prefix string, fn func(objectInfo) bool)
}

// objectInfo is one stored object as the admin API lists it.
type objectInfo struct {
	Tier         string `json:"tier"`
	Distribution string `json:"distribution"`
	Path         string `json:"path"`
	// Variant is the rest of the cache key: the query string, headers and
	// cookies the cache policy keys on, and the Vary values.
	Variant string `json:"variant,omitempty"`
	Status  int    `json:"status"`
	Size    int64  `json:"size"`
	Kind    string `json:"kind"` // object, partial, vary-marker, pass-marker
	// Slices is "stored/total" for a partial object: a large object
	// fetched slice by slice for range requests.
	Slices string `json:"slices,omitempty"`
}

// walk lists stored objects whose key starts with prefix, at most limit.
func (t *cacheTiers) walk(prefix string, limit int) []objectInfo {
	var out []objectInfo
	t.mem.Walk(prefix, func(key string, obj *cache.Object) bool {
		out = append(out, describe("memory", key, obj.Status, obj.BodyLen(), obj.Vary != nil))
		return len(out) < limit
	})
	for _, d := range t.disks {
		if len(out) >= limit {
			break
		}
		d.walk(prefix, func(info objectInfo) bool {
			out = append(out, info)
			return len(out) < limit
		})
	}
	return out
}

func describe(tier, key string, status int, size int64, varies bool) objectInfo {
	dist, rest, _ := strings.Cut(key, "\x00")
	path, variant, _ := strings.Cut(rest, "\x00")
	info := objectInfo{Tier: tier, Distribution: dist, Path: path, Status: status, Size: size, Kind: "object",
		Variant: strings.Trim(strings.ReplaceAll(variant, "\x00", " "), " ")}
	switch {
	case varies:
		info.Kind = "vary-marker"
	case status == 0:
		info.Kind = "pass-marker"
	}
	return info
}

// adminCache serves the cache endpoints of the admin API:
//
//	GET  /cache/objects?distribution=D&path=/prefix&limit=N  stored objects (JSON)
//	POST /cache/purge?distribution=D&path=/a.jpg&path=/img/*&tag=T remove from every tier
//	     (with soft=1: mark stale, so the next request revalidates)
func adminCache(mux *http.ServeMux, srv *edge.Server, tiers *cacheTiers) {
	mux.HandleFunc("GET /cache/objects", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		prefix := ""
		if d := q.Get("distribution"); d != "" {
			prefix = d + "\x00" + q.Get("path")
		} else if q.Get("path") != "" {
			http.Error(w, "path needs distribution", http.StatusBadRequest)
			return
		}
		limit := 1000
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n <= 0 {
				http.Error(w, fmt.Sprintf("limit %q is not a positive number", l), http.StatusBadRequest)
				return
			}
			limit = n
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(tiers.walk(prefix, limit))
	})
	mux.HandleFunc("POST /cache/purge", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		dist, paths, tags := q.Get("distribution"), q["path"], q["tag"]
		if dist == "" || len(paths)+len(tags) == 0 {
			http.Error(w, "distribution and at least one path or tag are required", http.StatusBadRequest)
			return
		}
		soft := false
		if v := q.Get("soft"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				http.Error(w, fmt.Sprintf("soft=%q: want 1 or 0", v), http.StatusBadRequest)
				return
			}
			soft = b
		}
		for _, p := range paths {
			if err := cache.ValidateInvalidationPath(p); err != nil {
				http.Error(w, "path: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		for _, t := range tags {
			if err := cache.ValidateTag(t); err != nil {
				http.Error(w, "tag: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		purged := 0
		for _, p := range paths {
			n, err := srv.PurgePath(dist, p, soft)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			purged += n
		}
		for _, t := range tags {
			n, err := srv.PurgeTag(dist, t, soft)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			purged += n
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"distribution": dist, "paths": paths, "tags": tags, "soft": soft, "memory_objects": purged})
	})
}

// promoteMax is the largest disk hit copied into memory. Larger objects go
// out with sendfile from the page cache at least as fast, and promoting
// them thrashes memory when the hot set is larger than it: measured with
// `bench/run.sh disk` (64 KiB objects, set twice the memory tier), a 1 MiB
// limit gave 0.40x nginx's hits per core, 16 KiB 0.59x.
const promoteMax = 16 << 10

func openCache(c *config.Config) (*cacheTiers, error) {
	ec := c.Edge.Cache
	mem := memory.New(int64(ec.Memory), int64(ec.MaxObjectSize))
	t := &cacheTiers{mem: mem}
	var stores []*disk.Store
	var disks []tiered.Disk
	for i, dc := range ec.Disk {
		d, err := disk.Open(disk.Options{Path: dc.Path, Size: int64(dc.Size), SliceSize: int64(ec.SliceSize), Fsync: ec.Fsync})
		if err != nil {
			for _, s := range stores {
				s.Close()
			}
			return nil, fmt.Errorf("edge.cache.disk[%d] %s: %w", i, dc.Path, err)
		}
		stores = append(stores, d)
		disks = append(disks, d)
		name := fmt.Sprintf("disk%d", i)
		t.disks = append(t.disks, &diskTier{name: name, store: d, walk: func(prefix string, fn func(objectInfo) bool) {
			d.Walk(prefix, func(info disk.Info) bool {
				o := describe(name, info.Key, info.Status, info.Size, info.Vary)
				if info.Present < info.Slices {
					o.Kind = "partial"
					o.Slices = fmt.Sprintf("%d/%d", info.Present, info.Slices)
				}
				return fn(o)
			})
		}})
	}
	t.store = tiered.New(mem, disks, tiered.Options{PromoteMax: min(int64(ec.MaxObjectSize), promoteMax), DiskMax: int64(ec.DiskMaxObjectSize)})
	t.close = func() {
		t.store.Close() // applies the queued disk writes first
		for _, s := range stores {
			s.Close()
		}
	}
	return t, nil
}

// stats reports every tier for /metrics.
func (t *cacheTiers) stats() []telemetry.TierStats {
	st := t.store.Stats()
	out := []telemetry.TierStats{{
		Tier: "memory", Objects: t.mem.Len(), Bytes: t.mem.Bytes(), Capacity: t.mem.Capacity(),
		Hits: st.MemoryHits, Evictions: t.mem.Evictions(),
	}}
	for _, d := range t.disks {
		ds := d.store.Stats()
		out = append(out, telemetry.TierStats{
			Tier: d.name, Objects: ds.Objects, Bytes: ds.Bytes, Capacity: ds.Capacity,
			Hits: ds.Hits, Evictions: ds.Evictions, ChecksumFailures: ds.ChecksumFailures,
			Admitted: ds.Admitted, Rejected: ds.Rejected, WriteErrors: ds.WriteErrors,
			QueueDrops: st.DiskQueueDrops,
		})
	}
	return out
}

// bodies is where the edge stores bodies too large for memory: the tiered
// store (the key's disk), or nil without disks.
// slices is the store large objects are kept in slice by slice, or nil
// without disks.
func (t *cacheTiers) slices() cache.SliceStore {
	if len(t.disks) == 0 {
		return nil
	}
	return t.store
}

func (t *cacheTiers) bodies() cache.BodyStore {
	if len(t.disks) == 0 {
		return nil
	}
	return t.store
}
