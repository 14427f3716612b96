package cache

import (
	"testing"
	"time"
)

func TestInitialAge(t *testing.T) {
	sent := t0.Add(-2 * time.Second) // request_time; t0 is response_time
	tests := []struct {
		name string
		resp Header
		want time.Duration
	}{
		{"no Date or Age: response delay §4.2.3", hdr(), 2 * time.Second},
		{"apparent age from Date §4.2.3", hdr("Date", httpDate(t0.Add(-10*time.Second))), 10 * time.Second},
		{"Age plus response delay §4.2.3", hdr("Age", "100", "Date", httpDate(t0)), 102 * time.Second},
		{"larger of apparent and corrected age §4.2.3", hdr("Age", "5", "Date", httpDate(t0.Add(-60*time.Second))), 60 * time.Second},
		{"Date in the future: apparent age 0 §4.2.3", hdr("Date", httpDate(t0.Add(time.Hour))), 2 * time.Second},
		{"invalid Age ignored §5.1", hdr("Age", "abc"), 2 * time.Second},
		{"negative Age ignored §5.1", hdr("Age", "-30"), 2 * time.Second},
		{"list Age uses first member §5.1", hdr("Age", "30, 40"), 32 * time.Second},
		{"huge Age clamps to 2^31 §1.2.2", hdr("Age", "999999999999999"), maxDelta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InitialAge(tt.resp, sent, t0); got != tt.want {
				t.Errorf("InitialAge(%v) = %v, want %v", tt.resp, got, tt.want)
			}
		})
	}
}

func TestCurrentAgeAndFreshFor(t *testing.T) {
	o := &Object{ResponseTime: t0, InitialAge: 10 * time.Second, Freshness: Freshness{Storable: true, Lifetime: time.Minute}}
	tests := []struct {
		now           time.Time
		age, freshFor time.Duration
	}{
		{t0, 10 * time.Second, 50 * time.Second},
		{t0.Add(20 * time.Second), 30 * time.Second, 30 * time.Second},
		{t0.Add(80 * time.Second), 90 * time.Second, -30 * time.Second},
		{t0.Add(-time.Hour), 10 * time.Second, 50 * time.Second}, // clock went back: resident time 0
	}
	for _, tt := range tests {
		if got := o.CurrentAge(tt.now); got != tt.age {
			t.Errorf("CurrentAge(%v) = %v, want %v (RFC 9111 §4.2.3)", tt.now, got, tt.age)
		}
		if got := o.FreshFor(tt.now); got != tt.freshFor {
			t.Errorf("FreshFor(%v) = %v, want %v (RFC 9111 §4.2)", tt.now, got, tt.freshFor)
		}
	}
}

func TestUsability(t *testing.T) {
	// base: 60s lifetime, age 0 at t0.
	base := Freshness{Storable: true, Lifetime: time.Minute}
	with := func(f func(*Freshness)) Freshness { c := base; f(&c); return c }
	req := func(f func(*Directives)) Directives { d := emptyDirectives; f(&d); return d }
	none := emptyDirectives

	tests := []struct {
		name string
		f    Freshness
		age  time.Duration // elapsed since t0
		req  Directives
		want Usability
	}{
		{"fresh §4.2", base, 30 * time.Second, none, Fresh},
		{"exactly at lifetime is stale §4.2", base, 60 * time.Second, none, MustValidate},
		{"stale §4.2", base, 90 * time.Second, none, MustValidate},
		{"stale-while-revalidate RFC 5861 §3", with(func(f *Freshness) { f.StaleWhileRevalidate = time.Minute }), 90 * time.Second, none, StaleWhileRevalidate},
		{"past swr, within stale-if-error RFC 5861 §4", with(func(f *Freshness) { f.StaleWhileRevalidate = 10 * time.Second; f.StaleIfError = time.Hour }), 90 * time.Second, none, StaleIfError},
		{"past every window", with(func(f *Freshness) { f.StaleWhileRevalidate = 10 * time.Second; f.StaleIfError = 20 * time.Second }), 2 * time.Minute, none, MustValidate},
		{"must-revalidate beats swr §5.2.2.2", with(func(f *Freshness) { f.StaleWhileRevalidate = time.Minute; f.MustRevalidate = true }), 90 * time.Second, none, MustValidate},
		{"response no-cache §5.2.2.4", with(func(f *Freshness) { f.NoCache = true }), 0, none, MustValidate},
		{"request no-cache §5.2.1.4", base, 0, req(func(d *Directives) { d.NoCache = true }), MustValidate},
		{"request max-age exceeded §5.2.1.1", base, 30 * time.Second, req(func(d *Directives) { d.MaxAge = 10 * time.Second }), MustValidate},
		{"request max-age met §5.2.1.1", base, 5 * time.Second, req(func(d *Directives) { d.MaxAge = 10 * time.Second }), Fresh},
		{"request max-age=0 §5.2.1.1", base, time.Second, req(func(d *Directives) { d.MaxAge = 0 }), MustValidate},
		{"request min-fresh unmet §5.2.1.3", base, 30 * time.Second, req(func(d *Directives) { d.MinFresh = 40 * time.Second }), MustValidate},
		{"request min-fresh met §5.2.1.3", base, 10 * time.Second, req(func(d *Directives) { d.MinFresh = 40 * time.Second }), Fresh},
		{"request max-stale accepts staleness §5.2.1.2", base, 90 * time.Second, req(func(d *Directives) { d.MaxStale = time.Minute }), Fresh},
		{"request max-stale too small §5.2.1.2", base, 3 * time.Minute, req(func(d *Directives) { d.MaxStale = time.Minute }), MustValidate},
		{"request max-stale any §5.2.1.2", base, 100 * time.Hour, req(func(d *Directives) { d.MaxStaleAny = true }), Fresh},
		{"max-stale does not beat must-revalidate §5.2.2.2", with(func(f *Freshness) { f.MustRevalidate = true }), 90 * time.Second, req(func(d *Directives) { d.MaxStaleAny = true }), MustValidate},
		{"request stale-if-error RFC 5861 §4", base, 90 * time.Second, req(func(d *Directives) { d.StaleIfError = time.Minute }), StaleIfError},
		{"zero lifetime always validates", with(func(f *Freshness) { f.Lifetime = 0 }), 0, none, MustValidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Object{ResponseTime: t0, Freshness: tt.f}
			if got := o.Usability(t0.Add(tt.age), tt.req); got != tt.want {
				t.Errorf("Usability = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAgeHeaderValue(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want string
	}{
		{-5 * time.Second, "0"},
		{0, "0"},
		{1900 * time.Millisecond, "1"},
		{700 * time.Second, "700"},
		{1 << 62, "2147483648"}, // RFC 9111 §5.1: clamp at 2^31
	}
	for _, tt := range tests {
		if got := AgeHeaderValue(tt.age); got != tt.want {
			t.Errorf("AgeHeaderValue(%v) = %q, want %q (RFC 9111 §5.1)", tt.age, got, tt.want)
		}
	}
}

func BenchmarkUsability(b *testing.B) {
	o := &Object{ResponseTime: t0, InitialAge: time.Second, Freshness: Freshness{
		Storable: true, Lifetime: time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: time.Hour,
	}}
	req := ParseCacheControl([]string{"max-age=3600"})
	now := t0.Add(90 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if o.Usability(now, req) != StaleWhileRevalidate {
			b.Fatal("unexpected usability")
		}
	}
}
