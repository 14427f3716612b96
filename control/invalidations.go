package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/cache"
)

// Invalidation statuses, CloudFront's.
const (
	InProgress = "InProgress"
	Completed  = "Completed"
)

// MaxInvalidationPaths is how many paths one invalidation may have
// (CloudFront's limit).
const MaxInvalidationPaths = 3000

// MaxInvalidationTags is how many cache tags one invalidation may have
// (Fastly's limit for one batch purge).
const MaxInvalidationTags = 256

// InvalidationRequest is what the API is asked to invalidate.
type InvalidationRequest struct {
	// Paths follow CloudFront's rules: they start with "/", "*" only last.
	Paths []string `json:"paths"`
	// Tags are cache tags (cache.ValidateTag): every object the origin
	// tagged with one (Surrogate-Key, Cache-Tag) is invalidated.
	Tags []string `json:"tags"`
	// Mode is "hard" (the default: remove) or "soft" (mark stale, so the
	// next request revalidates with the origin).
	Mode            string `json:"mode"`
	CallerReference string `json:"caller_reference"`
}

// Invalidation is one invalidation as the control plane tracks it.
type Invalidation struct {
	ID           string   `json:"id"`
	Distribution string   `json:"distribution"`
	Paths        []string `json:"paths"`
	Tags         []string `json:"tags,omitempty"`
	// Mode is bus.PurgeHard or bus.PurgeSoft.
	Mode            string    `json:"mode"`
	CallerReference string    `json:"caller_reference,omitempty"`
	Status          string    `json:"status"`
	Created         time.Time `json:"created"`
	Completed       time.Time `json:"completed,omitzero"`
	// Sequence is the invalidation's place in the stream.
	Sequence uint64 `json:"sequence"`
	// Acked holds the edges that have applied it, by node id.
	Acked map[string]time.Time `json:"acked,omitempty"`
	// Waiting lists the live edges that have not applied it yet.
	Waiting []string `json:"waiting,omitempty"`
}

// ErrBadInvalidation: the request names no path nor tag, too many, a path
// CloudFront would refuse, a malformed tag or an unknown mode. The API
// answers 400.
var ErrBadInvalidation = errors.New("invalid invalidation")

// Invalidations issues invalidations and tracks them to completion: an
// invalidation is InProgress until every live edge has applied it (edges
// that are away replay it before they serve again), then Completed.
//
// Edges' acknowledgements settle an invalidation as they arrive. Its
// record in the bucket is written outside the lock: first by Create, then
// by one writer (writeRecords) that a burst of acknowledgements from many
// edges wakes once, so that it costs a write or two, not one each, and no
// acknowledgement waits for a write. Completed is reported once the
// record saying so is kept: a control plane restarted after that never
// reports it InProgress again.
type Invalidations struct {
	conn  *bus.Conn
	kv    *bus.KV // bus.InvalidationsBucket, by id
	store *Store
	edges *Edges

	mu      sync.Mutex
	pending map[string]*tracked // InProgress, by id (and Completed until its record is kept)
	dirty   map[string]bool     // pending records the writer is to write
	wake    chan struct{}       // (one slot) tells the writer there is work
}

// tracked is an invalidation in progress, with what the writer of its
// record needs.
type tracked struct {
	Invalidation
	// since is when this process began tracking it: reconcile leaves it
	// to the acknowledgements for ackGrace.
	since time.Time
	// keptAt is when its record was last written; zero while it has none.
	keptAt time.Time
	// creating is set while Create writes its first record, completing
	// while a record saying Completed is written: meanwhile the bucket,
	// not this, answers for it, so that what the API reports and what the
	// bucket holds agree.
	creating, completing bool
}

// Timing of the bookkeeping:
//   - reconcileInterval: how often reconcile runs.
//   - ackGrace: how long an invalidation is left to the edges'
//     acknowledgements, which normally come within milliseconds, before
//     reconcile asks the stream where the edges still waited for are.
//   - progressInterval: how often, at most, an invalidation's record is
//     rewritten with the acknowledgements so far; its first record and
//     the Completed one are written at once.
const (
	reconcileInterval = 250 * time.Millisecond
	ackGrace          = time.Second
	progressInterval  = time.Second
)

