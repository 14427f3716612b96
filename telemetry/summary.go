package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Summary is a node's running totals since it started, sent with its
// heartbeats so that the control plane shows each edge's traffic without
// scraping it. Rates come from the difference between two heartbeats.
type Summary struct {
	// Requests is every viewer request served; Hits those answered from
	// cache (Hit and RefreshHit); Errors those answered with a 5xx.
	Requests uint64 `json:"requests"`
	Hits     uint64 `json:"hits"`
	Errors   uint64 `json:"errors"`
	// BytesOut is what viewers were sent, headers included.
	BytesOut uint64 `json:"bytes_out"`
	// OriginRequests is every request to an origin (or to another tier).
	OriginRequests uint64 `json:"origin_requests"`
	// CacheBytes is what the cache tiers hold.
	CacheBytes uint64 `json:"cache_bytes"`
}

// Summarize adds up the tern_* totals g holds (a node's registry).
func Summarize(g prometheus.Gatherer) (Summary, error) {
	var s Summary
	mfs, err := g.Gather()
	if err != nil {
		return s, err
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "tern_requests_total":
				v := uint64(m.GetCounter().GetValue())
				s.Requests += v
				for _, l := range m.GetLabel() {
					switch {
					case l.GetName() == "result_type" && (l.GetValue() == ResultHit || l.GetValue() == ResultRefreshHit):
						s.Hits += v
					case l.GetName() == "status_class" && l.GetValue() == "5xx":
						s.Errors += v
					}
				}
			case "tern_response_bytes_total":
				s.BytesOut += uint64(m.GetCounter().GetValue())
			case "tern_origin_requests_total":
				s.OriginRequests += uint64(m.GetCounter().GetValue())
			case "tern_cache_bytes":
				s.CacheBytes += uint64(m.GetGauge().GetValue())
			}
		}
	}
	return s, nil
}
