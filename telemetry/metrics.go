package telemetry

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status classes, as the status_class label spells them. "000" is a viewer
// that left before any response (CloudFront's sc-status 000); "other" is
// any status outside 100-599.
var statusClasses = [...]string{"000", "1xx", "2xx", "3xx", "4xx", "5xx", "other"}

func statusClass(status int) int {
	switch {
	case status == 0:
		return 0
	case status >= 100 && status <= 599:
		return status / 100
	default:
		return len(statusClasses) - 1
	}
}

// resultTypes are the result_type label values: the x-edge-result-type
// values and "Other" for anything else, so a bad value cannot grow the
// number of series.
var resultTypes = [...]string{
	ResultHit, ResultRefreshHit, ResultMiss, ResultLimitExceeded,
	ResultCapacityExceeded, ResultError, ResultRedirect, "Other",
}

func resultIndex(s string) int {
	switch s {
	case ResultHit:
		return 0
	case ResultRefreshHit:
		return 1
	case ResultMiss:
		return 2
	case ResultLimitExceeded:
		return 3
	case ResultCapacityExceeded:
		return 4
	case ResultError:
		return 5
	case ResultRedirect:
		return 6
	default:
		return len(resultTypes) - 1
	}
}

// OriginLatencyBuckets are the bucket bounds, in seconds, of the origin
// latency histogram: 1ms to 30s.
var OriginLatencyBuckets = []float64{
	.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30,
}

// Metrics holds an edge's request and origin metrics, all named tern_* and
// labelled with the node and POP they come from.
//
// The methods are safe for concurrent use. Each resolves its label children
// once per label set and keeps them, so that after the first request of a
// distribution, Observe costs a read-locked map lookup and no allocation.
type Metrics struct {
	reg prometheus.Registerer

	requests      *prometheus.CounterVec
	responseBytes *prometheus.CounterVec
	requestBytes  *prometheus.CounterVec
	collapsed     *prometheus.CounterVec
	originLatency *prometheus.HistogramVec
	originReqs    *prometheus.CounterVec
	originErrs    *prometheus.CounterVec
	upstream      *prometheus.CounterVec
	tierFailures  *prometheus.CounterVec
	protocols     *protocolCounters // by ProtocolVersion (protocol.go)

	mu         sync.RWMutex
	dists      map[string]*distChildren
	origins    map[originKey]*originChildren
	originErrC map[originErrKey]prometheus.Counter
}

// distChildren are one distribution's resolved counters. requests fills in
// lazily, under Metrics.mu.
type distChildren struct {
	responseBytes, requestBytes, collapsed prometheus.Counter
	requests                               [len(statusClasses)][len(resultTypes)]prometheus.Counter
}

type originKey struct{ distribution, origin string }

type originChildren struct {
	latency  prometheus.Observer
	requests [len(statusClasses)]prometheus.Counter
}

type originErrKey struct{ distribution, origin, kind string }

// NewMetrics creates the metrics and registers them with reg, with node and
// pop as constant labels. It panics if they are already registered there,
// as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer, nodeID, pop string) *Metrics {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": nodeID, "pop": pop}, reg)
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_requests_total",
			Help: "Viewer requests served, by distribution, status class and x-edge-result-type.",
		}, []string{"distribution", "status_class", "result_type"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_response_bytes_total",
			Help: "Bytes sent to viewers, headers included (sc-bytes).",
		}, []string{"distribution"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_request_bytes_total",
			Help: "Bytes received from viewers, headers included (cs-bytes).",
		}, []string{"distribution"}),
		collapsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_collapsed_requests_total",
			Help: "Viewer requests that joined an origin fetch already in flight instead of starting one.",
		}, []string{"distribution"}),
		originLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tern_origin_request_duration_seconds",
			Help:    "Time from sending an origin request to receiving its response head.",
			Buckets: OriginLatencyBuckets,
		}, []string{"distribution", "origin"}),
		originReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_origin_requests_total",
			Help: "Origin requests, by status class (000: no response).",
		}, []string{"distribution", "origin", "status_class"}),
		originErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_origin_errors_total",
			Help: "Failed origin requests, by kind (an x-edge-detailed-result-type Origin* value).",
		}, []string{"distribution", "origin", "kind"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_upstream_fetches_total",
			Help: "Fetches for misses and revalidations, by the upstream that answered: peer (the object's owner in this POP), shield or origin.",
		}, []string{"distribution", "upstream"}),
		tierFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tern_tier_failures_total",
			Help: "Peer or shield fetches that failed and fell through to the next node or the origin.",
		}, []string{"distribution", "upstream"}),
		dists:      make(map[string]*distChildren),
		origins:    make(map[originKey]*originChildren),
		originErrC: make(map[originErrKey]prometheus.Counter),
	}
	reg.MustRegister(m.requests, m.responseBytes, m.requestBytes, m.collapsed,
		m.originLatency, m.originReqs, m.originErrs, m.upstream, m.tierFailures)
	m.protocols = newProtocolCounters(reg)
	return m
}

