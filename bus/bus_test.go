package bus

import (
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"eu-west", true},
		{"E2QWRUHAPOMQZL", true},
		{"node_3=a", true},
		{"", false},
		{"eu.west", false}, // would split into two tokens
		{"*", false},
		{">", false},
		{"a b", false},
		{"café", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		if got := ValidToken(tt.in); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSubjects(t *testing.T) {
	if got, want := HeartbeatSubject("eu-west", "n1"), "tern.heartbeats.eu-west.n1"; got != want {
		t.Errorf("HeartbeatSubject = %q, want %q", got, want)
	}
	if got := InvalidationSubject("E2QW"); !subjectMatches(InvalidationsSubjects, got) {
		t.Errorf("InvalidationSubject %q is outside the stream's subjects %q", got, InvalidationsSubjects)
	}
	// Acks must not land in the invalidations stream.
	if subjectMatches(InvalidationsSubjects, InvalidationAcksPrefix+"I1") {
		t.Errorf("acks subject %q is captured by the stream's %q", InvalidationAcksPrefix+"I1", InvalidationsSubjects)
	}
	if !subjectMatches(HeartbeatsPrefix+">", HeartbeatSubject("p", "n")) {
		t.Error("heartbeat subject outside HeartbeatsPrefix")
	}
}

// subjectMatches reports whether subject matches a NATS pattern ending in
// ">" (the only wildcard these tests need).
func subjectMatches(pattern, subject string) bool {
	prefix, ok := strings.CutSuffix(pattern, ">")
	return ok && strings.HasPrefix(subject, prefix) && len(subject) > len(prefix)
}