// NewInvalidations starts tracking: it reads the invalidations still in
// progress, listens for the edges' acknowledgements, and checks the
// stragglers every interval until ctx ends.
func NewInvalidations(ctx context.Context, conn *bus.Conn, store *Store, edges *Edges) (*Invalidations, error) {
	if err := conn.EnsureInvalidations(ctx, bus.BucketOptions{}); err != nil {
		return nil, err
	}
	kv, err := conn.KV(ctx, bus.InvalidationsBucket)
	if err != nil {
		return nil, err
	}
	iv := &Invalidations{conn: conn, kv: kv, store: store, edges: edges,
		pending: map[string]*tracked{}, dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	all, err := kv.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read invalidations: %w", err)
	}
	now := time.Now()
	for _, e := range all {
		var inv Invalidation
		if json.Unmarshal(e.Value, &inv) == nil && inv.Status == InProgress {
			iv.pending[inv.ID] = &tracked{Invalidation: inv, since: now, keptAt: now}
		}
	}
	sub, err := conn.NATS().Subscribe(bus.InvalidationAcksPrefix+"*", func(m *nats.Msg) {
		var ack bus.InvalidationAck
		if err := json.Unmarshal(m.Data, &ack); err != nil || ack.ID == "" || ack.Node == "" {
			slog.Warn("malformed invalidation acknowledgement", "subject", m.Subject, "error", err)
			return
		}
		iv.acked(ack.ID, ack.Node)
	})
	if err != nil {
		return nil, fmt.Errorf("listen for invalidation acknowledgements: %w", err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-iv.wake:
				iv.writeRecords(ctx)
			}
		}
	}()
	go func() {
		t := time.NewTicker(reconcileInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				sub.Unsubscribe()
				return
			case <-t.C:
				iv.reconcile(ctx)
			}
		}
	}()
	return iv, nil
}

// Create issues an invalidation of the request's paths and tags in
// distribution: it is on the stream (every edge will apply it) when Create
// returns.
func (iv *Invalidations) Create(ctx context.Context, distribution string, req InvalidationRequest) (Invalidation, error) {
	if _, err := iv.store.Get(ctx, distribution); err != nil {
		return Invalidation{}, fmt.Errorf("invalidate in %q: %w", distribution, err)
	}
	if err := req.validate(); err != nil {
		return Invalidation{}, fmt.Errorf("invalidate in %q: %w", distribution, err)
	}
	mode := req.Mode
	if mode == "" {
		mode = bus.PurgeHard
	}
	inv := Invalidation{ID: newInvalidationID(), Distribution: distribution, Paths: slices.Clone(req.Paths),
		Tags: slices.Clone(req.Tags), Mode: mode, CallerReference: req.CallerReference, Status: InProgress, Created: time.Now().UTC()}
	if inv.Paths == nil {
		inv.Paths = []string{}
	}
	// A caller reference is claimed before anything is published: of two
	// requests with the same one, one issues the invalidation and the
	// other gets it (CloudFront's idempotency).
	refKey := ""
	if req.CallerReference != "" {
		refKey = callerRefKey(distribution, req.CallerReference)
		idJSON, _ := json.Marshal(inv.ID)
		for {
			_, err := iv.kv.Create(ctx, refKey, idJSON)
			if err == nil {
				break
			}
			if !errors.Is(err, bus.ErrExists) {
				return Invalidation{}, fmt.Errorf("invalidate in %q: caller reference: %w", distribution, err)
			}
			got, rev, err := iv.byCallerReference(ctx, distribution, refKey, inv)
			if !errors.Is(err, errOrphanedReference) {
				return got, err
			}
			// The claim names an invalidation never issued (its control
			// plane died in between): this request takes the claim over,
			// unless another did first, whose it then gets.
			if _, err := iv.kv.Update(ctx, refKey, idJSON, rev); err == nil {
				slog.Warn("caller reference named an invalidation never issued; issuing it now", "key", refKey)
				break
			} else if !errors.Is(err, bus.ErrRevisionMismatch) && !errors.Is(err, bus.ErrNotFound) {
				return Invalidation{}, fmt.Errorf("invalidate in %q: caller reference: %w", distribution, err)
			}
		}
	}
	t := &tracked{Invalidation: inv, since: time.Now()}
	msg, _ := json.Marshal(bus.Invalidation{ID: t.ID, Distribution: distribution, Paths: t.Paths, Tags: t.Tags,
		Mode: t.Mode, Created: t.Created})
	// Pending before it is published: an edge's acknowledgement may come
	// back before Publish does.
	iv.mu.Lock()
	iv.pending[t.ID] = t
	iv.mu.Unlock()
	ack, err := iv.conn.JetStream().Publish(ctx, bus.InvalidationSubject(distribution), msg, jetstream.WithMsgID(t.ID))
	iv.mu.Lock()
	if err != nil {
		delete(iv.pending, t.ID)
		delete(iv.dirty, t.ID)
		iv.mu.Unlock()
		if refKey != "" {
			// Not issued: the reference is free for the caller's retry.
			if derr := iv.kv.Delete(context.WithoutCancel(ctx), refKey, 0); derr != nil {
				slog.Warn("caller reference of an invalidation not published stays claimed", "key", refKey, "error", derr)
			}
		}
		return Invalidation{}, fmt.Errorf("invalidate in %q: publish: %w", distribution, err)
	}
	// Its record is kept (so that List has it) before Create returns. The
	// writer may write a later one meanwhile (every edge acknowledged it
	// at once): then this one, older, is not written over it.
	t.Sequence = ack.Sequence
	t.creating = true
	rec := iv.recordLocked(t, time.Now())
	iv.mu.Unlock()
	b, _ := json.Marshal(rec)
	_, err = iv.kv.Create(ctx, rec.ID, b)
	iv.mu.Lock()
	defer iv.mu.Unlock()
	t.creating = false
	switch {
	case err == nil:
		iv.keptLocked(t, rec)
	case errors.Is(err, bus.ErrExists): // the writer's, later
	default:
		slog.Warn("invalidation record not kept; trying again", "id", rec.ID, "error", err)
		t.completing = false
	}
	if t.keptAt.IsZero() || len(t.Acked) != len(rec.Acked) {
		iv.changedLocked(t) // not kept, or acknowledged meanwhile
	}
	return iv.view(t), nil
}

