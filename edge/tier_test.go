package edge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// countingOrigin serves a 4000-byte object at every path, with ETag and
// Last-Modified, conditionals and ranges (http.ServeContent), and counts
// what it is asked.
type countingOrigin struct {
	cc string // Cache-Control; default max-age=600

	mu          sync.Mutex
	full        map[string]int // 200s by path
	notModified int
	partial     int
	tierHeaders int // requests that carried Tern-Tier: never
	notFound    int // 404s, for paths starting /missing
}

func newCountingOrigin(t *testing.T) (*countingOrigin, *httptest.Server) {
	o := &countingOrigin{full: map[string]int{}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv
}

func objectBody(path string) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%-40s", path)), 100)
}

var originModTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (o *countingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/missing") {
		o.mu.Lock()
		o.notFound++
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		http.Error(w, "no such object", http.StatusNotFound)
		return
	}
	cc := o.cc
	if cc == "" || strings.HasPrefix(r.URL.Path, "/long/") {
		cc = "public, max-age=600"
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Etag", fmt.Sprintf(`"%x"`, len(r.URL.Path)*7919+int(r.URL.Path[len(r.URL.Path)-1])))
	// Counted as the head goes out: the node asking may have what it
	// needs (a range, the first bytes) before the body is all sent.
	rec := &statusRecorder{ResponseWriter: w, onHead: func(status int) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if _, ok := r.Header[tier.Header]; ok {
			o.tierHeaders++
		}
		switch status {
		case http.StatusOK:
			o.full[r.URL.Path]++
		case http.StatusNotModified:
			o.notModified++
		case http.StatusPartialContent:
			o.partial++
		}
	}}
	http.ServeContent(rec, r, "", originModTime, bytes.NewReader(objectBody(r.URL.Path)))
}

func (o *countingOrigin) counts() (full map[string]int, notModified, partial, tierHeaders int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	full = make(map[string]int, len(o.full))
	for k, v := range o.full {
		full[k] = v
	}
	return full, o.notModified, o.partial, o.tierHeaders
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	onHead func(status int) // if set, called once with the status before the head is sent
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.onHead != nil {
			s.onHead(code)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

// tierNode is one edge on loopback, as another node reaches it.
type tierNode struct {
	id, pop, role string
	srv           *Server
	addr          string
	reg           *prometheus.Registry
	hs            *http.Server
	tierRequests  atomic.Int32 // requests from other nodes (Tern-Tier)
}

func (n *tierNode) url(path string) string { return "http://" + n.addr + path }

// member is n as the membership lists it.
func (n *tierNode) member() tier.Member {
	return tier.Member{NodeID: n.id, POP: n.pop, Role: n.role, Addr: n.addr}
}

// stop closes n's listener and connections: a node that died.
func (n *tierNode) stop() { n.hs.Close() }

type nodeOptions struct {
	role   string // default edge
	shield string // the origin's origin_shield region
	disk   bool
	extra  string // more YAML under the distribution
}

// startTierNode starts an edge on 127.0.0.1:0 in front of originURL,
// fetching through members.
func startTierNode(t *testing.T, id, pop string, originURL string, members tier.Members, o nodeOptions) *tierNode {
	t.Helper()
	if o.role == "" {
		o.role = tier.RoleEdge
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(originURL, "http://"))
	shield := ""
	if o.shield != "" {
		shield = ", origin_shield: {enabled: true, region: " + o.shield + "}"
	}
	yaml := `
edge: {node_id: ` + id + `, pop: ` + pop + `, role: ` + o.role + `, cache: {memory: 64MiB, max_object_size: 1MiB}}
admin: {listen: "off"}
distributions:
  - id: d
    aliases: ["*"]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: ` + port + shield + `}]
    default_cache_behavior: {target_origin_id: o}
` + o.extra
	c, err := config.Parse([]byte(yaml), id)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts := Options{Config: c, Storage: memory.New(64<<20, 1<<20), Tiers: members,
		Metrics: telemetry.NewMetrics(reg, id, pop)}
	if o.disk {
		d, err := disk.Open(disk.Options{Path: t.TempDir(), Size: 256 << 20, SliceSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		ts := tiered.New(memory.New(64<<20, 1<<10), []tiered.Disk{d}, tiered.Options{PromoteMax: 1 << 10, DiskMax: 1 << 40})
		t.Cleanup(func() { ts.Close(); d.Close() })
		opts.Storage, opts.Bodies, opts.BodiesMax, opts.Slices = ts, ts, 1<<30, ts
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	n := &tierNode{id: id, pop: pop, role: o.role, srv: s, addr: ln.Addr().String(), reg: reg}
	n.hs = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[tier.Header]; ok {
			n.tierRequests.Add(1)
		}
		s.ServeHTTP(w, r)
	})}
	go n.hs.Serve(ln)
	t.Cleanup(func() { n.hs.Close(); s.Close() })
	return n
}

// counter sums the samples of a counter whose labels include want.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func upstreamFetches(t *testing.T, nodes []*tierNode, upstream string) int {
	total := 0.0
	for _, n := range nodes {
		total += counter(t, n.reg, "tern_upstream_fetches_total", map[string]string{"upstream": upstream})
	}
	return int(total)
}

// tierTestClient fails a request that hangs (a loop that deadlocks on
// collapsing) instead of the test.
var tierTestClient = &http.Client{Timeout: 10 * time.Second}

// fetchVia fetches url with optional header pairs and returns the response
// with its body read.
func fetchVia(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := tierTestClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return &http.Response{Header: http.Header{}}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("GET %s: body: %v", url, err)
	}
	return resp, body
}

