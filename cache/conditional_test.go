package cache

import (
	"reflect"
	"testing"
	"time"
)

func TestEvaluateConditional(t *testing.T) {
	lm := t0.Add(-time.Hour)
	stored := hdr("ETag", `"v1"`, "Last-Modified", httpDate(lm))
	weakStored := hdr("ETag", `W/"v1"`)
	tests := []struct {
		name   string
		method string
		req    Header
		stored Header
		status int
		want   int
	}{
		{"no conditions", "GET", hdr(), stored, 200, 0},
		{"If-None-Match matches §13.1.2", "GET", hdr("If-None-Match", `"v1"`), stored, 200, 304},
		{"If-None-Match weak comparison §13.1.2", "GET", hdr("If-None-Match", `W/"v1"`), stored, 200, 304},
		{"If-None-Match weak stored §13.1.2", "GET", hdr("If-None-Match", `"v1"`), weakStored, 200, 304},
		{"If-None-Match list §13.1.2", "HEAD", hdr("If-None-Match", `"a", "v1"`), stored, 200, 304},
		{"If-None-Match list across lines", "GET", hdr("If-None-Match", `"a"`, "If-None-Match", `"v1"`), stored, 200, 304},
		{"If-None-Match with comma in tag", "GET", hdr("If-None-Match", `"a,b", "v1"`), stored, 200, 304},
		{"If-None-Match star §13.1.2", "GET", hdr("If-None-Match", "*"), stored, 200, 304},
		{"If-None-Match no match §13.1.2", "GET", hdr("If-None-Match", `"v2"`), stored, 200, 0},
		{"If-None-Match on unsafe method is 412 §13.1.2", "POST", hdr("If-None-Match", `"v1"`), stored, 200, 412},
		{"If-None-Match beats If-Modified-Since §13.2.2", "GET", hdr("If-None-Match", `"v2"`, "If-Modified-Since", httpDate(t0)), stored, 200, 0},
		{"If-Modified-Since not modified §13.1.3", "GET", hdr("If-Modified-Since", httpDate(lm)), stored, 200, 304},
		{"If-Modified-Since later §13.1.3", "GET", hdr("If-Modified-Since", httpDate(t0)), stored, 200, 304},
		{"If-Modified-Since modified §13.1.3", "GET", hdr("If-Modified-Since", httpDate(lm.Add(-time.Second))), stored, 200, 0},
		{"If-Modified-Since invalid ignored §13.1.3", "GET", hdr("If-Modified-Since", "yesterday"), stored, 200, 0},
		{"If-Modified-Since without Last-Modified ignored §13.1.3", "GET", hdr("If-Modified-Since", httpDate(t0)), weakStored, 200, 0},
		{"If-Modified-Since not for POST §13.1.3", "POST", hdr("If-Modified-Since", httpDate(t0)), stored, 200, 0},
		{"If-Match strong match §13.1.1", "GET", hdr("If-Match", `"v1"`), stored, 200, 0},
		{"If-Match mismatch §13.1.1", "GET", hdr("If-Match", `"v2"`), stored, 200, 412},
		{"If-Match weak tag fails strong comparison §13.1.1", "GET", hdr("If-Match", `W/"v1"`), stored, 200, 412},
		{"If-Match star §13.1.1", "GET", hdr("If-Match", "*"), stored, 200, 0},
		{"If-Match beats If-None-Match §13.2.2", "GET", hdr("If-Match", `"v2"`, "If-None-Match", `"v1"`), stored, 200, 412},
		{"If-Unmodified-Since modified §13.1.4", "GET", hdr("If-Unmodified-Since", httpDate(lm.Add(-time.Second))), stored, 200, 412},
		{"If-Unmodified-Since unmodified §13.1.4", "GET", hdr("If-Unmodified-Since", httpDate(lm)), stored, 200, 0},
		{"If-Unmodified-Since ignored with If-Match §13.1.4", "GET", hdr("If-Match", `"v1"`, "If-Unmodified-Since", httpDate(lm.Add(-time.Second))), stored, 200, 0},
		{"non-2xx ignores preconditions §13.2.1", "GET", hdr("If-None-Match", `"v1"`), stored, 404, 0},
	}
	for _, tt := range tests {
		if got := EvaluateConditional(tt.method, tt.req, tt.stored, tt.status); got != tt.want {
			t.Errorf("%s: EvaluateConditional = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestNotModifiedHeader(t *testing.T) {
	lm := httpDate(t0.Add(-time.Hour))
	full := hdr("Cache-Control", "max-age=60", "Content-Location", "/a", "Date", httpDate(t0), "ETag", `"v1"`,
		"Expires", httpDate(t0), "Vary", "Accept-Encoding", "Last-Modified", lm, "Content-Type", "text/html",
		"Content-Length", "100", "Set-Cookie", "a=b")
	tests := []struct {
		name   string
		stored Header
		want   Header
	}{
		{"§15.4.5 fields, no Last-Modified with ETag", full, hdr("Cache-Control", "max-age=60", "Content-Location", "/a",
			"Date", httpDate(t0), "ETag", `"v1"`, "Expires", httpDate(t0), "Vary", "Accept-Encoding")},
		{"Last-Modified without ETag §15.4.5", hdr("Last-Modified", lm, "Content-Type", "text/html"), hdr("Last-Modified", lm)},
	}
	for _, tt := range tests {
		out := Header{}
		NotModifiedHeader(tt.stored, out)
		if !reflect.DeepEqual(out, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, out, tt.want)
		}
	}
}
