package telemetry

import "github.com/prometheus/client_golang/prometheus"

// protocols are the protocol label values of tern_viewer_protocol_requests_total:
// the HTTP versions viewers speak, and "other" for anything else, so that
// the number of series is fixed.
var protocols = [...]string{"HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0", "other"}

func protocolIndex(proto string) int {
	for i, p := range protocols[:len(protocols)-1] {
		if p == proto {
			return i
		}
	}
	return len(protocols) - 1
}

// protocolCounters count viewer requests by HTTP version, resolved once.
type protocolCounters [len(protocols)]prometheus.Counter

func newProtocolCounters(reg prometheus.Registerer) *protocolCounters {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tern_viewer_protocol_requests_total",
		Help: "Viewer requests, by HTTP version (HTTP/1.1, HTTP/2.0, HTTP/3.0; cs-protocol-version).",
	}, []string{"protocol"})
	reg.MustRegister(v)
	var c protocolCounters
	for i, p := range protocols {
		c[i] = v.WithLabelValues(p)
	}
	return &c
}
