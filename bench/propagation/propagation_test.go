package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestPropagationSmoke runs the benchmark small: every change must reach
// every edge and every invalidation be Completed; the figures are not
// judged.
func TestPropagationSmoke(t *testing.T) {
	o := defaultOptions()
	o.Edges, o.Rounds = 20, 3
	o.SetupTimeout = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		got  []time.Duration
		want int
	}{
		{"config: every edge", res.ConfigAll, o.Rounds},
		{"config: each edge", res.ConfigEach, o.Rounds * o.Edges},
		{"purge: every edge", res.PurgeAll, o.Rounds},
		{"purge: each edge", res.PurgeEach, o.Rounds * o.Edges},
		{"purge: Completed", res.PurgeCompleted, o.Rounds},
		{"consumers created", res.ConsumerCreate, o.Edges},
	} {
		if len(c.got) != c.want {
			t.Errorf("%s: %d samples, want %d", c.what, len(c.got), c.want)
		}
		for _, d := range c.got {
			if d <= 0 {
				t.Errorf("%s: sample %v, want a positive duration", c.what, d)
				break
			}
		}
	}
	var out bytes.Buffer
	res.print(&out)
	if !strings.Contains(out.String(), "purge: Completed") || !strings.Contains(out.String(), "edges: 20") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(ds[:50], 99); got != 100 {
		t.Errorf("p99 of 50 samples = %v, want the largest", got)
	}
}
