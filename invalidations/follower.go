// Package invalidations is an edge's side of invalidation: it applies the
// control plane's invalidation stream to the edge's cache, in order, and
// acknowledges each one, replaying what it missed while it was away
// before it serves again.
package invalidations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/terncdn/tern/bus"
)

// Options configure a Follower.
type Options struct {
	Conn *bus.Conn
	// Node and POP name this edge: its durable position in the stream is
	// kept under Node, and acknowledgements carry both.
	Node, POP string
	// Purge applies one target of an invalidation to the edge's cache in a
	// distribution: removes (or, soft, marks stale) what it holds for a
	// path (CloudFront's path rules) or a cache tag. An error for a
	// distribution this edge does not serve is no failure: it holds
	// nothing of it.
	Purge func(distribution string, t Target) error
	// PurgeAll empties the edge's cache. It is called when the edge missed
	// invalidations the stream no longer holds (it was away longer than
	// bus.InvalidationsMaxAge), so that nothing they removed is served.
	// Nil: such an edge only logs it.
	PurgeAll func()
	// PositionFile keeps the stream sequence of the last invalidation
	// applied (and which stream it is in), so that the edge knows on its
	// return what it missed even after the stream moved on. "" keeps none: the consumer's position is
	// used, which the server moves past invalidations that aged out, so a
	// gap is then noticed only for a new edge.
	PositionFile string
	// Applied, if set, is told the stream sequence up to which the edge
	// has applied every invalidation: after catching up, and after each
	// one. Edges hold tier requests that name a later one (a fence) until
	// they are there (see edge.Server.InvalidationsApplied).
	Applied func(seq uint64)
}

// Target is one path or one tag of an invalidation, and its mode.
type Target struct {
	// Path is a CloudFront invalidation path, or empty for a tag.
	Path string
	// Tag is a cache tag, or empty for a path.
	Tag string
	// Soft marks the objects stale instead of removing them.
	Soft bool
	// Seq is the invalidation's sequence in the stream.
	Seq uint64
}

// Follower applies invalidations to one edge.
type Follower struct {
	o    Options
	cons jetstream.Consumer
	// existed is whether the edge's consumer was there before New: the
	// edge followed the stream in an earlier life.
	existed bool
	// streamCreated is when the stream followed was created (Unix ns; 0
	// unknown): the position file names it, since a stream made again
	// (the control plane's store lost) numbers its invalidations from 1
	// again.
	streamCreated atomic.Int64
}

// New creates (or finds) the edge's durable consumer of the stream: from
// its first start, every invalidation still in the stream; after that,
// those it has not acknowledged.
func New(ctx context.Context, o Options) (*Follower, error) {
	_, err := o.Conn.JetStream().Consumer(ctx, bus.InvalidationsStream, bus.EdgeConsumer(o.Node))
	existed := err == nil
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("invalidations consumer for %s: %w", o.Node, err)
	}
	cons, err := createConsumer(ctx, o)
	if err != nil {
		return nil, err
	}
	f := &Follower{o: o, cons: cons, existed: existed}
	if st, err := o.Conn.JetStream().Stream(ctx, bus.InvalidationsStream); err == nil {
		f.streamCreated.Store(st.CachedInfo().Created.UnixNano())
	}
	return f, nil
}

// createConsumer creates (or finds) the edge's durable consumer.
func createConsumer(ctx context.Context, o Options) (jetstream.Consumer, error) {
	cons, err := o.Conn.JetStream().CreateOrUpdateConsumer(ctx, bus.InvalidationsStream, jetstream.ConsumerConfig{
		Durable:       bus.EdgeConsumer(o.Node),
		Description:   "invalidations for edge " + o.Node + " in " + o.POP,
		FilterSubject: bus.InvalidationsSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 1, // in order
		// An edge killed while applying one holds the consumer's one
		// pending delivery until this runs out; then it comes again (to
		// the edge restarted, which waits for it in CatchUp).
		AckWait: ackWait,
	})
	if err != nil {
		return nil, fmt.Errorf("invalidations consumer for %s: %w", o.Node, err)
	}
	return cons, nil
}

