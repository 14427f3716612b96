package edge

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/terncdn/tern/tier"
)

// TestTierHeadersNeedTheSecret: with the control plane's secret set, the
// nodes' own tier requests are signed and honoured (a POP still fetches
// each object once), while a viewer's Tern-Tier header, unsigned or signed
// with another secret, is a viewer's request: no 508 for a chain naming
// the node, no fence held (and, as tags go only to a parsed hop, no cache
// tags handed out).
func TestTierHeadersNeedTheSecret(t *testing.T) {
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
	members.Set(a.member(), b.member())
	for _, n := range []*tierNode{a, b} {
		n.srv.SetTierSecret([]byte("the control plane's"))
	}
	const objects = 20
	for i := range objects {
		for _, n := range []*tierNode{a, b} {
			p := fmt.Sprintf("/obj/%d", i)
			if resp, body := fetchVia(t, n.url(p)); resp.StatusCode != 200 || !bytes.Equal(body, objectBody(p)) {
				t.Fatalf("%s at %s: %d %q", p, n.id, resp.StatusCode, resp.Header.Get(HeaderError))
			}
		}
	}
	checkOnce(t, o, objects)

	forged := map[string][]string{
		"unsigned":     {tier.Header, "peer; chain=fra-2"},
		"other secret": {tier.Header, "peer; chain=fra-2", tier.AuthHeader, tier.Sign([]byte("guess"), "peer; chain=fra-2", "GET", b.addr, "/obj/1", time.Now())},
		"fenced":       {tier.Header, "peer; chain=x; fence=999999"},
	}
	for name, hdr := range forged {
		resp, body := fetchVia(t, b.url("/obj/1"), hdr...)
		if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/obj/1")) {
			t.Errorf("%s: %d %q, want the object as any viewer gets it", name, resp.StatusCode, resp.Header.Get(HeaderError))
		}
	}
	// Signed by a node, the same chain is a loop.
	v := "peer; chain=fra-2"
	resp, _ := fetchVia(t, b.url("/obj/1"), tier.Header, v,
		tier.AuthHeader, tier.Sign([]byte("the control plane's"), v, http.MethodGet, b.addr, "/obj/1", time.Now()))
	if resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("a signed chain naming the node: %d, want 508", resp.StatusCode)
	}
	if _, _, _, th := o.counts(); th != 0 {
		t.Errorf("%d origin requests carried %s", th, tier.Header)
	}
}
