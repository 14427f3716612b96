package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	srv := httptest.NewServer(Handler(g))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "edge-1", "lhr")
	rec := func(dist string, status int, result string, sc, cs int64) *Record {
		return &Record{Distribution: dist, Status: status, EdgeResultType: result, ScBytes: sc, CsBytes: cs}
	}
	m.Observe(rec("web", 200, ResultHit, 1000, 100))
	m.Observe(rec("web", 200, ResultHit, 500, 50))
	m.Observe(rec("web", 206, ResultMiss, 10, 1))
	m.Observe(rec("web", 404, ResultError, 0, 0))
	m.Observe(rec("web", 0, ResultError, 0, 0))
	m.Observe(rec("web", 200, "Bogus", 0, 0))
	m.Observe(rec("api", 503, ResultCapacityExceeded, 7, 3))

	body := scrape(t, reg)
	for _, want := range []string{
		`tern_requests_total{distribution="web",node="edge-1",pop="lhr",result_type="Hit",status_class="2xx"} 2`,
		`tern_requests_total{distribution="web",node="edge-1",pop="lhr",result_type="Miss",status_class="2xx"} 1`,
		`tern_requests_total{distribution="web",node="edge-1",pop="lhr",result_type="Error",status_class="4xx"} 1`,
		`tern_requests_total{distribution="web",node="edge-1",pop="lhr",result_type="Error",status_class="000"} 1`,
		`tern_requests_total{distribution="web",node="edge-1",pop="lhr",result_type="Other",status_class="2xx"} 1`,
		`tern_requests_total{distribution="api",node="edge-1",pop="lhr",result_type="CapacityExceeded",status_class="5xx"} 1`,
		`tern_response_bytes_total{distribution="web",node="edge-1",pop="lhr"} 1510`,
		`tern_request_bytes_total{distribution="web",node="edge-1",pop="lhr"} 151`,
		`tern_response_bytes_total{distribution="api",node="edge-1",pop="lhr"} 7`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if n := strings.Count(body, "\ntern_requests_total{"); n != 6 {
		t.Errorf("%d tern_requests_total series, want 6", n)
	}
}

func TestStatusClass(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{{0, "000"}, {100, "1xx"}, {204, "2xx"}, {304, "3xx"}, {499, "4xx"}, {599, "5xx"}, {600, "other"}, {-1, "other"}, {42, "other"}} {
		if got := statusClasses[statusClass(tt.status)]; got != tt.want {
			t.Errorf("statusClass(%d) = %s, want %s", tt.status, got, tt.want)
		}
	}
}

