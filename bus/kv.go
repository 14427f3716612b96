package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConfigBucket is the JetStream KV bucket that holds Tern's configuration:
// one key per distribution, function, key group, web ACL and certificate,
// and per POP an operator drained, named "<kind>.<id>" (e.g.
// "distribution.E2QWRUHAPOMQZL", "drain.fra"), so a watch or a list can
// select one kind with "distribution.>".
const ConfigBucket = "tern_config"

// ConfigHistory is how many revisions of each config key the bucket keeps
// (JetStream allows at most 64).
const ConfigHistory = 16

var (
	// ErrNotFound: the key does not exist or was deleted.
	ErrNotFound = errors.New("key not found")
	// ErrRevisionMismatch: the key's current revision is not the expected
	// one (someone changed it first). The control API answers 412
	// Precondition Failed, as CloudFront does for a stale If-Match.
	ErrRevisionMismatch = errors.New("revision mismatch")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("key exists")
)

// BucketOptions configures the buckets EnsureBuckets creates.
type BucketOptions struct {
	// Replicas is how many NATS servers keep a copy of each bucket: 1 for an
	// embedded or single server, 3 (or 5) on a JetStream cluster. Default 1.
	Replicas int
}

// EnsureBuckets creates Tern's KV buckets, or updates their settings, with
// file storage. It is idempotent; the control plane calls it at start.
func (c *Conn) EnsureBuckets(ctx context.Context, o BucketOptions) error {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	_, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ConfigBucket,
		Description: "Tern configuration: distributions, functions, key groups, web ACLs, certificates",
		History:     ConfigHistory,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return fmt.Errorf("ensure KV bucket %s: %w", ConfigBucket, err)
	}
	return nil
}

// KV opens an existing bucket; the error wraps jetstream.ErrBucketNotFound
// if EnsureBuckets has not created it yet.
func (c *Conn) KV(ctx context.Context, bucket string) (*KV, error) {
	kv, err := c.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open KV bucket %s: %w", bucket, err)
	}
	return &KV{kv: kv, bucket: bucket, conn: c}, nil
}

// Op is what a change did to a key.
type Op uint8

const (
	// OpPut: the key was created or given a new value.
	OpPut Op = iota + 1
	// OpDelete: the key was deleted.
	OpDelete
	// OpSynced is sent once by Watch when every value that existed when the
	// watch began has been delivered; it carries no key.
	OpSynced
	// OpReset is sent by Watch when the bucket it watched was replaced by
	// a new one (NATS came back with an empty store: revisions start again
	// at 1). Forget every key delivered so far: the new bucket's whole
	// state follows, then OpSynced again. It carries no key.
	OpReset
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpSynced:
		return "synced"
	case OpReset:
		return "reset"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Entry is one revision of a key.
type Entry struct {
	Key   string
	Value []byte // nil for OpDelete
	// Revision orders every change in the bucket: it grows with each put or
	// delete of any key. It is the value for ETag / If-Match.
	Revision uint64
	Created  time.Time
	Op       Op
}

// KV is a JetStream KV bucket whose values carry revisions, for
// compare-and-set updates and for watching changes in order.
// Values are opaque bytes; their encoding belongs to the caller.
type KV struct {
	kv     jetstream.KeyValue
	bucket string
	conn   *Conn
}

func entryOf(e jetstream.KeyValueEntry) Entry {
	op := OpPut
	if e.Operation() != jetstream.KeyValuePut {
		op = OpDelete
	}
	out := Entry{Key: e.Key(), Revision: e.Revision(), Created: e.Created(), Op: op}
	if op == OpPut {
		out.Value = e.Value()
	}
	return out
}

// mapErr turns JetStream's KV errors into this package's sentinels, keeping
// the original (whose text names the key's actual revision) in the chain.
func mapErr(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("%w: %w", ErrRevisionMismatch, err)
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return ErrNotFound
	}
	return err
}

// Get returns the current value of key, or an error wrapping ErrNotFound.
func (k *KV) Get(ctx context.Context, key string) (Entry, error) {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, fmt.Errorf("get %s/%s: %w", k.bucket, key, mapErr(err))
	}
	return entryOf(e), nil
}

