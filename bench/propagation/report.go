package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// percentile is the nearest-rank percentile p (0 < p <= 100) of ds: with
// 50 samples, p99 is the largest.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// print writes the results as a table.
func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "edges: %d, rounds: %d\n\n", r.Edges, r.Rounds)
	fmt.Fprintf(w, "setup: control plane %v; edges connected, consumers created, caught up %v "+
		"(one consumer: p50 %v, p99 %v); all alive, and the control plane listening for GoneAfter, %v after the edges started\n\n",
		ms(r.ControlStart), ms(r.EdgesStart), ms(percentile(r.ConsumerCreate, 50)),
		ms(percentile(r.ConsumerCreate, 99)), ms(r.AllAlive))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Labels padded by hand stay left-aligned among right-aligned numbers.
	const label = "%-56s"
	fmt.Fprintf(tw, label+"\tsamples\tp50\tp99\tmax\t\n", "from the API call until")
	row := func(what string, ds []time.Duration) {
		fmt.Fprintf(tw, label+"\t%d\t%v\t%v\t%v\t\n", what, len(ds), ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(percentile(ds, 100)))
	}
	row("config change: API answered", r.ConfigAPI)
	row("config change: every edge applied", r.ConfigAll)
	row("config change: one edge applied (each edge, each round)", r.ConfigEach)
	row("purge: API answered", r.PurgeAPI)
	row("purge: every edge applied", r.PurgeAll)
	row("purge: Completed", r.PurgeCompleted)
	row("purge: one edge applied (each edge, each round)", r.PurgeEach)
	row("purge: from the last edge applying it until Completed", r.PurgeSettle)
	tw.Flush()
}

// ms rounds d for reading: tenths of a millisecond.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
