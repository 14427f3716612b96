package loadstat

import (
	"errors"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	var a, b Tally
	a.Good(3 * time.Millisecond)
	a.Bytes = 10
	a.See("HTTP/2.0")
	b.Fail(errors.New("first"))
	b.Fail(errors.New("second"))
	b.Good(1 * time.Millisecond)
	b.Bytes = 5
	b.See("HTTP/2.0")
	r := Merge(time.Second, &a, &b)
	if r.OK != 2 || r.Errors != 2 || r.Bytes != 15 || r.Seen["HTTP/2.0"] != 2 || r.FirstErr.Error() != "first" {
		t.Errorf("merged %+v", r)
	}
	if r.Latencies[0] != time.Millisecond || r.Latencies[1] != 3*time.Millisecond {
		t.Errorf("latencies %v, want sorted", r.Latencies)
	}
	want := "RESULT requests=2 bytes=15 duration_us=1000000 p50_us=1000 p99_us=3000 max_us=3000 errors=2"
	if got := r.Line(); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 99) != 0 {
		t.Error("p99 of nothing is not 0")
	}
}