// askAll has every node fetch every object at once, and checks each
// answer.
func askAll(t *testing.T, nodes []*tierNode, objects int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		for i := range objects {
			wg.Go(func() {
				path := fmt.Sprintf("/obj/%d", i)
				resp, body := fetchVia(t, n.url(path))
				if resp.StatusCode != 200 || !bytes.Equal(body, objectBody(path)) {
					t.Errorf("%s %s: %d %q (%d bytes)", n.id, path, resp.StatusCode, resp.Header.Get(HeaderError), len(body))
				}
			})
		}
	}
	wg.Wait()
}

func checkOnce(t *testing.T, o *countingOrigin, objects int) {
	t.Helper()
	full, _, _, tierHeaders := o.counts()
	for i := range objects {
		if got := full[fmt.Sprintf("/obj/%d", i)]; got != 1 {
			t.Errorf("origin served /obj/%d %d times, want once", i, got)
		}
	}
	if tierHeaders != 0 {
		t.Errorf("%d origin requests carried %s", tierHeaders, tier.Header)
	}
}

// TestPOPFetchesEachObjectOnce: three edges of one POP, each asked for the
// same objects at the same time; the origin serves each object once, the
// edges fetch from each other, and every edge then holds every object.
func TestPOPFetchesEachObjectOnce(t *testing.T) {
	const objects = 40
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	var nodes []*tierNode
	for i := range 3 {
		nodes = append(nodes, startTierNode(t, fmt.Sprintf("fra-%d", i), "fra", origin.URL, members, nodeOptions{}))
	}
	members.Set(nodes[0].member(), nodes[1].member(), nodes[2].member())

	askAll(t, nodes, objects)
	checkOnce(t, o, objects)
	if got := upstreamFetches(t, nodes, telemetry.UpstreamOrigin); got != objects {
		t.Errorf("origin fetches counted %d, want %d", got, objects)
	}
	// Each edge fetched the objects it does not own from their owner.
	if got := upstreamFetches(t, nodes, telemetry.UpstreamPeer); got != 2*objects {
		t.Errorf("peer fetches counted %d, want %d", got, 2*objects)
	}
	for _, n := range nodes {
		resp, _ := fetchVia(t, n.url("/obj/7"))
		if resp.Header.Get(HeaderCache) != "Hit from tern" || resp.Header.Get(HeaderPOP) != "fra" {
			t.Errorf("%s: second request X-Cache %q, X-Tern-Pop %q", n.id, resp.Header.Get(HeaderCache), resp.Header.Get(HeaderPOP))
		}
	}
}

// TestShieldFetchesEachObjectOnceForAllPOPs: edges in two POPs, whose
// origin is shielded by the shield nodes of a third; the origin serves
// each object once in all.
func TestShieldFetchesEachObjectOnceForAllPOPs(t *testing.T) {
	const objects = 30
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	opt := nodeOptions{shield: "shd"}
	var edges []*tierNode
	for _, id := range []string{"fra-1", "fra-2", "par-1", "par-2"} {
		edges = append(edges, startTierNode(t, id, id[:3], origin.URL, members, opt))
	}
	shieldOpt := nodeOptions{shield: "shd", role: tier.RoleShield}
	shields := []*tierNode{
		startTierNode(t, "shd-1", "shd", origin.URL, members, shieldOpt),
		startTierNode(t, "shd-2", "shd", origin.URL, members, shieldOpt),
	}
	var all []tier.Member
	for _, n := range append(edges, shields...) {
		all = append(all, n.member())
	}
	members.Set(all...)

	askAll(t, edges, objects)
	checkOnce(t, o, objects)
	if got := upstreamFetches(t, shields, telemetry.UpstreamOrigin); got != objects {
		t.Errorf("the shields fetched %d objects from the origin, want %d", got, objects)
	}
	if got := upstreamFetches(t, edges, telemetry.UpstreamOrigin); got != 0 {
		t.Errorf("the edges fetched %d objects from the origin, want none", got)
	}
	// Each POP asked the shields for each object once.
	if got := upstreamFetches(t, edges, telemetry.UpstreamShield); got != 2*objects {
		t.Errorf("shield fetches counted %d, want %d", got, 2*objects)
	}
	if a, b := shields[0].tierRequests.Load(), shields[1].tierRequests.Load(); a == 0 || b == 0 {
		t.Errorf("shield requests %d and %d: rendezvous hashing should spread objects over both", a, b)
	}
}

