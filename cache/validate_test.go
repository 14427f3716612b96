package cache

import (
	"reflect"
	"testing"
	"time"
)

func TestValidatorRequestHeaders(t *testing.T) {
	lm := httpDate(t0.Add(-time.Hour))
	tests := []struct {
		name   string
		stored Header
		want   Header
	}{
		{"ETag and Last-Modified §4.3.1", hdr("ETag", `"v1"`, "Last-Modified", lm), hdr("If-None-Match", `"v1"`, "If-Modified-Since", lm)},
		{"weak ETag sent as is §4.3.1", hdr("ETag", `W/"v1"`), hdr("If-None-Match", `W/"v1"`)},
		{"Last-Modified only §4.3.1", hdr("Last-Modified", lm), hdr("If-Modified-Since", lm)},
		{"no validators", hdr("Content-Type", "text/plain"), Header{}},
	}
	for _, tt := range tests {
		out := Header{}
		ValidatorRequestHeaders(&Object{Header: tt.stored}, out)
		if !reflect.DeepEqual(out, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, out, tt.want)
		}
	}
}

func TestSelects(t *testing.T) {
	lm := httpDate(t0.Add(-time.Hour))
	tests := []struct {
		name            string
		stored, resp304 Header
		want            bool
	}{
		{"same strong ETag §4.3.4", hdr("ETag", `"a"`), hdr("ETag", `"a"`), true},
		{"different strong ETag §4.3.4", hdr("ETag", `"a"`), hdr("ETag", `"b"`), false},
		{"strong 304 ETag, weak stored §4.3.4", hdr("ETag", `W/"a"`), hdr("ETag", `"a"`), false},
		{"weak 304 ETag matches weakly §4.3.4", hdr("ETag", `"a"`), hdr("ETag", `W/"a"`), true},
		{"304 ETag, stored none", hdr(), hdr("ETag", `"a"`), false},
		{"same Last-Modified §4.3.4", hdr("Last-Modified", lm), hdr("Last-Modified", lm), true},
		{"different Last-Modified §4.3.4", hdr("Last-Modified", lm), hdr("Last-Modified", httpDate(t0)), false},
		{"304 without validators answers our request", hdr("ETag", `"a"`), hdr("Date", httpDate(t0)), true},
	}
	for _, tt := range tests {
		if got := Selects(&Object{Header: tt.stored}, tt.resp304); got != tt.want {
			t.Errorf("%s: Selects = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUpdatedHeader(t *testing.T) {
	stored := hdr("Cache-Control", "max-age=60", "Content-Length", "100", "Content-Encoding", "gzip",
		"Age", "50", "X-Old", "a", "ETag", `"x"`, "Date", httpDate(t0.Add(-time.Hour)))
	resp304 := hdr("Cache-Control", "max-age=120", "Content-Length", "0", "Content-Encoding", "br",
		"Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "Date", httpDate(t0), "X-New", "b",
		"Content-Range", "bytes 0-1/100")
	got := UpdatedHeader(stored, resp304)
	want := hdr("Cache-Control", "max-age=120", "Content-Length", "100", "Content-Encoding", "gzip",
		"X-Old", "a", "ETag", `"x"`, "Date", httpDate(t0), "X-New", "b")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UpdatedHeader (RFC 9111 §4.3.4)\n got %v\nwant %v", got, want)
	}
	if stored.Get("Cache-Control") != "max-age=60" || stored.Get("Age") != "50" {
		t.Errorf("UpdatedHeader changed the stored header: %v", stored)
	}

	// private="..." in the new Cache-Control strips that field (§5.2.2.7).
	got = UpdatedHeader(hdr("X-User", "bob"), hdr("Cache-Control", `private="X-User", max-age=5`))
	if _, ok := got["X-User"]; ok {
		t.Errorf("UpdatedHeader kept a private field: %v", got)
	}
}

func TestUpdated(t *testing.T) {
	body := []byte("hello")
	o := &Object{
		Status: 200, Header: hdr("ETag", `"v1"`, "Cache-Control", "max-age=60"), Body: body,
		RequestTime: t0.Add(-time.Hour), ResponseTime: t0.Add(-time.Hour), InitialAge: 30 * time.Second,
		Freshness: Freshness{Storable: true, Lifetime: time.Minute},
	}
	sent := t0.Add(-time.Second)
	resp304 := hdr("ETag", `"v1"`, "Cache-Control", "max-age=300", "Date", httpDate(t0), "Age", "7")
	f := Evaluate(RequestFacts{Method: "GET", Header: Header{}}, o.Status, UpdatedHeader(o.Header, resp304), TTLPolicy{MaxTTL: time.Hour}, t0)
	n := Updated(o, resp304, sent, t0, f)
	if n == nil {
		t.Fatal("Updated returned nil for a 304 with the stored ETag (RFC 9111 §4.3.4)")
	}
	if n == o || &n.Body[0] != &o.Body[0] {
		t.Error("Updated must return a new Object sharing the body")
	}
	if n.Header.Get("Cache-Control") != "max-age=300" || n.Freshness.Lifetime != 5*time.Minute {
		t.Errorf("Updated header %v freshness %+v, want max-age=300 and 5m", n.Header, n.Freshness)
	}
	if n.RequestTime != sent || n.ResponseTime != t0 || n.InitialAge != 8*time.Second {
		t.Errorf("Updated times: request %v response %v initial age %v, want %v %v 8s", n.RequestTime, n.ResponseTime, n.InitialAge, sent, t0)
	}
	if o.Header.Get("Cache-Control") != "max-age=60" || o.Freshness.Lifetime != time.Minute || o.InitialAge != 30*time.Second {
		t.Errorf("Updated changed the old object: %+v", o)
	}
	if got := Updated(o, hdr("ETag", `"v2"`), sent, t0, f); got != nil {
		t.Errorf("Updated with another strong ETag = %+v, want nil (RFC 9111 §4.3.4)", got)
	}
}
