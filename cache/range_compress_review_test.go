package cache

import "testing"

// TestIfRangeDateNeedsStrongETag: a date in If-Range does not hold for a
// response whose entity tag is weak (a compressed copy's), even when it
// equals a Last-Modified that is otherwise strong.
func TestIfRangeDateNeedsStrongETag(t *testing.T) {
	lm := "Mon, 01 Dec 2026 10:00:00 GMT"
	h := Header{"Last-Modified": {lm}, "Date": {"Mon, 01 Dec 2026 12:00:00 GMT"}}
	if !IfRangeAllows(lm, h) {
		t.Fatal("no ETag: the date should hold")
	}
	h["Etag"] = []string{`"v1"`}
	if !IfRangeAllows(lm, h) {
		t.Error("strong ETag: the date should hold")
	}
	h["Etag"] = []string{`W/"v1"`}
	if IfRangeAllows(lm, h) {
		t.Error("weak ETag: the date held")
	}
}