// TestDeadPeerIsSkipped: a peer that died (its listener closed) but is
// still listed, as for up to GoneAfter before its heartbeats are missed:
// viewers are answered, each object still comes from the origin once,
// and the failures are counted.
func TestDeadPeerIsSkipped(t *testing.T) {
	const objects = 30
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	var nodes []*tierNode
	for i := range 3 {
		nodes = append(nodes, startTierNode(t, fmt.Sprintf("fra-%d", i), "fra", origin.URL, members, nodeOptions{}))
	}
	members.Set(nodes[0].member(), nodes[1].member(), nodes[2].member())
	nodes[2].stop()
	live := nodes[:2]

	start := time.Now()
	for _, n := range live { // one after the other: a node's own fetch is then stored before the other asks
		for i := range objects {
			path := fmt.Sprintf("/obj/%d", i)
			resp, body := fetchVia(t, n.url(path))
			if resp.StatusCode != 200 || !bytes.Equal(body, objectBody(path)) {
				t.Fatalf("%s %s: %d %q", n.id, path, resp.StatusCode, resp.Header.Get(HeaderError))
			}
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d requests took %v: a dead peer must cost little", 2*objects, d)
	}
	checkOnce(t, o, objects)
	failures := 0.0
	for _, n := range live {
		failures += counter(t, n.reg, "tern_tier_failures_total", map[string]string{"upstream": "peer"})
	}
	if failures == 0 {
		t.Error("no tier failure counted, though fra-2 owns some objects and is down")
	}
}

// TestTierLoopsStop: a membership that points back at the node itself,
// as a peer and as a shield, makes the request come back; the node
// refuses it (508), falls through to the origin, and the viewer is served.
// A chain too long is refused, and a viewer's own Tern-Tier header at
// worst skips a tier.
func TestTierLoopsStop(t *testing.T) {
	const objects = 20
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	n := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{shield: "shd"})
	members.Set(n.member(),
		tier.Member{NodeID: "fra-2", POP: "fra", Role: tier.RoleEdge, Addr: n.addr},   // a peer at fra-1's address
		tier.Member{NodeID: "shd-1", POP: "shd", Role: tier.RoleShield, Addr: n.addr}) // a shield at fra-1's address

	for i := range objects {
		path := fmt.Sprintf("/obj/%d", i)
		resp, body := fetchVia(t, n.url(path))
		if resp.StatusCode != 200 || !bytes.Equal(body, objectBody(path)) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get(HeaderError))
		}
	}
	checkOnce(t, o, objects)
	// Every object went to the "shield" once, some to the "peer" first:
	// each such request came back once and was refused.
	back := int(n.tierRequests.Load())
	failures := int(counter(t, n.reg, "tern_tier_failures_total", nil))
	if back < objects || back > 2*objects || failures != back {
		t.Errorf("%d requests came back, %d tier failures; want between %d and %d, all refused", back, failures, objects, 2*objects)
	}
	if got := counter(t, n.reg, "tern_requests_total", map[string]string{"status_class": "5xx"}); int(got) != back {
		t.Errorf("%v 5xx answers, want %d (the 508s)", got, back)
	}

	resp, _ := fetchVia(t, n.url("/obj/long"), tier.Header, "peer; chain=a/b/c/d")
	if resp.StatusCode != http.StatusLoopDetected || resp.Header.Get(HeaderError) != errTierLoop {
		t.Errorf("a chain of 4: %d %q, want 508 tier-loop", resp.StatusCode, resp.Header.Get(HeaderError))
	}
	// A viewer claiming to be a shield's request goes straight to the
	// origin, and the header goes no further.
	before := n.tierRequests.Load()
	resp, body := fetchVia(t, n.url("/obj/forged"), tier.Header, "shield; chain=x")
	if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/obj/forged")) || n.tierRequests.Load() != before+1 {
		t.Errorf("forged header: %d, %d tier requests after %d", resp.StatusCode, n.tierRequests.Load(), before)
	}
	if _, _, _, th := o.counts(); th != 0 {
		t.Errorf("%d origin requests carried %s", th, tier.Header)
	}
}

