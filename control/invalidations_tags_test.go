package control

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestInvalidationRequestsByTagAndMode: the API takes tags and a mode next
// to paths, refuses a bad one with 400 naming its field, and lists what it
// took.
func TestInvalidationRequestsByTagAndMode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, store, iv := newTracker(t, ctx)
	h, err := API(store, "tok", WithInvalidations(iv))
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, body string) (int, string) {
		req := httptest.NewRequest(method, "/api/v1/distributions/site/invalidations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	long := strings.Repeat("t", 1025)
	for _, c := range []struct {
		body     string
		want     int
		mentions string
	}{
		{`{"tags":["product-42"]}`, 201, ""},
		{`{"paths":["/a"],"tags":["x","y"],"mode":"soft"}`, 201, ""},
		{`{"paths":["/a"],"mode":"hard"}`, 201, ""},
		{`{}`, 400, "at least one path or tag"},
		{`{"paths":[],"tags":[]}`, 400, "at least one path or tag"},
		{`{"tags":["ok","a b"]}`, 400, "tags[1]"},
		{`{"tags":["a,b"]}`, 400, "tags[0]"},
		{`{"tags":[""]}`, 400, "tags[0]"},
		{`{"tags":["` + long + `"]}`, 400, "tags[0]"},
		{`{"paths":["/ok","nope"]}`, 400, "paths[1]"},
		{`{"paths":["/a"],"mode":"gentle"}`, 400, "mode"},
		{`{"tags":["a"],"kind":"x"}`, 400, "kind"},
	} {
		code, body := call("POST", c.body)
		if code != c.want || !strings.Contains(body, c.mentions) {
			t.Errorf("POST %s: %d %s, want %d naming %q", c.body, code, body, c.want, c.mentions)
		}
	}
	code, body := call("GET", "")
	var list struct{ Invalidations []Invalidation }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Invalidations) != 3 {
		t.Fatalf("GET: %d %s", code, body)
	}
	var modes []string
	for _, inv := range list.Invalidations {
		modes = append(modes, inv.Mode+":"+strings.Join(inv.Paths, ",")+":"+strings.Join(inv.Tags, ","))
	}
	slices.Sort(modes)
	if want := []string{"hard:/a:", "hard::product-42", "soft:/a:x,y"}; !slices.Equal(modes, want) {
		t.Errorf("listed %q, want %q", modes, want)
	}
}