// ErrBatchAlreadyExists: the caller reference was used before with other
// paths, tags or mode (CloudFront's InvalidationBatchAlreadyExists). The
// API answers 409.
var ErrBatchAlreadyExists = errors.New("InvalidationBatchAlreadyExists")

// callerRefKey is where the invalidations bucket keeps which invalidation
// a caller reference of distribution issued. Its value is a JSON string,
// which List and the restart scan skip as no record.
func callerRefKey(distribution, ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "ref." + distribution + "." + hex.EncodeToString(sum[:16])
}

// errOrphanedReference: a caller reference's claim names an invalidation
// that was never issued, and nothing in this process is issuing it.
var errOrphanedReference = errors.New("caller reference names an invalidation never issued")

// byCallerReference answers a request whose caller reference refKey
// already issued an invalidation: that one, if the request asks the same
// (paths and tags in any order, the same mode), or ErrBatchAlreadyExists.
// If the claim names an invalidation that never came to be (the control
// plane died between claiming and recording it), it returns
// errOrphanedReference and the claim's revision, for the caller to take
// it over.
func (iv *Invalidations) byCallerReference(ctx context.Context, distribution, refKey string, want Invalidation) (Invalidation, uint64, error) {
	e, err := iv.kv.Get(ctx, refKey)
	if err != nil {
		return Invalidation{}, 0, fmt.Errorf("invalidate in %q: caller reference: %w", distribution, err)
	}
	var id string
	if err := json.Unmarshal(e.Value, &id); err != nil {
		return Invalidation{}, 0, fmt.Errorf("invalidate in %q: caller reference record %s: %w", distribution, refKey, err)
	}
	// The request that claimed it may still be publishing.
	var got Invalidation
	for deadline := time.Now().Add(5 * time.Second); ; {
		if got, err = iv.Get(ctx, distribution, id); err == nil || !errors.Is(err, ErrNotFound) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return Invalidation{}, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if errors.Is(err, ErrNotFound) {
		iv.mu.Lock()
		_, issuing := iv.pending[id]
		iv.mu.Unlock()
		if !issuing {
			return Invalidation{}, e.Revision, errOrphanedReference
		}
	}
	if err != nil {
		return Invalidation{}, 0, fmt.Errorf("invalidate in %q: caller reference %q names invalidation %s: %w", distribution, want.CallerReference, id, err)
	}
	same := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	if !same(got.Paths, want.Paths) || !same(got.Tags, want.Tags) || got.Mode != want.Mode {
		return Invalidation{}, 0, fmt.Errorf("invalidate in %q: caller_reference %q was used for invalidation %s with other paths, tags or mode: %w",
			distribution, want.CallerReference, id, ErrBatchAlreadyExists)
	}
	return got, 0, nil
}

// validate checks a request, naming the field at fault.
func (req InvalidationRequest) validate() error {
	if len(req.Paths) == 0 && len(req.Tags) == 0 {
		return fmt.Errorf("paths and tags are both empty, want at least one path or tag: %w", ErrBadInvalidation)
	}
	if len(req.Paths) > MaxInvalidationPaths {
		return fmt.Errorf("paths: %d, the limit is %d: %w", len(req.Paths), MaxInvalidationPaths, ErrBadInvalidation)
	}
	if len(req.Tags) > MaxInvalidationTags {
		return fmt.Errorf("tags: %d, the limit is %d: %w", len(req.Tags), MaxInvalidationTags, ErrBadInvalidation)
	}
	switch req.Mode {
	case "", bus.PurgeHard, bus.PurgeSoft:
	default:
		return fmt.Errorf("mode %q: want %q or %q: %w", req.Mode, bus.PurgeHard, bus.PurgeSoft, ErrBadInvalidation)
	}
	var bad []string
	for i, p := range req.Paths {
		if err := cache.ValidateInvalidationPath(p); err != nil {
			bad = append(bad, fmt.Sprintf("paths[%d]: %v", i, err))
		}
	}
	for i, t := range req.Tags {
		if err := cache.ValidateTag(t); err != nil {
			bad = append(bad, fmt.Sprintf("tags[%d]: %v", i, err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(bad, "; "), ErrBadInvalidation)
	}
	return nil
}

// Get returns invalidation id of distribution.
func (iv *Invalidations) Get(ctx context.Context, distribution, id string) (Invalidation, error) {
	iv.mu.Lock()
	if t, ok := iv.pending[id]; ok && t.Distribution == distribution && !t.completing {
		defer iv.mu.Unlock()
		return iv.view(t), nil
	}
	iv.mu.Unlock()
	e, err := iv.kv.Get(ctx, id)
	if err != nil {
		return Invalidation{}, fmt.Errorf("invalidation %q: %w", id, err)
	}
	var inv Invalidation
	if err := json.Unmarshal(e.Value, &inv); err != nil || inv.Distribution != distribution {
		return Invalidation{}, fmt.Errorf("invalidation %q: %w", id, ErrNotFound)
	}
	return inv, nil
}

// List returns distribution's invalidations, newest first.
func (iv *Invalidations) List(ctx context.Context, distribution string) ([]Invalidation, error) {
	if _, err := iv.store.Get(ctx, distribution); err != nil {
		return nil, fmt.Errorf("list invalidations of %q: %w", distribution, err)
	}
	all, err := iv.kv.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list invalidations: %w", err)
	}
	var out []Invalidation
	for _, e := range all {
		var inv Invalidation
		if json.Unmarshal(e.Value, &inv) == nil && inv.Distribution == distribution {
			out = append(out, inv)
		}
	}
	iv.mu.Lock()
	for i := range out {
		if t, ok := iv.pending[out[i].ID]; ok && !t.completing {
			out[i] = iv.view(t)
		}
	}
	iv.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence > out[j].Sequence })
	return out, nil
}

