package test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const defaultBehavior = `    default_cache_behavior:
      target_origin_id: web
`

const originControlled = `    default_cache_behavior:
      target_origin_id: web
      cache_policy: Tern-OriginControlled
`

func TestMissThenHit(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from origin")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))

	resp, body := n.get("/hello.txt")
	if resp.StatusCode != 200 || body != "hello from origin" {
		t.Fatalf("first GET: %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Cache"); got != "Miss from tern" {
		t.Errorf("first X-Cache = %q, want Miss from tern", got)
	}
	if via := resp.Header.Get("Via"); !strings.Contains(via, "e2e-1 (tern)") {
		t.Errorf("Via = %q, want it to name the node", via)
	}
	if resp.Header.Get("X-Tern-Id") == "" || resp.Header.Get("X-Tern-Pop") != "test-pop" {
		t.Errorf("request id %q, pop %q", resp.Header.Get("X-Tern-Id"), resp.Header.Get("X-Tern-Pop"))
	}

	resp2, body2 := n.get("/hello.txt")
	if got := resp2.Header.Get("X-Cache"); got != "Hit from tern" {
		t.Errorf("second X-Cache = %q, want Hit from tern", got)
	}
	if body2 != body {
		t.Errorf("hit body %q", body2)
	}
	if _, err := strconv.Atoi(resp2.Header.Get("Age")); err != nil {
		t.Errorf("Age = %q, want a number", resp2.Header.Get("Age"))
	}
	if resp.Header.Get("X-Tern-Id") == resp2.Header.Get("X-Tern-Id") {
		t.Error("two requests share one request id")
	}
	if c := o.count("/hello.txt"); c != 1 {
		t.Errorf("origin fetched %d times, want 1", c)
	}
}

func TestMissStormMakesOneOriginFetch(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "storm body")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	const viewers = 200
	tr := &http.Transport{MaxIdleConnsPerHost: viewers, MaxConnsPerHost: viewers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan string, viewers)
	start := make(chan struct{})
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.Get("http://" + n.Edge + "/storm")
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "storm body" {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, b)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if c := o.count("/storm"); c != 1 {
		t.Errorf("origin fetched %d times for 200 concurrent viewers, want 1", c)
	}
}

// TestReadWhileWrite: viewers waiting on one fetch get the first bytes while
// the origin is still producing the rest.
func TestReadWhileWrite(t *testing.T) {
	release := make(chan struct{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "-last")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))

	got := make(chan string, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + n.Edge + "/slow")
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(buf)
			io.Copy(io.Discard, resp.Body)
		}()
		time.Sleep(50 * time.Millisecond) // the second viewer joins the fetch in flight
	}
	for i := 0; i < 2; i++ {
		select {
		case s := <-got:
			if s != "first" {
				t.Fatalf("viewer %d got %q before the origin finished", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a viewer received nothing while the origin was still sending: the body is not streamed")
		}
	}
	close(release)
	wg.Wait()
	if c := o.count("/slow"); c != 1 {
		t.Errorf("origin fetched %d times, want 1", c)
	}
	resp, body := n.get("/slow")
	if body != "first-last" || resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("after the fill: %q %q", resp.Header.Get("X-Cache"), body)
	}
}

func TestRevalidationGivesRefreshHit(t *testing.T) {
	var mu sync.Mutex
	var conditional int
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Version", "1")
		if r.Header.Get("If-None-Match") == `"v1"` {
			mu.Lock()
			conditional++
			mu.Unlock()
			w.Header().Set("X-Version", "1-refreshed")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "versioned body")
	})
	n := startTern(t, basicConfig(o, originControlled))
	if resp, _ := n.get("/doc"); resp.Header.Get("X-Cache") != "Miss from tern" {
		t.Fatalf("first: %q", resp.Header.Get("X-Cache"))
	}
	resp, body := n.get("/doc")
	if got := resp.Header.Get("X-Cache"); got != "RefreshHit from tern" {
		t.Errorf("X-Cache = %q, want RefreshHit from tern", got)
	}
	if body != "versioned body" {
		t.Errorf("body after 304 = %q", body)
	}
	// RFC 9111 §4.3.4: the 304's fields replace the stored ones.
	if got := resp.Header.Get("X-Version"); got != "1-refreshed" {
		t.Errorf("X-Version = %q, want the 304's value", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if conditional != 1 {
		t.Errorf("origin saw %d conditional requests, want 1", conditional)
	}
}

func TestViewerConditionalAnsweredFromCache(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("ETag", `"abc"`)
		io.WriteString(w, "body")
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	n.get("/c")
	resp, body := n.get("/c", "If-None-Match", `"abc"`)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match on a hit: %d %q, want 304 with no body", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") != `"abc"` {
		t.Errorf("304 lacks the ETag")
	}
	if o.count("/c") != 1 {
		t.Errorf("origin fetched %d times", o.count("/c"))
	}
}

func TestStaleIfErrorKeepsContentUp(t *testing.T) {
	var mu sync.Mutex
	failing := false
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f := failing
		mu.Unlock()
		if f {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error=300")
		io.WriteString(w, "good content")
	})
	n := startTern(t, basicConfig(o, originControlled))
	n.get("/page")
	mu.Lock()
	failing = true
	mu.Unlock()
	resp, body := n.get("/page")
	if resp.StatusCode != 200 || body != "good content" {
		t.Fatalf("origin 503 within stale-if-error: %d %q, want the stale 200", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Tern-Error"); !strings.Contains(got, "503") {
		t.Errorf("X-Tern-Error = %q, want the origin's failure named", got)
	}

	// CloudFront's rule: an unreachable origin means the stale copy is served.
	o.Close()
	resp, body = n.get("/page")
	if resp.StatusCode != 200 || body != "good content" {
		t.Fatalf("origin down: %d %q, want the stale 200", resp.StatusCode, body)
	}
}

func TestOriginDownNamesTheCause(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	o.Close()
	n := startTern(t, basicConfig(o, defaultBehavior))
	resp, _ := n.get("/x")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if resp.Header.Get("X-Cache") != "Error from tern" || !strings.Contains(resp.Header.Get("X-Tern-Error"), "connect") {
		t.Errorf("X-Cache %q, X-Tern-Error %q", resp.Header.Get("X-Cache"), resp.Header.Get("X-Tern-Error"))
	}
}

func TestStaleWhileRevalidateRefreshesInBackground(t *testing.T) {
	var mu sync.Mutex
	version := 1
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := version
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		fmt.Fprintf(w, "v%d", v)
	})
	n := startTern(t, basicConfig(o, originControlled))
	n.get("/swr")
	mu.Lock()
	version = 2
	mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	resp, body := n.get("/swr")
	if body != "v1" || resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Fatalf("stale-while-revalidate: %q %q, want the stale v1 at once", resp.Header.Get("X-Cache"), body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for o.count("/swr") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if _, body := n.get("/swr"); body != "v2" {
		t.Errorf("after the background refresh: %q, want v2", body)
	}
}