// Put sets key to value whatever its current revision and returns the new
// revision.
func (k *KV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("put %s/%s: %w", k.bucket, key, mapErr(err))
	}
	return rev, nil
}

// Create sets key to value only if the key does not exist (or was deleted),
// else fails with an error wrapping ErrExists.
func (k *KV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Create(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("create %s/%s: %w", k.bucket, key, mapErr(err))
	}
	return rev, nil
}

// Update sets key to value only if its current revision is expected, and
// returns the new revision; otherwise it fails with an error wrapping
// ErrRevisionMismatch and changes nothing (an If-Match precondition, RFC 9110
// section 13.1.1).
func (k *KV) Update(ctx context.Context, key string, value []byte, expected uint64) (uint64, error) {
	if expected == 0 {
		return 0, fmt.Errorf("update %s/%s: expected revision 0: %w", k.bucket, key, ErrRevisionMismatch)
	}
	rev, err := k.kv.Update(ctx, key, value, expected)
	if err != nil {
		return 0, fmt.Errorf("update %s/%s at revision %d: %w", k.bucket, key, expected, mapErr(err))
	}
	return rev, nil
}

// Delete deletes key. If expected is not 0, only when the key's current
// revision is expected; otherwise it fails with an error wrapping
// ErrRevisionMismatch. Deleting a missing key with expected 0 succeeds.
// Earlier revisions stay in History until the bucket's history limit.
func (k *KV) Delete(ctx context.Context, key string, expected uint64) error {
	var opts []jetstream.KVDeleteOpt
	if expected != 0 {
		opts = append(opts, jetstream.LastRevision(expected))
	}
	if err := k.kv.Delete(ctx, key, opts...); err != nil {
		return fmt.Errorf("delete %s/%s at revision %d: %w", k.bucket, key, expected, mapErr(err))
	}
	return nil
}

// List returns the current value of every key matching pattern, sorted by
// key. Pattern is a NATS subject pattern over keys ("distribution.>"); empty
// means every key.
func (k *KV) List(ctx context.Context, pattern string) ([]Entry, error) {
	if pattern == "" {
		pattern = jetstream.AllKeys
	}
	w, err := k.kv.Watch(ctx, pattern, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", k.bucket, pattern, err)
	}
	defer w.Stop()
	var out []Entry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("list %s/%s: watcher closed", k.bucket, pattern)
			}
			if e == nil { // all current values delivered
				slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
				return out, nil
			}
			out = append(out, entryOf(e))
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s/%s: %w", k.bucket, pattern, ctx.Err())
		}
	}
}

// History returns the revisions of key the bucket still keeps, oldest first,
// deletes included, or an error wrapping ErrNotFound.
func (k *KV) History(ctx context.Context, key string) ([]Entry, error) {
	es, err := k.kv.History(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("history %s/%s: %w", k.bucket, key, mapErr(err))
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = entryOf(e)
	}
	return out, nil
}

// Watch delivers changes to the keys matching pattern (empty: every key) in
// revision order until ctx is done, then closes the channel.
//
// With after == 0 it first delivers the current value of each key (and a
// delete for keys deleted but still in history), then one OpSynced entry,
// then every change as it happens. With after > 0 it delivers every change
// with a revision greater than after that the bucket still keeps (an edge
// catching up from its last applied revision), then OpSynced, then live
// changes. Across a NATS reconnect (or server restart on the same store) it
// resumes after the last revision it delivered: no repeats, and every key's
// latest state arrives (intermediate revisions beyond ConfigHistory may not).
// If the server came back with a new bucket (an empty store), it sends
// OpReset and starts again from the new bucket's beginning.
// If the channel closes while ctx is not done, the connection was closed.
func (k *KV) Watch(ctx context.Context, pattern string, after uint64) (<-chan Entry, error) {
	if pattern == "" {
		pattern = jetstream.AllKeys
	}
	reconnected := k.conn.reconnects()
	w, err := k.watch(ctx, pattern, after)
	if err != nil {
		return nil, fmt.Errorf("watch %s/%s: %w", k.bucket, pattern, err)
	}
	// The bucket's creation time tells it from a new one of the same name
	// after a reconnect; unknown (zero), only revisions going back do.
	born, _, _ := k.identity(ctx)
	out := make(chan Entry)
	go k.relay(ctx, pattern, w, reconnected, after, born, out)
	return out, nil
}

