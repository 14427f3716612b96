// Package bus is Tern's NATS layer: an embedded NATS server with a JetStream
// file store, client connections that reconnect forever, the config KV bucket
// with revision-checked writes and ordered watches, and the subject names the
// control plane and the edges share.
package bus

import "strings"

// Subjects and streams. Every name starts with "tern." so a NATS account
// shared with other software can permit Tern exactly its own subjects.
const (
	// InvalidationsStream is the JetStream stream of invalidation requests.
	// An edge applies them in stream order and, after being away, replays
	// from the last sequence it applied.
	InvalidationsStream = "TERN_INVALIDATIONS"
	// InvalidationsSubjects is the subject filter of InvalidationsStream;
	// the control plane publishes on InvalidationSubject(distribution).
	InvalidationsSubjects = "tern.invalidations.>"
	// InvalidationAcksPrefix starts the plain subject on which an edge
	// acknowledges one invalidation: InvalidationAcksPrefix + invalidation
	// ID. Not part of the stream.
	InvalidationAcksPrefix = "tern.invalidation-acks."
	// HeartbeatsPrefix starts an edge's heartbeat subject,
	// HeartbeatSubject(pop, node); the control plane subscribes to
	// HeartbeatsPrefix + ">".
	HeartbeatsPrefix = "tern.heartbeats."
	// MetricsPrefix starts an edge's summary-metrics subject, laid out like
	// heartbeats: MetricsPrefix + pop + "." + node.
	MetricsPrefix = "tern.metrics."
	// LogsPrefix starts an edge's log-batch subject, laid out like
	// heartbeats: LogsPrefix + pop + "." + node.
	LogsPrefix = "tern.logs."
)

// InvalidationSubject is the subject an invalidation of distribution is
// published on. distribution must be a ValidToken.
func InvalidationSubject(distribution string) string {
	return "tern.invalidations." + distribution
}

// HeartbeatSubject is the subject edge node in POP pop sends heartbeats on.
// pop and node must be ValidTokens.
func HeartbeatSubject(pop, node string) string {
	return HeartbeatsPrefix + pop + "." + node
}

// ValidToken reports whether s can be one token of a subject or KV key:
// non-empty, and only letters, digits, '-', '_' and '='. Config validation
// uses it for distribution IDs, POP names and node IDs, which become tokens.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '=')
	}) < 0
}