func TestMetricsOrigin(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "n", "p")
	m.ObserveOrigin("web", "s3", 200, 3*time.Millisecond)
	m.ObserveOrigin("web", "s3", 200, 40*time.Millisecond)
	m.ObserveOrigin("web", "s3", 502, 20*time.Second)
	m.ObserveOrigin("web", "s3", 0, 31*time.Second)
	m.ObserveOriginError("web", "s3", DetailedOriginConnectError)
	m.ObserveOriginError("web", "s3", DetailedOriginConnectError)
	m.ObserveOriginError("web", "s3", DetailedOriginDNSError)

	if got := testutil.ToFloat64(m.originReqs.WithLabelValues("web", "s3", "2xx")); got != 2 {
		t.Errorf("2xx origin requests = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.originReqs.WithLabelValues("web", "s3", "000")); got != 1 {
		t.Errorf("000 origin requests = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.originErrs.WithLabelValues("web", "s3", DetailedOriginConnectError)); got != 2 {
		t.Errorf("connect errors = %v, want 2", got)
	}
	body := scrape(t, reg)
	for _, want := range []string{
		`tern_origin_request_duration_seconds_bucket{distribution="web",node="n",origin="s3",pop="p",le="0.001"} 0`,
		`tern_origin_request_duration_seconds_bucket{distribution="web",node="n",origin="s3",pop="p",le="0.005"} 1`,
		`tern_origin_request_duration_seconds_bucket{distribution="web",node="n",origin="s3",pop="p",le="0.05"} 2`,
		`tern_origin_request_duration_seconds_bucket{distribution="web",node="n",origin="s3",pop="p",le="30"} 3`,
		`tern_origin_request_duration_seconds_bucket{distribution="web",node="n",origin="s3",pop="p",le="+Inf"} 4`,
		`tern_origin_request_duration_seconds_count{distribution="web",node="n",origin="s3",pop="p"} 4`,
		`tern_origin_errors_total{distribution="web",kind="OriginDnsError",node="n",origin="s3",pop="p"} 1`,
		`tern_origin_requests_total{distribution="web",node="n",origin="s3",pop="p",status_class="5xx"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func TestMetricsCollapsed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "n", "p")
	m.ObserveCollapsed("web")
	m.ObserveCollapsed("web")
	m.Observe(&Record{Distribution: "web", Status: 200, EdgeResultType: ResultMiss})
	m.ObserveCollapsed("web")
	if got := testutil.ToFloat64(m.collapsed.WithLabelValues("web")); got != 3 {
		t.Errorf("collapsed = %v, want 3", got)
	}
}

func TestRegisterCacheTiersAndAccessLog(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "n", "p")
	mem := TierStats{Tier: "memory", Objects: 3, Bytes: 4096, Capacity: 1 << 20, Hits: 1, Evictions: 7}
	disk := TierStats{Tier: "disk0", Objects: 2, ChecksumFailures: 1, Admitted: 4, Rejected: 6, QueueDrops: 2}
	if err := RegisterCacheTiers(m.Registerer(), func() []TierStats { return []TierStats{mem, disk} }); err != nil {
		t.Fatal(err)
	}
	l := NewAccessLog(discard{}, AccessLogOptions{})
	l.Close()
	l.Log(knownRecord()) // dropped: closed
	if err := RegisterAccessLogCounters(m.Registerer(), l); err != nil {
		t.Fatal(err)
	}
	mem.Objects, mem.Bytes, mem.Evictions = 5, 8192, 9 // read at scrape time, not registration time
	body := scrape(t, reg)
	for _, want := range []string{
		`tern_cache_objects{node="n",pop="p",tier="memory"} 5`,
		`tern_cache_bytes{node="n",pop="p",tier="memory"} 8192`,
		`tern_cache_capacity_bytes{node="n",pop="p",tier="memory"} 1.048576e+06`,
		`tern_cache_evictions_total{node="n",pop="p",tier="memory"} 9`,
		`tern_cache_hits_total{node="n",pop="p",tier="memory"} 1`,
		`tern_cache_objects{node="n",pop="p",tier="disk0"} 2`,
		`tern_cache_checksum_failures_total{node="n",pop="p",tier="disk0"} 1`,
		`tern_cache_admissions_total{decision="rejected",node="n",pop="p",tier="disk0"} 6`,
		`tern_cache_write_queue_drops_total{node="n",pop="p",tier="disk0"} 2`,
		`tern_access_log_dropped_total{node="n",pop="p"} 1`,
		`tern_access_log_write_errors_total{node="n",pop="p"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if err := RegisterCacheTiers(m.Registerer(), func() []TierStats { return nil }); err == nil {
		t.Error("registering the cache tiers twice succeeded")
	}
}

func TestNewMetricsTwicePanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg, "n", "p")
	defer func() {
		if recover() == nil {
			t.Error("second NewMetrics on one registry did not panic")
		}
	}()
	NewMetrics(reg, "n", "p")
}

func TestMetricsHotPathNoAllocs(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), "n", "p")
	r := &Record{Distribution: "web", Status: 200, EdgeResultType: ResultHit, ScBytes: 1000, CsBytes: 100}
	m.Observe(r)
	m.ObserveOrigin("web", "o", 200, time.Millisecond)
	m.ObserveCollapsed("web")
	for name, f := range map[string]func(){
		"Observe":          func() { m.Observe(r) },
		"ObserveOrigin":    func() { m.ObserveOrigin("web", "o", 200, time.Millisecond) },
		"ObserveCollapsed": func() { m.ObserveCollapsed("web") },
	} {
		if allocs := testing.AllocsPerRun(200, f); allocs != 0 {
			t.Errorf("%s allocates %.1f times per call once warm", name, allocs)
		}
	}
}

func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), "n", "p")
	r := &Record{Distribution: "web", Status: 200, EdgeResultType: ResultHit, ScBytes: 1000, CsBytes: 100}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(r)
		}
	})
}

func BenchmarkMetricsObserveOrigin(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), "n", "p")
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveOrigin("web", "o", 200, 12*time.Millisecond)
	}
}
