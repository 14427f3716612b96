// Package configwatch keeps a node's configuration in step with the
// control plane: it watches the distributions in the config KV bucket,
// assembles each revision with the node's own configuration file, applies
// it whole or not at all, and keeps the last good one on disk so that a
// node restarted while the control plane is away serves with it.
package configwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
)

// DistributionPrefix is the key prefix of distributions in the config
// bucket ("distribution.<id>").
const DistributionPrefix = "distribution."

// Options configure a Watcher.
type Options struct {
	// KV is the config bucket Run watches; nil if the node connects later
	// and calls RunOn.
	KV *bus.KV
	// Base is the node's configuration file (edge, admin, policies); its
	// own distributions are replaced by the bucket's. BaseSource names it
	// in errors.
	Base       []byte
	BaseSource string
	// Apply puts a configuration in service; an error keeps the previous
	// one (the revision is reported as refused).
	Apply func(c *config.Config) error
	// StateFile keeps the last good revision's distributions; "" keeps
	// none. Written atomically after each successful apply.
	StateFile string
}

// Status is what a Watcher last did, for /status and heartbeats.
type Status struct {
	// Revision is the bucket revision of the configuration in service
	// (0: none from the control plane yet).
	Revision uint64 `json:"revision"`
	// Refused is the latest revision that could not be applied, and
	// Error why; both clear when a later revision applies.
	Refused uint64 `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
	// Distributions is how many distributions are in service.
	Distributions int       `json:"distributions"`
	AppliedAt     time.Time `json:"applied_at,omitzero"`
}

// Watcher follows the config bucket. Run it in its own goroutine.
type Watcher struct {
	o Options

	// applyMu serializes applying; it guards what is applied from: the
	// base file and the bucket's documents as last seen.
	applyMu          sync.Mutex
	base, baseSource string
	docs             map[string][]byte
	rev              uint64
	synced           bool

	mu     sync.Mutex
	status Status

	syncedOnce sync.Once
	syncedCh   chan struct{}
}

// New returns a Watcher; nothing happens until Run or LoadState.
func New(o Options) *Watcher {
	return &Watcher{o: o, base: string(o.Base), baseSource: o.BaseSource, docs: map[string][]byte{}, syncedCh: make(chan struct{})}
}

// SetBase replaces the node's configuration file the bucket's
// distributions are assembled with (a reload), and applies the result at
// once if the bucket's state has arrived. An error means it was refused:
// the configuration in service stays, and so does the new base for later
// revisions.
func (w *Watcher) SetBase(base []byte, source string) error {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	w.base, w.baseSource = string(base), source
	if !w.synced {
		return nil
	}
	return w.applyLocked(w.rev, w.docs, true)
}

// Status returns what the Watcher last did.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// state is what StateFile holds: the last good configuration whole, its
// base file included, so that it can be applied again whatever the file
// says now.
type state struct {
	Revision   uint64     `json:"revision"`
	Base       string     `json:"base"`
	BaseSource string     `json:"base_source"`
	Documents  []document `json:"documents"`
}

type document struct {
	Key  string `json:"key"`
	Data string `json:"data"`
}

// LoadState applies the last good configuration from StateFile, if there
// is one, and reports whether it did: a node starting while the control
// plane is away serves what it served before.
func (w *Watcher) LoadState() (bool, error) {
	if w.o.StateFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(w.o.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read last good configuration: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("read last good configuration %s: %w", w.o.StateFile, err)
	}
	docs := make(map[string][]byte, len(st.Documents))
	for _, d := range st.Documents {
		docs[d.Key] = []byte(d.Data)
	}
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	if err := w.assembleAndApply(st.Revision, st.Base, st.BaseSource+" (as last applied)", docs, false); err != nil {
		return false, fmt.Errorf("last good configuration %s: %w", w.o.StateFile, err)
	}
	return true, nil
}

// Synced is closed once the bucket's state at the start of the watch has
// arrived and been applied (or refused).
func (w *Watcher) Synced() <-chan struct{} { return w.syncedCh }

// Run watches Options.KV; see RunOn.
func (w *Watcher) Run(ctx context.Context) error { return w.RunOn(ctx, w.o.KV) }

// RunOn watches the bucket kv until ctx ends. Once the bucket's current state
// has arrived it applies it; then each change, as it comes. A revision
// that does not assemble or apply is logged and reported in Status, and
// the configuration in service stays.
func (w *Watcher) RunOn(ctx context.Context, kv *bus.KV) error {
	ch, err := kv.Watch(ctx, DistributionPrefix+">", 0)
	if err != nil {
		return fmt.Errorf("watch configuration: %w", err)
	}
	for e := range ch {
		w.applyMu.Lock()
		switch e.Op {
		case bus.OpPut:
			w.docs[e.Key] = e.Value
		case bus.OpDelete:
			delete(w.docs, e.Key)
		case bus.OpSynced:
			w.synced = true
		case bus.OpReset:
			// The control plane's store is new: what it held is gone,
			// and the new bucket's state, whole, is applied at its
			// OpSynced. Until then the configuration in service stays.
			clear(w.docs)
			w.rev, w.synced = 0, false
		}
		w.rev = max(w.rev, e.Revision)
		if w.synced {
			if err := w.applyLocked(w.rev, w.docs, true); err != nil {
				slog.Error("configuration refused; keeping the one in service", "revision", w.rev, "error", err)
			}
			w.syncedOnce.Do(func() { close(w.syncedCh) })
		}
		w.applyMu.Unlock()
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("watch configuration: the connection closed")
}

// applyLocked assembles docs at revision rev with the current base and
// puts the result in service. applyMu is held.
func (w *Watcher) applyLocked(rev uint64, docs map[string][]byte, save bool) error {
	return w.assembleAndApply(rev, w.base, w.baseSource, docs, save)
}

// assembleAndApply assembles docs at revision rev with base and puts the
// result in service, then, if save, keeps it in StateFile. applyMu is
// held.
func (w *Watcher) assembleAndApply(rev uint64, base, baseSource string, docs map[string][]byte, save bool) error {
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]config.Document, 0, len(keys))
	for _, k := range keys {
		list = append(list, config.Document{Source: "distribution " + strings.TrimPrefix(k, DistributionPrefix), Data: docs[k]})
	}
	c, err := config.Assemble([]byte(base), baseSource, list)
	if err == nil {
		err = w.o.Apply(c)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.status.Refused, w.status.Error = rev, err.Error()
		return err
	}
	w.status = Status{Revision: rev, Distributions: len(c.Distributions), AppliedAt: time.Now()}
	if !save || w.o.StateFile == "" {
		return nil
	}
	st := state{Revision: rev, Base: base, BaseSource: strings.TrimSuffix(baseSource, " (as last applied)")}
	for _, k := range keys {
		st.Documents = append(st.Documents, document{Key: k, Data: string(docs[k])})
	}
	if err := WriteStateFile(w.o.StateFile, st); err != nil {
		// In service all the same; only a restart without the control
		// plane would miss it.
		slog.Warn("could not keep the configuration for restarts", "file", w.o.StateFile, "error", err)
	}
	return nil
}

// WriteStateFile replaces path with v as JSON, atomically: a crash leaves
// the old file or the new one, never a torn one. It is how the watchers
// keep what they last applied for a restart.
func WriteStateFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
