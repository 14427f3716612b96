package control

import (
	"slices"
	"testing"
)

func TestParseIfMatch(t *testing.T) {
	for _, c := range []struct {
		in      string
		any     bool
		revs    []uint64
		wantErr bool
	}{
		{in: `"42"`, revs: []uint64{42}},
		{in: ` "42" `, revs: []uint64{42}},
		{in: `42`, revs: []uint64{42}},
		{in: `*`, any: true},
		{in: `"7", "42"`, revs: []uint64{7, 42}},
		{in: `"7",W/"8","9"`, revs: []uint64{7, 9}},
		{in: `W/"42"`}, // weak: never matches
		{in: `"abc"`},  // not a revision: matches nothing
		{in: `"0"`},    // no revision is 0
		{in: `"a,b", "3"`, revs: []uint64{3}},
		{in: ``, wantErr: true},
		{in: `,`, wantErr: true},
		{in: `"42`, wantErr: true},
		{in: `abc`, wantErr: true},
		{in: `"4"2`, wantErr: true},
		{in: `W/42`, wantErr: true},
		{in: `-1`, wantErr: true},
	} {
		m, err := parseIfMatch(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("parseIfMatch(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err == nil && (m.any != c.any || !slices.Equal(m.revisions, c.revs)) {
			t.Errorf("parseIfMatch(%q) = %+v, want any=%v revisions=%v", c.in, m, c.any, c.revs)
		}
	}
}

func TestNoneMatchHit(t *testing.T) {
	for _, c := range []struct {
		in   string
		rev  uint64
		want bool
	}{
		{`"5"`, 5, true},
		{`W/"5"`, 5, true}, // weak comparison
		{`"4", "5"`, 5, true},
		{`*`, 5, true},
		{`"4"`, 5, false},
		{`5`, 5, false},
		{`"55"`, 5, false},
	} {
		if got := noneMatchHit(c.in, c.rev); got != c.want {
			t.Errorf("noneMatchHit(%q, %d) = %v, want %v", c.in, c.rev, got, c.want)
		}
	}
}

func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{`"1"`, `*`, `W/"2", "3"`, `4`, `"`, `W/`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseIfMatch(v)
		if err != nil {
			return
		}
		if m.any && len(m.revisions) > 0 {
			t.Fatalf("%q: both * and tags", v)
		}
		for _, r := range m.revisions {
			if r == 0 || !m.matches(r) {
				t.Fatalf("%q: revision %d", v, r)
			}
		}
	})
}