// acked records that node applied invalidation id.
func (iv *Invalidations) acked(id, node string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	t, ok := iv.pending[id]
	if !ok {
		return
	}
	if _, seen := t.Acked[node]; seen {
		return
	}
	if t.Acked == nil {
		t.Acked = map[string]time.Time{}
	}
	t.Acked[node] = time.Now().UTC()
	iv.changedLocked(t)
}

// changedLocked notes that t changed: the writer writes its record now if
// it is complete, else within progressInterval. iv.mu is held.
func (iv *Invalidations) changedLocked(t *tracked) {
	if t.Sequence == 0 || t.Status != InProgress {
		return // not published yet (Create writes it whole), or done
	}
	iv.dirty[t.ID] = true
	if iv.completeLocked(t) {
		iv.wakeWriter()
	}
}

func (iv *Invalidations) wakeWriter() {
	select {
	case iv.wake <- struct{}{}:
	default: // already woken
	}
}

// completeLocked reports whether t is published and no live edge is
// waited for, and the registry has listened long enough to know them all.
// It runs on every acknowledgement, so it asks the registry without
// copying or sorting it. iv.mu is held.
func (iv *Invalidations) completeLocked(t *tracked) bool {
	if t.Status != InProgress || t.Sequence == 0 || !iv.edges.HeardAll() {
		return false
	}
	return iv.edges.everyLive(func(node string) bool {
		_, ok := t.Acked[node]
		return ok
	})
}

