package cache

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTakeTags(t *testing.T) {
	long := strings.Repeat("x", MaxTagLen+1)
	cases := []struct {
		name    string
		h       Header
		want    []string
		dropped int
		present bool
	}{
		{"none", Header{"Content-Type": {"text/plain"}}, nil, 0, false},
		{"surrogate-key", Header{"Surrogate-Key": {"  b a\tc  "}}, []string{"a", "b", "c"}, 0, true},
		{"cache-tag", Header{"Cache-Tag": {"b, a,,c ", "d"}}, []string{"a", "b", "c", "d"}, 0, true},
		{"both, duplicates", Header{"Surrogate-Key": {"a b"}, "Cache-Tag": {"b,c"}}, []string{"a", "b", "c"}, 0, true},
		{"malformed dropped", Header{"Surrogate-Key": {"ok a,b " + long + " caf\xc3\xa9"}}, []string{"ok"}, 3, true},
		{"empty field", Header{"Cache-Tag": {""}}, nil, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tags, dropped, present := TakeTags(c.h)
			if !reflect.DeepEqual(tags, c.want) || dropped != c.dropped || present != c.present {
				t.Errorf("TakeTags = %q, %d dropped, present %v; want %q, %d, %v", tags, dropped, present, c.want, c.dropped, c.present)
			}
			if _, ok := c.h["Surrogate-Key"]; ok {
				t.Error("Surrogate-Key left in the header")
			}
			if _, ok := c.h["Cache-Tag"]; ok {
				t.Error("Cache-Tag left in the header")
			}
		})
	}
}

func TestTakeTagsBoundsTotal(t *testing.T) {
	var tags []string
	for i := range 40 {
		tags = append(tags, strings.Repeat(string(rune('A'+i%26)), 1000)+string(rune('a'+i/26)))
	}
	h := Header{"Surrogate-Key": {strings.Join(tags, " ")}}
	got, dropped, _ := TakeTags(h)
	total := 0
	for _, t := range got {
		total += len(t) + 1
	}
	if total > MaxTagBytes || len(got)+dropped != 40 || len(got) != MaxTagBytes/1002 {
		t.Errorf("kept %d tags (%d bytes), dropped %d; want at most %d bytes, %d kept", len(got), total, dropped, MaxTagBytes, MaxTagBytes/1002)
	}
}

func TestValidateTag(t *testing.T) {
	for _, ok := range []string{"a", "product-42", "a:b/c_d.e", strings.Repeat("x", MaxTagLen)} {
		if err := ValidateTag(ok); err != nil {
			t.Errorf("ValidateTag(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a,b", "tab\t", strings.Repeat("x", MaxTagLen+1), "caf\xc3\xa9"} {
		if err := ValidateTag(bad); err == nil {
			t.Errorf("ValidateTag(%q) = nil, want an error", bad)
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Now()
	o := &Object{Status: 200, ResponseTime: now.Add(-10 * time.Second),
		Freshness: Freshness{Storable: true, Lifetime: time.Hour, StaleWhileRevalidate: time.Minute}}
	e := Expired(o, now)
	if e == nil || e.FreshFor(now) > 0 || o.FreshFor(now) <= 0 {
		t.Fatalf("Expired: fresh for %v (original %v), want stale now and the original untouched", e.FreshFor(now), o.FreshFor(now))
	}
	if u := e.Usability(now.Add(time.Second), Directives{MaxAge: Absent, MinFresh: Absent, MaxStale: Absent, StaleIfError: Absent}); u != StaleWhileRevalidate {
		t.Errorf("a second after a soft purge: %v, want StaleWhileRevalidate (its window runs from the purge)", u)
	}
	if Expired(e, now) != nil {
		t.Error("Expired of a stale object is not nil")
	}
	if Expired(&Object{Vary: []string{"accept"}, ResponseTime: now, Freshness: Freshness{Lifetime: time.Hour}}, now) != nil {
		t.Error("a vary marker was expired")
	}
}
