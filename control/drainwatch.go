package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sort"
	"sync"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/configwatch"
)

// DrainWatcher keeps a node's set of operator drains in step with the
// config bucket, as configwatch does the distributions, and the last set
// on disk for a restart while the control plane is away.
type DrainWatcher struct {
	apply     func(map[string]Drain)
	stateFile string

	mu  sync.Mutex
	set map[string]Drain

	syncedOnce sync.Once
	syncedCh   chan struct{}
}

// NewDrainWatcher returns a watcher that hands each whole set of drains,
// by POP, to apply (a copy it may keep), and keeps it in stateFile (""
// keeps none).
func NewDrainWatcher(stateFile string, apply func(map[string]Drain)) *DrainWatcher {
	return &DrainWatcher{apply: apply, stateFile: stateFile, set: map[string]Drain{}, syncedCh: make(chan struct{})}
}

// Synced is closed once the bucket's drains at the start of the watch
// have been applied.
func (w *DrainWatcher) Synced() <-chan struct{} { return w.syncedCh }

// Drains returns the set in service, by POP.
func (w *DrainWatcher) Drains() map[string]Drain {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.set)
}

// LoadState applies the set kept in the state file, if there is one, and
// reports whether it did.
func (w *DrainWatcher) LoadState() (bool, error) {
	if w.stateFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(w.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read last drains: %w", err)
	}
	var list []Drain
	if err := json.Unmarshal(b, &list); err != nil {
		return false, fmt.Errorf("read last drains %s: %w", w.stateFile, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.set)
	for _, d := range list {
		if d.POP != "" {
			w.set[d.POP] = d
		}
	}
	w.apply(maps.Clone(w.set))
	return true, nil
}

// RunOn watches kv, the config bucket, until ctx ends. Once the bucket's
// drains have arrived it applies them whole (they replace what LoadState
// applied: a POP undrained while this node was away is undrained); then
// each change, as it comes.
func (w *DrainWatcher) RunOn(ctx context.Context, kv *bus.KV) error {
	ch, err := kv.Watch(ctx, DrainPrefix+">", 0)
	if err != nil {
		return fmt.Errorf("watch drains: %w", err)
	}
	// The bucket's state arrives into pending; the set in service stays
	// until it is whole. Both start again with each run: one that ended
	// before its state was whole (a connection that failed to link) must
	// not leave half of it for the next.
	pending := map[string]Drain{}
	synced := false
	for e := range ch {
		w.mu.Lock()
		switch e.Op {
		case bus.OpPut:
			pending[e.Key[len(DrainPrefix):]] = drainOf(e)
		case bus.OpDelete:
			delete(pending, e.Key[len(DrainPrefix):])
		case bus.OpSynced:
			synced = true
		case bus.OpReset:
			// A new store: its drains, whole, apply at its OpSynced.
			clear(pending)
			synced = false
		}
		if synced {
			w.set = maps.Clone(pending)
			w.apply(maps.Clone(w.set))
			w.saveLocked()
			w.syncedOnce.Do(func() { close(w.syncedCh) })
		}
		w.mu.Unlock()
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("watch drains: the connection closed")
}

// saveLocked writes the set to the state file; w.mu is held.
func (w *DrainWatcher) saveLocked() {
	if w.stateFile == "" {
		return
	}
	list := make([]Drain, 0, len(w.set))
	for _, d := range w.set {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].POP < list[j].POP })
	if err := configwatch.WriteStateFile(w.stateFile, list); err != nil {
		// In service all the same; only a restart without the control
		// plane would miss it.
		slog.Warn("could not keep the drained POPs for restarts", "file", w.stateFile, "error", err)
	}
}