// identity returns when the bucket's stream was created and its last
// revision.
func (k *KV) identity(ctx context.Context) (time.Time, uint64, error) {
	st, err := k.conn.js.Stream(ctx, "KV_"+k.bucket)
	if err != nil {
		return time.Time{}, 0, err
	}
	info := st.CachedInfo()
	return info.Created, info.State.LastSeq, nil
}

func (k *KV) watch(ctx context.Context, pattern string, after uint64) (jetstream.KeyWatcher, error) {
	if after == 0 {
		return k.kv.Watch(ctx, pattern)
	}
	return k.kv.Watch(ctx, pattern, jetstream.ResumeFromRevision(after+1))
}

// stopWatcher stops w and waits for its channel to close. Its delivery
// callback may be blocked sending on that channel while holding the lock the
// close needs, so the channel must be drained or both hang.
func stopWatcher(w jetstream.KeyWatcher) {
	w.Stop()
	for range w.Updates() {
	}
}

// relay copies w's entries to out, tracking the last revision delivered.
//
// After a reconnect, the JetStream watcher notices that its consumer is gone
// (the server restarted) only when two idle heartbeats, 10 s, are missed.
// relay does not wait: at every reconnect it replaces the watcher with one
// that starts after the last revision it delivered, so nothing is lost or
// repeated, and OpSynced is still sent once. Resuming in a new bucket
// (created after born, or whose revisions have not reached the last one
// delivered) would skip its first revisions: relay sends OpReset instead
// and starts it from the beginning, with OpSynced again once its state is
// delivered.
func (k *KV) relay(ctx context.Context, pattern string, w jetstream.KeyWatcher, reconnected <-chan struct{}, last uint64, born time.Time, out chan<- Entry) {
	defer close(out)
	synced := false
	for {
		var e Entry
		select {
		case je, ok := <-w.Updates():
			if !ok {
				return // the connection was closed
			}
			if je == nil {
				if synced {
					continue
				}
				synced = true
				e = Entry{Op: OpSynced}
			} else {
				e = entryOf(je)
			}
		case <-reconnected:
			stopWatcher(w)
			reconnected = k.conn.reconnects()
			reset := false
			for attempt := 1; ; attempt++ {
				from := last
				created, lastSeq, err := k.identity(ctx)
				if err == nil {
					reset = !born.IsZero() && !created.Equal(born) || lastSeq < last
					born = created
					if reset {
						from = 0
					}
					w, err = k.watch(ctx, pattern, from)
				}
				if err == nil {
					break
				}
				if k.conn.nc.IsClosed() {
					return
				}
				// JetStream may still be recovering its store after a restart.
				select {
				case <-time.After(reconnectDelay(attempt)):
				case <-ctx.Done():
					return
				}
			}
			if !reset {
				continue
			}
			last, synced = 0, false
			e = Entry{Op: OpReset}
		case <-ctx.Done():
			stopWatcher(w)
			return
		}
		select {
		case out <- e:
			if e.Op != OpSynced {
				last = e.Revision
			}
		case <-ctx.Done():
			stopWatcher(w)
			return
		}
	}
}

// TierSecretKey is the config bucket key of the secret the nodes of one
// control plane sign their tier-to-tier requests with (tier.AuthHeader).
const TierSecretKey = "tier.secret"

// TierSecret returns the nodes' tier secret from the config bucket,
// making it on first use: whichever node or control plane asks first
// creates it, and every other reads that one.
func TierSecret(ctx context.Context, kv *KV) ([]byte, error) {
	for range 3 {
		e, err := kv.Get(ctx, TierSecretKey)
		if err == nil && len(e.Value) > 0 {
			return e.Value, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tier secret: %w", err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("tier secret: %w", err)
		}
		secret := []byte(hex.EncodeToString(raw))
		if _, err := kv.Create(ctx, TierSecretKey, secret); err == nil {
			return secret, nil
		} else if !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("tier secret: %w", err)
		}
	}
	return nil, errors.New("tier secret: created and deleted while read")
}