// TestConditionalAndRangeThroughPeer: a node that does not advertise
// itself fetches everything through its POP's one other node. Viewer
// conditionals and ranges are answered, a stale object is revalidated
// through the peer (one 304 from the origin, RefreshHit at both), and a
// node with a disk tier fetches slices of a range through the peer.
func TestConditionalAndRangeThroughPeer(t *testing.T) {
	o, origin := newCountingOrigin(t)
	o.cc = "public, max-age=1"
	members := tier.NewStatic()
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
	members.Set(b.member()) // fra-1 does not advertise itself: fra-2 owns everything

	// A viewer conditional on a miss: answered 304 at fra-1 from the
	// object fetched whole through fra-2.
	etag := ""
	{
		resp, _ := fetchVia(t, b.url("/c")) // what the viewer already has
		etag = resp.Header.Get("Etag")
	}
	resp, body := fetchVia(t, a.url("/c"), "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get(HeaderCache) != "Miss from tern" {
		t.Fatalf("conditional miss at fra-1: %d %q (%d bytes)", resp.StatusCode, resp.Header.Get(HeaderCache), len(body))
	}
	// A range on a miss through fra-2.
	resp, body = fetchVia(t, a.url("/r"), "Range", "bytes=100-149")
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(objectBody("/r")[100:150]) ||
		resp.Header.Get("Content-Range") != "bytes 100-149/4000" {
		t.Fatalf("range miss at fra-1: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	full, notModified, _, _ := o.counts()
	if full["/c"] != 1 || full["/r"] != 1 || notModified != 0 {
		t.Fatalf("origin: %v, %d 304s", full, notModified)
	}
	fetchVia(t, b.url("/long/age")) // fra-2 stores it now; fra-1 asks for it later

	// Once stale, fra-1 revalidates through fra-2, which revalidates with
	// the origin: one 304 there, and the body is not sent again.
	time.Sleep(2100 * time.Millisecond)
	resp, body = fetchVia(t, a.url("/c"))
	if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/c")) || resp.Header.Get(HeaderCache) != "RefreshHit from tern" {
		t.Fatalf("revalidation at fra-1: %d %q", resp.StatusCode, resp.Header.Get(HeaderCache))
	}
	full, notModified, _, _ = o.counts()
	if full["/c"] != 1 || notModified != 1 {
		t.Errorf("after revalidation the origin served /c %d times and %d 304s; want once and one", full["/c"], notModified)
	}
	// An object fra-2 has held for two seconds is two seconds old at fra-1
	// too (RFC 9111 §4.2.3: the Age fra-2 sends counts).
	for _, want := range []string{"Miss from tern", "Hit from tern"} {
		resp, _ = fetchVia(t, a.url("/long/age"))
		if age, _ := strconv.Atoi(resp.Header.Get("Age")); age < 2 || resp.Header.Get(HeaderCache) != want {
			t.Errorf("/long/age at fra-1: Age %q, X-Cache %q; want at least 2, %s", resp.Header.Get("Age"), resp.Header.Get(HeaderCache), want)
		}
	}
	if got := counter(t, a.reg, "tern_upstream_fetches_total", map[string]string{"upstream": "origin"}); got != 0 {
		t.Errorf("fra-1 fetched %v times from the origin, want never", got)
	}

	// A node with a disk tier asks for a range of an object it does not
	// have: it fetches the slice that holds it through fra-2, with Range.
	d := startTierNode(t, "fra-3", "fra", origin.URL, members, nodeOptions{disk: true})
	resp, body = fetchVia(t, d.url("/s"), "Range", "bytes=1000-1099")
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(objectBody("/s")[1000:1100]) {
		t.Fatalf("sliced range at fra-3: %d %q", resp.StatusCode, body)
	}
	if n := b.tierRequests.Load(); n < 4 {
		t.Errorf("fra-2 got %d tier requests, want the slice's too", n)
	}
	full, _, _, _ = o.counts()
	if full["/s"] != 1 {
		t.Errorf("origin served /s %d times, want once (fra-2 fetches it whole, fra-3 asks it for the slice)", full["/s"])
	}
}

// TestHungPeerIsLeftWhenItLeavesTheMembership: a peer that accepts
// connections but never answers (a stopped process) holds a fetch only
// until the membership drops it, as it does once its heartbeats stop;
// then the fetch goes on to the origin and the viewer is served.
func TestHungPeerIsLeftWhenItLeavesTheMembership(t *testing.T) {
	o, origin := newCountingOrigin(t)
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c) // read nothing, answer nothing
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	}()
	hungMember := tier.Member{NodeID: "fra-9", POP: "fra", Role: tier.RoleEdge, Addr: hung.Addr().String()}
	members := tier.NewStatic(hungMember) // the only member: it owns everything
	n := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})

	time.AfterFunc(300*time.Millisecond, func() { members.Set() })
	start := time.Now()
	resp, body := fetchVia(t, n.url("/obj/1"))
	if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/obj/1")) {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get(HeaderError))
	}
	if d := time.Since(start); d > 3*tierLivenessCheck {
		t.Errorf("served after %v: the hung peer held the fetch after it left the membership", d)
	}
	if full, _, _, _ := o.counts(); full["/obj/1"] != 1 {
		t.Errorf("origin served /obj/1 %d times", full["/obj/1"])
	}
}

