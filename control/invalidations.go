package control

import (
	"context"
	"crypto/rand"
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
type Invalidations struct {
	conn  *bus.Conn
	kv    *bus.KV // bus.InvalidationsBucket, by id
	store *Store
	edges *Edges

	mu      sync.Mutex
	pending map[string]*Invalidation // InProgress, by id
}

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
	iv := &Invalidations{conn: conn, kv: kv, store: store, edges: edges, pending: map[string]*Invalidation{}}
	all, err := kv.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read invalidations: %w", err)
	}
	for _, e := range all {
		var inv Invalidation
		if json.Unmarshal(e.Value, &inv) == nil && inv.Status == InProgress {
			iv.pending[inv.ID] = &inv
		}
	}
	sub, err := conn.NATS().Subscribe(bus.InvalidationAcksPrefix+"*", func(m *nats.Msg) {
		var ack bus.InvalidationAck
		if err := json.Unmarshal(m.Data, &ack); err != nil || ack.ID == "" || ack.Node == "" {
			slog.Warn("malformed invalidation acknowledgement", "subject", m.Subject, "error", err)
			return
		}
		iv.acked(ctx, ack.ID, ack.Node)
	})
	if err != nil {
		return nil, fmt.Errorf("listen for invalidation acknowledgements: %w", err)
	}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
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
	msg, _ := json.Marshal(bus.Invalidation{ID: inv.ID, Distribution: distribution, Paths: inv.Paths, Tags: inv.Tags,
		Mode: inv.Mode, Created: inv.Created})
	// Pending before it is published: an edge's acknowledgement may come
	// back before Publish does.
	iv.mu.Lock()
	iv.pending[inv.ID] = &inv
	iv.mu.Unlock()
	ack, err := iv.conn.JetStream().Publish(ctx, bus.InvalidationSubject(distribution), msg, jetstream.WithMsgID(inv.ID))
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if err != nil {
		delete(iv.pending, inv.ID)
		return Invalidation{}, fmt.Errorf("invalidate in %q: publish: %w", distribution, err)
	}
	inv.Sequence = ack.Sequence
	iv.settleLocked(ctx, &inv, true)
	return iv.view(&inv), nil
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
	if p, ok := iv.pending[id]; ok && p.Distribution == distribution {
		defer iv.mu.Unlock()
		return iv.view(p), nil
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
	iv.mu.Lock()
	defer iv.mu.Unlock()
	var out []Invalidation
	for _, e := range all {
		var inv Invalidation
		if json.Unmarshal(e.Value, &inv) != nil || inv.Distribution != distribution {
			continue
		}
		if p, ok := iv.pending[inv.ID]; ok {
			inv = iv.view(p)
		}
		out = append(out, inv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence > out[j].Sequence })
	return out, nil
}

// acked records that node applied invalidation id.
func (iv *Invalidations) acked(ctx context.Context, id, node string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	inv, ok := iv.pending[id]
	if !ok {
		return
	}
	if inv.Acked == nil {
		inv.Acked = map[string]time.Time{}
	}
	_, seen := inv.Acked[node]
	if !seen {
		inv.Acked[node] = time.Now().UTC()
	}
	iv.settleLocked(ctx, inv, !seen)
}

// reconcile completes what the live edges have applied: an
// acknowledgement may be lost (the control plane was away), but an edge's
// position in the stream is not, and an edge that went away is no longer
// waited for.
func (iv *Invalidations) reconcile(ctx context.Context) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for _, inv := range iv.pending {
		if inv.Sequence == 0 {
			continue // not published yet
		}
		changed := false
		for _, node := range iv.waiting(inv) {
			info, err := iv.conn.JetStream().Consumer(ctx, bus.InvalidationsStream, bus.EdgeConsumer(node))
			if err != nil {
				continue
			}
			if ci, err := info.Info(ctx); err == nil && ci.AckFloor.Stream >= inv.Sequence {
				if inv.Acked == nil {
					inv.Acked = map[string]time.Time{}
				}
				inv.Acked[node] = time.Now().UTC()
				changed = true
			}
		}
		iv.settleLocked(ctx, inv, changed)
	}
}

// waiting lists the live edges that have not applied inv.
func (iv *Invalidations) waiting(inv *Invalidation) []string {
	var w []string
	for _, e := range iv.edges.List() {
		if _, ok := inv.Acked[e.NodeID]; e.Alive && !ok {
			w = append(w, e.NodeID)
		}
	}
	return w
}

// settleLocked completes inv when no live edge is waited for (and the
// registry has listened long enough to know them all), and keeps
// its record if that or anything else (changed) moved. iv.mu is held.
func (iv *Invalidations) settleLocked(ctx context.Context, inv *Invalidation, changed bool) {
	if inv.Status == InProgress && len(iv.waiting(inv)) == 0 && iv.edges.HeardAll() {
		inv.Status, inv.Completed = Completed, time.Now().UTC()
		delete(iv.pending, inv.ID)
		changed = true
	}
	if !changed {
		return
	}
	b, _ := json.Marshal(inv)
	if _, err := iv.kv.Put(ctx, inv.ID, b); err != nil {
		slog.Warn("invalidation record not kept", "id", inv.ID, "error", err)
	}
}

// view is inv with Waiting filled in. iv.mu is held.
func (iv *Invalidations) view(inv *Invalidation) Invalidation {
	v := *inv
	if v.Status == InProgress {
		v.Waiting = iv.waiting(inv)
	}
	v.Acked = maps.Clone(inv.Acked)
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
	default:
		slog.Error("control API: invalidation request failed", "error", err)
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}