// checkGap empties the cache if invalidations this edge never applied
// have aged out of the stream: those after its acknowledged position for
// an edge that followed the stream before, any at all for a new one (its
// cache may be older than this network). It reports whether it did.
func (f *Follower) checkGap(ctx context.Context, info *jetstream.ConsumerInfo) (bool, error) {
	st, err := f.o.Conn.JetStream().Stream(ctx, bus.InvalidationsStream)
	if err != nil {
		return false, err
	}
	first := st.CachedInfo().State.FirstSeq // fetched just now by Stream
	created := st.CachedInfo().Created.UnixNano()
	f.streamCreated.Store(created)
	var seen uint64 // the last stream sequence this edge has applied
	if f.existed {
		seen = info.AckFloor.Stream
	}
	// A position in another stream (one the control plane had before it
	// lost its store) says nothing of this one.
	if pos, in, ok := f.position(); ok && (in == 0 || in == created) {
		seen = pos
	}
	if first <= seen+1 {
		return false, nil
	}
	slog.Warn("this edge missed invalidations that are no longer kept (away longer than the stream keeps them); emptying its cache",
		"node", f.o.Node, "applied_up_to", seen, "stream_starts_at", first, "kept", bus.InvalidationsMaxAge)
	if f.o.PurgeAll != nil {
		f.o.PurgeAll()
	}
	return true, nil
}

// ackWait is how long a delivered invalidation may stay unacknowledged
// before it is delivered again.
const ackWait = 2 * time.Second