// TestOriginDownThroughPeer: when the peer cannot reach the origin either,
// its answer is the fetch's answer, not a failure of the peer: the node
// does not try the origin itself, and serves its stale copy as CloudFront
// does when the origin cannot be reached.
func TestOriginDownThroughPeer(t *testing.T) {
	o, origin := newCountingOrigin(t)
	o.cc = "public, max-age=1"
	members := tier.NewStatic()
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, nodeOptions{})
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, nodeOptions{})
	members.Set(b.member()) // fra-2 owns everything

	if resp, _ := fetchVia(t, a.url("/down")); resp.StatusCode != 200 {
		t.Fatalf("first fetch: %d", resp.StatusCode)
	}
	origin.Close()
	if _, err := b.srv.Purge("d", "/down"); err != nil { // fra-2 has no copy to fall back on
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)

	resp, body := fetchVia(t, a.url("/down"))
	if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/down")) ||
		resp.Header.Get(HeaderCache) != "Hit from tern" || resp.Header.Get(HeaderError) != "origin-connect-error" {
		t.Fatalf("stale at fra-1 with the origin down: %d, X-Cache %q, X-Tern-Error %q", resp.StatusCode, resp.Header.Get(HeaderCache), resp.Header.Get(HeaderError))
	}
	if got := counter(t, a.reg, "tern_tier_failures_total", nil); got != 0 {
		t.Errorf("%v tier failures: fra-2 relaying the origin's failure is no failure of fra-2", got)
	}
	if got := counter(t, a.reg, "tern_upstream_fetches_total", map[string]string{"upstream": "origin"}); got != 0 {
		t.Errorf("fra-1 tried the origin itself %v times", got)
	}
}

// TestCustomErrorResponseThroughPeer: a peer answers with its custom error
// response (here a page served as 200, as single-page sites do), which is
// not the origin's answer; the node does not store it as the object but
// fetches from the origin itself, and applies its own custom error
// response.
func TestCustomErrorResponseThroughPeer(t *testing.T) {
	o, origin := newCountingOrigin(t)
	members := tier.NewStatic()
	opt := nodeOptions{extra: `    custom_error_responses:
      - {error_code: 404, response_page_path: /errors/404.html, response_code: 200}
`}
	a := startTierNode(t, "fra-1", "fra", origin.URL, members, opt)
	b := startTierNode(t, "fra-2", "fra", origin.URL, members, opt)
	members.Set(b.member()) // fra-2 owns everything

	for range 2 {
		resp, body := fetchVia(t, a.url("/missing/x"))
		if resp.StatusCode != 200 || !bytes.Equal(body, objectBody("/errors/404.html")) || resp.Header.Get(tier.ErrorResponseHeader) != "" {
			t.Fatalf("custom error response at fra-1: %d %q %q", resp.StatusCode, body, resp.Header.Get(tier.ErrorResponseHeader))
		}
	}
	o.mu.Lock()
	notFound := o.notFound
	o.mu.Unlock()
	// fra-2 fetched the 404 for fra-1's tier request, and fra-1 once more
	// itself; then it was stored (as the 404 it is) at both.
	if notFound != 2 {
		t.Errorf("origin answered 404 %d times, want 2", notFound)
	}
	if got := counter(t, a.reg, "tern_tier_failures_total", nil); got != 1 {
		t.Errorf("%v tier failures at fra-1, want 1 (the custom error response)", got)
	}
}
