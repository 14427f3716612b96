package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSummarize: the heartbeat totals add up what the node's metrics
// counted, hits being Hit and RefreshHit, errors the 5xx answers.
func TestSummarize(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "n1", "p1")
	for _, r := range []Record{
		{Distribution: "a", Status: 200, EdgeResultType: ResultHit, ScBytes: 100},
		{Distribution: "a", Status: 200, EdgeResultType: ResultRefreshHit, ScBytes: 100},
		{Distribution: "b", Status: 200, EdgeResultType: ResultMiss, ScBytes: 1000},
		{Distribution: "b", Status: 502, EdgeResultType: ResultError, ScBytes: 10},
	} {
		m.Observe(&r)
	}
	m.ObserveOrigin("b", "o", 200, 0)
	m.ObserveOrigin("b", "o", 502, 0)
	if err := RegisterCacheTiers(m.Registerer(), func() []TierStats {
		return []TierStats{{Tier: "memory", Bytes: 4096}, {Tier: "disk0", Bytes: 1 << 20}}
	}); err != nil {
		t.Fatal(err)
	}
	s, err := Summarize(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Requests: 4, Hits: 2, Errors: 1, BytesOut: 1210, OriginRequests: 2, CacheBytes: 4096 + 1<<20}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
}