// Registerer returns the registerer the metrics were registered with, with
// the node and pop labels applied: register other per-node collectors
// (RegisterCacheGauges, RegisterAccessLogCounters) through it.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Observe accounts for one served request: tern_requests_total,
// tern_response_bytes_total and tern_request_bytes_total. It is on the
// request path and does not allocate once the distribution has been seen.
func (m *Metrics) Observe(r *Record) {
	cls, res := statusClass(r.Status), resultIndex(r.EdgeResultType)
	m.mu.RLock()
	d := m.dists[r.Distribution]
	var c prometheus.Counter
	if d != nil {
		c = d.requests[cls][res]
	}
	m.mu.RUnlock()
	if c == nil {
		d, c = m.resolveRequests(r.Distribution, cls, res)
	}
	c.Inc()
	m.protocols[protocolIndex(r.ProtocolVersion)].Inc()
	if r.ScBytes > 0 {
		d.responseBytes.Add(float64(r.ScBytes))
	}
	if r.CsBytes > 0 {
		d.requestBytes.Add(float64(r.CsBytes))
	}
}

// dist returns the children of distribution, creating them if needed;
// m.mu must be held for writing.
func (m *Metrics) dist(distribution string) *distChildren {
	d := m.dists[distribution]
	if d == nil {
		d = &distChildren{
			responseBytes: m.responseBytes.WithLabelValues(distribution),
			requestBytes:  m.requestBytes.WithLabelValues(distribution),
			collapsed:     m.collapsed.WithLabelValues(distribution),
		}
		m.dists[distribution] = d
	}
	return d
}

func (m *Metrics) resolveRequests(distribution string, cls, res int) (*distChildren, prometheus.Counter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dist(distribution)
	c := d.requests[cls][res]
	if c == nil {
		c = m.requests.WithLabelValues(distribution, statusClasses[cls], resultTypes[res])
		d.requests[cls][res] = c
	}
	return d, c
}

// ObserveCollapsed counts a viewer request that joined an origin fetch
// already in flight for the same cache key.
func (m *Metrics) ObserveCollapsed(distribution string) {
	m.mu.RLock()
	d := m.dists[distribution]
	m.mu.RUnlock()
	if d == nil {
		m.mu.Lock()
		d = m.dist(distribution)
		m.mu.Unlock()
	}
	d.collapsed.Inc()
}

// ObserveOrigin accounts for one origin request: its latency d (until the
// response head arrived) and its status; status 0 means no response came
// back (count the reason with ObserveOriginError).
func (m *Metrics) ObserveOrigin(distribution, origin string, status int, d time.Duration) {
	k := originKey{distribution, origin}
	cls := statusClass(status)
	m.mu.RLock()
	o := m.origins[k]
	var c prometheus.Counter
	if o != nil {
		c = o.requests[cls]
	}
	m.mu.RUnlock()
	if c == nil {
		o, c = m.resolveOrigin(k, cls)
	}
	o.latency.Observe(d.Seconds())
	c.Inc()
}

func (m *Metrics) resolveOrigin(k originKey, cls int) (*originChildren, prometheus.Counter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.origins[k]
	if o == nil {
		o = &originChildren{latency: m.originLatency.WithLabelValues(k.distribution, k.origin)}
		m.origins[k] = o
	}
	if o.requests[cls] == nil {
		o.requests[cls] = m.originReqs.WithLabelValues(k.distribution, k.origin, statusClasses[cls])
	}
	return o, o.requests[cls]
}

