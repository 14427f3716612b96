package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// InvalidationsBucket is the KV bucket of invalidation records (status,
// acknowledgements), one key per invalidation: its id.
const InvalidationsBucket = "tern_invalidations"

// InvalidationsMaxAge is how long the stream keeps an invalidation: an edge
// away longer than this cannot replay what it missed, and starts with an
// empty cache (invalidations.Follower.CatchUp).
const InvalidationsMaxAge = 7 * 24 * time.Hour

// Invalidation is one invalidation request, as published on
// InvalidationSubject(Distribution) in InvalidationsStream.
type Invalidation struct {
	ID           string   `json:"id"`
	Distribution string   `json:"distribution"`
	Paths        []string `json:"paths"`
	// Tags are cache tags: every object the origin tagged with one of them
	// (Surrogate-Key, Cache-Tag) is invalidated.
	Tags []string `json:"tags,omitempty"`
	// Mode is PurgeHard (also when empty: invalidations published before
	// modes existed) or PurgeSoft.
	Mode    string    `json:"mode,omitempty"`
	Created time.Time `json:"created"`
}

// Invalidation modes: a hard purge removes the objects; a soft purge marks
// them stale, so that the next request revalidates them with the origin
// (and stale-while-revalidate or stale-if-error may still serve them).
const (
	PurgeHard = "hard"
	PurgeSoft = "soft"
)

// InvalidationAck is an edge's acknowledgement of one invalidation, on
// InvalidationAcksPrefix + ID: it has applied every path and tag to its
// cache.
type InvalidationAck struct {
	ID   string `json:"id"`
	Node string `json:"node"`
	POP  string `json:"pop"`
}

// EnsureInvalidations creates the invalidations stream and the bucket of
// their records, with file storage, or updates their settings. It is
// idempotent.
func (c *Conn) EnsureInvalidations(ctx context.Context, o BucketOptions) error {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        InvalidationsStream,
		Description: "Tern invalidation requests, in order; edges replay what they missed",
		Subjects:    []string{InvalidationsSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      InvalidationsMaxAge,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", InvalidationsStream, err)
	}
	_, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      InvalidationsBucket,
		Description: "Tern invalidation records: paths, status, acknowledgements",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		TTL:         InvalidationsMaxAge,
	})
	if err != nil {
		return fmt.Errorf("ensure KV bucket %s: %w", InvalidationsBucket, err)
	}
	return nil
}

// EdgeConsumer is the name of the durable consumer of InvalidationsStream
// that keeps edge node's place in it. Consumer names take no ".", so "_"
// escapes: one name per node id ("edge.1" and "edge_1" are two edges).
func EdgeConsumer(node string) string {
	return "edge-" + consumerEscaper.Replace(node)
}

var consumerEscaper = strings.NewReplacer("_", "__", ".", "_d", "*", "_s", ">", "_g")
