package edge

import "testing"

// BenchmarkDistributionFor is the host → distribution lookup every request
// makes: an exact alias, a wildcard alias, the catch-all (an alias miss,
// as BenchmarkServeHit's host is), and a generated name ("dfbae041b" is
// the generated label of a distribution with id "site"; here no
// distribution has it, so it falls to the catch-all after the label is
// tried).
func BenchmarkDistributionFor(b *testing.B) {
	rt := newTestServer(b, "http://127.0.0.1:1", "").routes.Load()
	for _, host := range []string{"www.example.com", "a.img.example.com", "bench.test", "dfbae041b.cdn.example"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rt.distributionFor(host) == nil {
					b.Fatal("no distribution")
				}
			}
		})
	}
}