// writeRecords writes the records that changed, outside the lock: those
// complete, as Completed, and only then reports them so; the others at
// most every progressInterval (and not while Create writes the first). A
// failed write is tried again on the next reconcile.
func (iv *Invalidations) writeRecords(ctx context.Context) {
	type write struct {
		t   *tracked
		rec Invalidation
	}
	var writes []write
	now := time.Now()
	iv.mu.Lock()
	for id := range iv.dirty {
		t, ok := iv.pending[id]
		if !ok {
			delete(iv.dirty, id)
			continue
		}
		if !iv.completeLocked(t) && (t.creating || !t.keptAt.IsZero() && now.Sub(t.keptAt) < progressInterval) {
			continue // progress only: reconcile wakes the writer again
		}
		delete(iv.dirty, id)
		writes = append(writes, write{t, iv.recordLocked(t, now)})
	}
	iv.mu.Unlock()

	for _, w := range writes {
		b, _ := json.Marshal(w.rec)
		_, err := iv.kv.Put(ctx, w.rec.ID, b)
		iv.mu.Lock()
		if err != nil {
			slog.Warn("invalidation record not kept; trying again", "id", w.rec.ID, "error", err)
			iv.dirty[w.t.ID] = true
			w.t.completing = false
		} else {
			iv.keptLocked(w.t, w.rec)
		}
		iv.mu.Unlock()
	}
}

// recordLocked is t's record as of now: Completed if it is complete (and
// then t is completing until the write returns). iv.mu is held.
func (iv *Invalidations) recordLocked(t *tracked, now time.Time) Invalidation {
	rec := t.Invalidation
	rec.Acked, rec.Waiting = maps.Clone(t.Acked), nil
	if iv.completeLocked(t) {
		rec.Status, rec.Completed = Completed, now.UTC()
		t.completing = true
	}
	return rec
}

// keptLocked notes that rec, t's record, was written: if it says
// Completed, t is, and is tracked no more. iv.mu is held.
func (iv *Invalidations) keptLocked(t *tracked, rec Invalidation) {
	t.keptAt = time.Now()
	if rec.Status == Completed && t.Status == InProgress {
		t.Status, t.Completed = Completed, rec.Completed
		delete(iv.pending, t.ID)
		delete(iv.dirty, t.ID)
	}
}

// reconcile does what no acknowledgement will: it completes what is
// complete because an edge went away (it is no longer waited for) or
// because the registry now knows every live edge; it makes good the
// acknowledgements that were lost (the control plane was away), from the
// edges' places in the stream; and it has the writer write what is left
// to write. It holds the lock only between its calls to NATS.
func (iv *Invalidations) reconcile(ctx context.Context) {
	// The live edges still waited for, for invalidations older than
	// ackGrace, with the lowest sequence each is waited for at.
	ask := map[string]uint64{}
	now := time.Now()
	iv.mu.Lock()
	for _, t := range iv.pending {
		if t.Sequence == 0 {
			continue // not published yet
		}
		if iv.completeLocked(t) {
			iv.dirty[t.ID] = true
			continue
		}
		if now.Sub(t.since) < ackGrace {
			continue
		}
		for _, node := range iv.waiting(t) {
			if s, ok := ask[node]; !ok || t.Sequence < s {
				ask[node] = t.Sequence
			}
		}
	}
	iv.mu.Unlock()

	if len(ask) > 0 {
		floors, err := iv.ackFloors(ctx, ask)
		if err != nil {
			slog.Debug("invalidations: edges' places in the stream not read", "error", err)
		}
		iv.mu.Lock()
		for _, t := range iv.pending {
			changed := false
			for node, floor := range floors {
				if _, ok := t.Acked[node]; !ok && t.Sequence != 0 && floor >= t.Sequence {
					if t.Acked == nil {
						t.Acked = map[string]time.Time{}
					}
					t.Acked[node] = now.UTC()
					changed = true
				}
			}
			if changed {
				iv.changedLocked(t)
			}
		}
		iv.mu.Unlock()
	}

	iv.mu.Lock()
	work := len(iv.dirty) > 0
	iv.mu.Unlock()
	if work {
		iv.wakeWriter()
	}
}

