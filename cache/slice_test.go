package cache

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseRangeSpec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want RangeSpec
		ok   bool
	}{
		{"bytes=0-99", RangeSpec{First: 0, Last: 99}, true},
		{"bytes=100-", RangeSpec{First: 100, Last: -1}, true},
		{"bytes=-500", RangeSpec{Suffix: 500}, true},
		{"Bytes = 5-5 ", RangeSpec{First: 5, Last: 5}, true},
		{"bytes=-0", RangeSpec{}, false},
		{"bytes=5-4", RangeSpec{}, false},
		{"bytes=0-1,5-6", RangeSpec{}, false},
		{"items=0-1", RangeSpec{}, false},
		{"bytes=a-b", RangeSpec{}, false},
		{"bytes=", RangeSpec{}, false},
		{"", RangeSpec{}, false},
	} {
		got, ok := ParseRangeSpec(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseRangeSpec(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestRangeSpecResolve(t *testing.T) {
	for _, c := range []struct {
		spec RangeSpec
		size int64
		want ByteRange
		ok   bool
	}{
		{RangeSpec{First: 0, Last: 99}, 50, ByteRange{0, 49}, true},
		{RangeSpec{First: 10, Last: -1}, 50, ByteRange{10, 49}, true},
		{RangeSpec{First: 50, Last: -1}, 50, ByteRange{}, false},
		{RangeSpec{Suffix: 10}, 50, ByteRange{40, 49}, true},
		{RangeSpec{Suffix: 100}, 50, ByteRange{0, 49}, true},
		{RangeSpec{Suffix: 1}, 0, ByteRange{}, false},
	} {
		got, ok := c.spec.Resolve(c.size)
		if ok != c.ok || got != c.want {
			t.Errorf("%+v.Resolve(%d) = %v, %v; want %v, %v", c.spec, c.size, got, ok, c.want, c.ok)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in    string
		rg    ByteRange
		size  int64
		valid bool
	}{
		{"bytes 0-99/1000", ByteRange{0, 99}, 1000, true},
		{"bytes 999-999/1000", ByteRange{999, 999}, 1000, true},
		{"BYTES 5-9/10", ByteRange{5, 9}, 10, true},
		{"bytes 0-99/*", ByteRange{}, 0, false}, // unknown length
		{"bytes */1000", ByteRange{}, 0, false}, // unsatisfied
		{"bytes 0-1000/1000", ByteRange{}, 0, false},
		{"bytes 9-5/10", ByteRange{}, 0, false},
		{"bytes 0-9", ByteRange{}, 0, false},
		{"items 0-9/10", ByteRange{}, 0, false},
		{"bytes -1-9/10", ByteRange{}, 0, false},
		{"", ByteRange{}, 0, false},
	} {
		rg, size, err := ParseContentRange(c.in)
		if (err == nil) != c.valid || rg != c.rg || size != c.size {
			t.Errorf("ParseContentRange(%q) = %v, %d, %v", c.in, rg, size, err)
		}
		if err != nil && !errors.Is(err, ErrContentRange) {
			t.Errorf("ParseContentRange(%q): error %v is not ErrContentRange", c.in, err)
		}
	}
}

func TestSameRepresentation(t *testing.T) {
	h := func(kv ...string) Header {
		out := Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	const lm = "Thu, 01 Jan 2026 00:00:00 GMT"
	const later = "Thu, 01 Jan 2026 00:01:00 GMT" // 60 s on: lm is strong
	const soon = "Thu, 01 Jan 2026 00:00:59 GMT"  // 59 s on: lm is weak
	for _, c := range []struct {
		a, b Header
		want bool
	}{
		{h("Etag", `"a"`), h("Etag", `"a"`), true},
		{h("Etag", `"a"`), h("Etag", `"b"`), false},
		{h("Etag", `W/"a"`), h("Etag", `W/"a"`), false}, // weak: never combined
		{h("Etag", `"a"`, "Last-Modified", lm), h("Etag", `"a"`), true},
		{h("Last-Modified", lm, "Date", later), h("Last-Modified", lm, "Date", later), true},
		{h("Last-Modified", lm, "Date", soon), h("Last-Modified", lm, "Date", later), false},
		{h("Last-Modified", lm), h("Last-Modified", lm), false}, // no Date: weak
		{h("Last-Modified", lm, "Date", later), h("Last-Modified", lm, "Etag", `"a"`, "Date", later), false},
		{h(), h(), false},
	} {
		if got := SameRepresentation(c.a, c.b); got != c.want {
			t.Errorf("SameRepresentation(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/1000", "bytes */5", "bytes 1-2/*", "bytes 99999999999999999999-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rg, size, err := ParseContentRange(s)
		if err != nil {
			return
		}
		if rg.Start < 0 || rg.End < rg.Start || rg.End >= size {
			t.Fatalf("%q parsed to %v of %d", s, rg, size)
		}
		if back := fmt.Sprintf("bytes %d-%d/%d", rg.Start, rg.End, size); back != s {
			if again, size2, err := ParseContentRange(back); err != nil || again != rg || size2 != size {
				t.Fatalf("%q → %q does not parse back", s, back)
			}
		}
	})
}

func FuzzParseRangeSpec(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=7-", "bytes=1-2,3-4"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		spec, ok := ParseRangeSpec(s)
		if !ok || size < 0 {
			return
		}
		rg, ok := spec.Resolve(size)
		if !ok {
			return
		}
		if rg.Start < 0 || rg.End < rg.Start || rg.End >= size {
			t.Fatalf("%q of %d resolved to %v", s, size, rg)
		}
		// What ParseRange makes of the same field agrees.
		if all, err := ParseRange(s, size); err != nil || len(all) != 1 || all[0] != rg {
			t.Fatalf("%q of %d: ParseRangeSpec %v, ParseRange %v %v", s, size, rg, all, err)
		}
	})
}