// CatchUp applies every invalidation pending for this edge and returns
// when none is left, neither waiting nor delivered and unacknowledged (a
// delivery to this edge's previous process, killed mid-invalidation, comes
// again within ackWait): call it before the edge serves, so that nothing
// invalidated while it was away is served again. An edge that missed
// invalidations the stream no longer keeps has its cache emptied first
// (Options.PurgeAll). It gives up after
// 10 x ackWait with an error.
func (f *Follower) CatchUp(ctx context.Context) (int, error) {
	n := 0
	deadline := time.Now().Add(10 * ackWait)
	info, err := f.cons.Info(ctx)
	if err != nil {
		return n, fmt.Errorf("catch up on invalidations: %w", err)
	}
	if _, err := f.checkGap(ctx, info); err != nil {
		return n, fmt.Errorf("catch up on invalidations: %w", err)
	}
	for {
		info, err := f.cons.Info(ctx)
		if err != nil {
			return n, fmt.Errorf("catch up on invalidations: %w", err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			if f.o.Applied != nil {
				f.o.Applied(max(info.AckFloor.Stream, info.Delivered.Stream))
			}
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("catch up on invalidations: %d still pending after %v", info.NumPending+uint64(info.NumAckPending), 10*ackWait)
		}
		batch, err := f.cons.Fetch(64, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			return n, fmt.Errorf("catch up on invalidations: %w", err)
		}
		for m := range batch.Messages() {
			n++
			f.apply(m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return n, fmt.Errorf("catch up on invalidations: %w", err)
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// Run applies invalidations as they arrive until ctx ends.
//
// The edge's consumer may vanish under it: the control plane came back on
// the same address with an empty store (its data dir lost or wiped), so
// the stream and every consumer are new. The consume then only reports
// errors, and the edge, still sending heartbeats, would hold every later
// invalidation InProgress while serving what they removed. So after an
// error Run asks for the consumer and, if it is gone, creates it again
// and follows the new stream from its start.
func (f *Follower) Run(ctx context.Context) error {
	trouble := make(chan struct{}, 1)
	consume := func() (jetstream.ConsumeContext, error) {
		return f.cons.Consume(func(m jetstream.Msg) { f.apply(m) },
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				slog.Debug("following invalidations", "node", f.o.Node, "error", err)
				select {
				case trouble <- struct{}{}:
				default:
				}
			}))
	}
	cc, err := consume()
	if err != nil {
		return fmt.Errorf("follow invalidations: %w", err)
	}
	var retry <-chan time.Time // set while a consumer lost is not made again
	for {
		select {
		case <-ctx.Done():
			cc.Stop()
			return nil
		case <-trouble:
		case <-retry:
		}
		retry = nil
		_, err := f.cons.Info(ctx)
		if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // there (the consume recovers by itself), or NATS is away
		}
		cons, err := createConsumer(ctx, f.o)
		if err != nil {
			slog.Warn("invalidations consumer lost and not made again yet; retrying", "node", f.o.Node, "error", err)
			retry = time.After(time.Second)
			continue
		}
		slog.Warn("invalidations consumer lost (the control plane's store is new); following the stream again from its start", "node", f.o.Node)
		cc.Stop()
		f.cons, f.existed = cons, false
		if info, err := cons.Info(ctx); err == nil {
			if _, err := f.checkGap(ctx, info); err != nil {
				slog.Warn("invalidations: could not tell whether any were missed", "node", f.o.Node, "error", err)
			}
		}
		if cc, err = consume(); err != nil {
			return fmt.Errorf("follow invalidations: %w", err)
		}
	}
}

// apply purges every path and tag of one invalidation, then acknowledges it to
// the stream (this edge is done with it) and to the control plane.
func (f *Follower) apply(m jetstream.Msg) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	var inv bus.Invalidation
	if err := json.Unmarshal(m.Data(), &inv); err != nil {
		slog.Error("malformed invalidation; skipped", "subject", m.Subject(), "error", err)
		m.Term()
		if f.o.Applied != nil && seq > 0 {
			f.o.Applied(seq)
		}
		return
	}
	soft := inv.Mode == bus.PurgeSoft
	for _, p := range inv.Paths {
		if err := f.o.Purge(inv.Distribution, Target{Path: p, Soft: soft, Seq: seq}); err != nil {
			slog.Debug("invalidation path not applied", "id", inv.ID, "distribution", inv.Distribution, "path", p, "error", err)
		}
	}
	for _, t := range inv.Tags {
		if err := f.o.Purge(inv.Distribution, Target{Tag: t, Soft: soft, Seq: seq}); err != nil {
			slog.Debug("invalidation tag not applied", "id", inv.ID, "distribution", inv.Distribution, "tag", t, "error", err)
		}
	}
	if err := m.DoubleAck(context.Background()); err != nil {
		// Not recorded: it comes again, and purging twice is harmless.
		slog.Warn("invalidation applied but not acknowledged to the stream", "id", inv.ID, "error", err)
		return
	}
	if seq > 0 {
		f.setPosition(seq)
		if f.o.Applied != nil {
			f.o.Applied(seq)
		}
	}
	ack, _ := json.Marshal(bus.InvalidationAck{ID: inv.ID, Node: f.o.Node, POP: f.o.POP})
	if err := f.o.Conn.NATS().Publish(bus.InvalidationAcksPrefix+inv.ID, ack); err != nil {
		slog.Warn("invalidation applied; acknowledgement to the control plane not sent", "id", inv.ID, "error", err)
	}
}

// position reads PositionFile: the sequence, and when the stream it is
// in was created (Unix ns; 0 if the file does not say).
func (f *Follower) position() (seq uint64, streamCreated int64, ok bool) {
	if f.o.PositionFile == "" {
		return 0, 0, false
	}
	b, err := os.ReadFile(f.o.PositionFile)
	if err != nil {
		return 0, 0, false
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields) > 2 {
		return 0, 0, false
	}
	if seq, err = strconv.ParseUint(fields[0], 10, 64); err != nil {
		return 0, 0, false
	}
	if len(fields) == 2 {
		if streamCreated, err = strconv.ParseInt(fields[1], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return seq, streamCreated, true
}

// setPosition keeps seq, and the stream it is in, in PositionFile,
// atomically: a crash leaves the old position, and the invalidation after
// it is applied again.
func (f *Follower) setPosition(seq uint64) {
	if f.o.PositionFile == "" {
		return
	}
	line := strconv.FormatUint(seq, 10)
	if c := f.streamCreated.Load(); c != 0 {
		line += " " + strconv.FormatInt(c, 10)
	}
	tmp := f.o.PositionFile + ".tmp"
	err := os.WriteFile(tmp, []byte(line+"\n"), 0o644)
	if err == nil {
		err = os.Rename(tmp, f.o.PositionFile)
	}
	if err != nil {
		slog.Warn("invalidation position not kept", "file", f.o.PositionFile, "error", err)
	}
}