// ackFloors returns, for the nodes in ask whose consumer it finds, the
// last stream sequence below which the node has acknowledged everything.
// A few nodes are asked about one by one; more, by listing the stream's
// consumers (one request per page of them).
func (iv *Invalidations) ackFloors(ctx context.Context, ask map[string]uint64) (map[string]uint64, error) {
	floors := map[string]uint64{}
	if len(ask) <= askOneByOne {
		var errs []error
		for node := range ask {
			c, err := iv.conn.JetStream().Consumer(ctx, bus.InvalidationsStream, bus.EdgeConsumer(node))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			floors[node] = c.CachedInfo().AckFloor.Stream
		}
		return floors, errors.Join(errs...)
	}
	byConsumer := make(map[string]string, len(ask))
	for node := range ask {
		byConsumer[bus.EdgeConsumer(node)] = node
	}
	s, err := iv.conn.JetStream().Stream(ctx, bus.InvalidationsStream)
	if err != nil {
		return floors, err
	}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		if node, ok := byConsumer[ci.Name]; ok {
			floors[node] = ci.AckFloor.Stream
		}
	}
	return floors, l.Err()
}

// askOneByOne is how many edges' places reconcile asks for one by one
// before it lists every consumer instead.
const askOneByOne = 8

// waiting lists the live edges that have not applied inv, by POP then
// node id. iv.mu is held.
func (iv *Invalidations) waiting(t *tracked) []string {
	var w []string
	for _, e := range iv.edges.List() {
		if _, ok := t.Acked[e.NodeID]; e.Alive && !ok {
			w = append(w, e.NodeID)
		}
	}
	return w
}

// view is t as the API shows it: Waiting filled in while InProgress.
// iv.mu is held.
func (iv *Invalidations) view(t *tracked) Invalidation {
	v := t.Invalidation
	if v.Status == InProgress {
		v.Waiting = iv.waiting(t)
	}
	v.Acked = maps.Clone(t.Acked)
	return v
}

// newInvalidationID makes an id like CloudFront's: "I" and 13 letters and
// digits.
func newInvalidationID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 14)
	rand.Read(b[1:])
	b[0] = 'I'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// WithInvalidations serves the invalidations of each distribution:
//
//	POST /api/v1/distributions/{id}/invalidations  {"paths": ["/img/*"], "tags": ["product-42"], "mode": "soft", "caller_reference": "..."}
//	     201 with the invalidation (its status InProgress, or Completed)
//	GET  /api/v1/distributions/{id}/invalidations  {"invalidations": [...]}, newest first
//	GET  /api/v1/distributions/{id}/invalidations/{inv}
//
// Paths follow CloudFront's rules: they start with "/", "*" only last;
// tags are cache tags (no spaces or commas, at most cache.MaxTagLen
// bytes); mode is "hard" (the default) or "soft". At least one path or tag
// is required; a bad one is answered 400 naming its field.
func WithInvalidations(iv *Invalidations) APIOption {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("/api/v1/distributions/{id}/invalidations", iv.serveCollection)
		mux.HandleFunc("/api/v1/distributions/{id}/invalidations/{inv}", iv.serveOne)
	}
}

func (iv *Invalidations) serveCollection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		list, err := iv.List(r.Context(), id)
		if err != nil {
			invalidationError(w, err)
			return
		}
		if list == nil {
			list = []Invalidation{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"invalidations": list})
	case http.MethodPost:
		var req InvalidationRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxDocumentSize))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			invalidationError(w, fmt.Errorf("invalidation request: %v: %w", err, ErrBadInvalidation))
			return
		}
		inv, err := iv.Create(r.Context(), id, req)
		if err != nil {
			invalidationError(w, err)
			return
		}
		w.Header().Set("Location", r.URL.Path+"/"+inv.ID)
		writeJSON(w, http.StatusCreated, inv)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
	}
}

func (iv *Invalidations) serveOne(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
		return
	}
	inv, err := iv.Get(r.Context(), r.PathValue("id"), r.PathValue("inv"))
	if err != nil {
		invalidationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func invalidationError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadInvalidation):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrBatchAlreadyExists):
		status = http.StatusConflict
	default:
		slog.Error("control API: invalidation request failed", "error", err)
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}