// ObserveOriginError counts a failed origin request by kind, one of the
// Detailed* constants that name origin failures (DetailedOriginConnectError,
// DetailedOriginDNSError, DetailedOriginCommError, ...). Kinds become label
// values: pass constants, never error strings.
func (m *Metrics) ObserveOriginError(distribution, origin, kind string) {
	k := originErrKey{distribution, origin, kind}
	m.mu.RLock()
	c := m.originErrC[k]
	m.mu.RUnlock()
	if c == nil {
		m.mu.Lock()
		if c = m.originErrC[k]; c == nil {
			c = m.originErrs.WithLabelValues(distribution, origin, kind)
			m.originErrC[k] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// Upstreams a fetch goes to (the upstream label).
const (
	UpstreamPeer   = "peer"
	UpstreamShield = "shield"
	UpstreamOrigin = "origin"
)

// ObserveUpstream counts one fetch answered by upstream (UpstreamPeer,
// UpstreamShield or UpstreamOrigin).
func (m *Metrics) ObserveUpstream(distribution, upstream string) {
	m.upstream.WithLabelValues(distribution, upstream).Inc()
}

// ObserveTierFailure counts one peer or shield fetch that failed, so the
// fetch fell through to the next node or the origin.
func (m *Metrics) ObserveTierFailure(distribution, upstream string) {
	m.tierFailures.WithLabelValues(distribution, upstream).Inc()
}

// TierStats is one cache tier as the metrics show it.
type TierStats struct {
	// Tier names it: "memory", "disk0", "disk1", ...
	Tier                    string
	Objects                 int
	Bytes, Capacity         int64
	Hits, Evictions         uint64
	ChecksumFailures        uint64 // disk tiers
	Admitted, Rejected      uint64 // disk tiers' admission policy
	WriteErrors, QueueDrops uint64 // disk tiers
}

// RegisterCacheTiers reports the cache tiers that tiers returns at each
// scrape: tern_cache_objects, tern_cache_bytes, tern_cache_capacity_bytes,
// and the counters tern_cache_hits_total, tern_cache_evictions_total,
// tern_cache_checksum_failures_total, tern_cache_admissions_total{decision},
// tern_cache_write_errors_total and tern_cache_write_queue_drops_total,
// each with a tier label.
func RegisterCacheTiers(reg prometheus.Registerer, tiers func() []TierStats) error {
	return register(reg, "cache", []prometheus.Collector{tierCollector(tiers)})
}

type tierCollector func() []TierStats

var (
	tierObjects   = prometheus.NewDesc("tern_cache_objects", "Objects held in a cache tier.", []string{"tier"}, nil)
	tierBytes     = prometheus.NewDesc("tern_cache_bytes", "Bytes held in a cache tier (sum of object sizes).", []string{"tier"}, nil)
	tierCapacity  = prometheus.NewDesc("tern_cache_capacity_bytes", "The most a cache tier holds.", []string{"tier"}, nil)
	tierHits      = prometheus.NewDesc("tern_cache_hits_total", "Lookups answered by a cache tier.", []string{"tier"}, nil)
	tierEvictions = prometheus.NewDesc("tern_cache_evictions_total", "Objects evicted from a cache tier to make room.", []string{"tier"}, nil)
	tierChecksum  = prometheus.NewDesc("tern_cache_checksum_failures_total", "Stored objects dropped because their checksum did not match.", []string{"tier"}, nil)
	tierAdmission = prometheus.NewDesc("tern_cache_admissions_total", "Admission decisions of a disk tier.", []string{"tier", "decision"}, nil)
	tierWriteErr  = prometheus.NewDesc("tern_cache_write_errors_total", "Failed writes to a disk tier.", []string{"tier"}, nil)
	tierDrops     = prometheus.NewDesc("tern_cache_write_queue_drops_total", "Objects not written to a disk tier because its write queue was full.", []string{"tier"}, nil)
)

func (t tierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tierObjects, tierBytes, tierCapacity, tierHits, tierEvictions, tierChecksum, tierAdmission, tierWriteErr, tierDrops} {
		ch <- d
	}
}

func (t tierCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range t() {
		g := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{s.Tier}, labels...)...)
		}
		c := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{s.Tier}, labels...)...)
		}
		g(tierObjects, float64(s.Objects))
		g(tierBytes, float64(s.Bytes))
		g(tierCapacity, float64(s.Capacity))
		c(tierHits, s.Hits)
		c(tierEvictions, s.Evictions)
		c(tierChecksum, s.ChecksumFailures)
		c(tierAdmission, s.Admitted, "admitted")
		c(tierAdmission, s.Rejected, "rejected")
		c(tierWriteErr, s.WriteErrors)
		c(tierDrops, s.QueueDrops)
	}
}

// RegisterAccessLogCounters registers l's drop and write error counts as
// tern_access_log_dropped_total and tern_access_log_write_errors_total.
func RegisterAccessLogCounters(reg prometheus.Registerer, l *AccessLog) error {
	return register(reg, "access log", []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tern_access_log_dropped_total",
			Help: "Access log records dropped because the destination could not keep up.",
		}, func() float64 { return float64(l.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tern_access_log_write_errors_total",
			Help: "Failed writes to the access log destination.",
		}, func() float64 { return float64(l.WriteErrors()) }),
	})
}

func register(reg prometheus.Registerer, what string, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register %s metrics: %w", what, err)
		}
	}
	return nil
}

// Handler serves the metrics gathered from g in the Prometheus exposition
// format, for mounting at /metrics.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
