// Package loadstat counts the answers of the bench load clients
// (bench/handshake, bench/protoload): each worker keeps a Tally of its
// own, and Merge sums them into a Result whose RESULT line bench/run.sh
// reads.
package loadstat

import (
	"fmt"
	"slices"
	"time"
)

// Tally is one worker's count.
type Tally struct {
	OK, Errors int
	Bytes      int64
	Latencies  []time.Duration // of the good answers
	// Seen counts labels of the answers, e.g. "HTTP/3.0" or
	// "version=TLSv1.3".
	Seen     map[string]int
	FirstErr error
}

// Fail counts a wrong answer, keeping the first error.
func (t *Tally) Fail(err error) {
	t.Errors++
	if t.FirstErr == nil {
		t.FirstErr = err
	}
}

// Good counts a right answer that took d.
func (t *Tally) Good(d time.Duration) {
	t.OK++
	t.Latencies = append(t.Latencies, d)
}

// See counts one answer with label.
func (t *Tally) See(label string) {
	if t.Seen == nil {
		t.Seen = map[string]int{}
	}
	t.Seen[label]++
}

// Result is the workers' tallies summed over a run that took Elapsed;
// its Latencies are sorted and its FirstErr is the first worker's.
type Result struct {
	Tally
	Elapsed time.Duration
}

// Merge sums tallies.
func Merge(elapsed time.Duration, tallies ...*Tally) *Result {
	r := &Result{Elapsed: elapsed}
	r.Seen = map[string]int{}
	for _, t := range tallies {
		r.OK += t.OK
		r.Errors += t.Errors
		r.Bytes += t.Bytes
		r.Latencies = append(r.Latencies, t.Latencies...)
		for k, v := range t.Seen {
			r.Seen[k] += v
		}
		if r.FirstErr == nil {
			r.FirstErr = t.FirstErr
		}
	}
	slices.Sort(r.Latencies)
	return r
}

// Percentile is the nearest-rank percentile of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Line is the RESULT line bench/run.sh parses.
func (r *Result) Line() string {
	var maxLat time.Duration
	if len(r.Latencies) > 0 {
		maxLat = r.Latencies[len(r.Latencies)-1]
	}
	return fmt.Sprintf("RESULT requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d",
		r.OK, r.Bytes, r.Elapsed.Microseconds(), Percentile(r.Latencies, 50).Microseconds(),
		Percentile(r.Latencies, 99).Microseconds(), maxLat.Microseconds(), r.Errors)
}
