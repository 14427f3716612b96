package test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compressPassBehavior compresses, with a cache policy of its own that
// disables caching (TTLs of 0) and enables gzip and Brotli: every request
// passes through to the origin.
const compressPassBehavior = `    default_cache_behavior:
      target_origin_id: web
      compress: true
      allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
      cache_policy:
        min_ttl: 0
        default_ttl: 0
        max_ttl: 0
        enable_accept_encoding_gzip: true
        enable_accept_encoding_brotli: true
`

// TestCompressPassThroughStreams: with the real binary, a response that
// passes through uncached is compressed for a viewer that takes gzip, and
// reaches it line by line as the origin flushes (a long poll); the same
// URL with a Range request gets the origin's 206 uncompressed.
func TestCompressPassThroughStreams(t *testing.T) {
	next := make(chan struct{})
	page := strings.Repeat("function render(state, props) { return state.items.map(update); }\n", 100)
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/poll":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			for i := range 3 {
				fmt.Fprintf(w, "{\"event\":%d,\"pad\":%q}\n", i, strings.Repeat("x", 200))
				w.(http.Flusher).Flush()
				if i < 2 {
					select {
					case <-next:
					case <-r.Context().Done():
						return
					}
				}
			}
		case "/app.js":
			w.Header().Set("Content-Type", "application/javascript")
			w.Header().Set("ETag", `"a1"`)
			http.ServeContent(w, r, "app.js", time.Time{}, strings.NewReader(page))
		}
	})
	n := startTern(t, basicConfig(o, compressPassBehavior))
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 20 * time.Second}

	req, _ := http.NewRequest("GET", "http://"+n.Edge+"/poll", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("Content-Encoding %q, Content-Length %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Length"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(zr)
	for i := range 3 {
		got := make(chan string, 1)
		go func() {
			l, _ := lines.ReadString('\n')
			got <- l
		}()
		select {
		case l := <-got:
			if !strings.HasPrefix(l, fmt.Sprintf("{\"event\":%d,", i)) {
				t.Fatalf("line %d: %q", i, l)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %d did not arrive while the origin held the next one", i)
		}
		if i < 2 {
			next <- struct{}{}
		}
	}
	if rest, err := io.ReadAll(zr); err != nil || len(rest) != 0 {
		t.Errorf("after the last line: %q, %v", rest, err)
	}

	// The whole page, compressed; then a range of it, as the origin sent it.
	req, _ = http.NewRequest("GET", "http://"+n.Edge+"/app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Etag") != `W/"a1"` || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("whole: Content-Encoding %q, ETag %q, Vary %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Etag"), resp.Header.Get("Vary"))
	}
	zr, err = gzip.NewReader(strings.NewReader(string(wire)))
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(zr); err != nil || string(body) != page {
		t.Errorf("whole: decoded %d bytes (%v), want %d", len(body), err, len(page))
	}
	resp, body := n.get("/app.js", "Accept-Encoding", "gzip", "Range", "bytes=0-99")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || body != page[:100] {
		t.Errorf("range: status %d, Content-Encoding %q, body %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 0-99/"+strconv.Itoa(len(page)) {
		t.Errorf("range: Content-Range %q", cr)
	}
}
