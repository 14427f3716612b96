package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// lastModified is every object's Last-Modified: fixed, so that validators
// are the same on every run.
var lastModified = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// maxBodies bounds the body cache: storm objects are unique per run, so an
// unbounded map would grow with every storm.
const maxBodies = 4096

// object is one prepared response body with its validator.
type object struct {
	body []byte
	etag []string // one-element slice, assigned to the header without allocating
}

// server is the benchmark origin. Its zero value is not usable; see
// newServer.
type server struct {
	maxSize int64
	delay   time.Duration // added to every /obj/ response, on top of ?delay=

	total atomic.Int64 // /obj/ and unknown paths; /stats is not counted

	mu     sync.Mutex
	paths  map[string]int64 // request URI (path and query) -> requests received
	bodies map[string]*object
}

func newServer(maxSize int64, delay time.Duration) *server {
	return &server{
		maxSize: maxSize,
		delay:   delay,
		paths:   make(map[string]int64),
		bodies:  make(map[string]*object),
	}
}

var (
	cacheControl = []string{"public, max-age=3600"}
	contentType  = []string{"application/octet-stream"}
)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/obj/"):
		s.serveObject(w, r)
	case r.URL.Path == "/stats":
		s.serveStats(w, r)
	case r.URL.Path == "/stats/reset":
		s.reset()
		fmt.Fprintln(w, "ok")
	default:
		s.total.Add(1)
		http.NotFound(w, r)
	}
}

// serveObject answers GET /obj/<size>/<n>: a body of <size> bytes that is a
// deterministic function of (size, n), fresh for an hour to shared caches.
func (s *server) serveObject(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	s.mu.Lock()
	s.paths[r.RequestURI]++
	s.mu.Unlock()

	sizeStr, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/obj/"), "/")
	if !ok || name == "" {
		http.Error(w, "want /obj/<size>/<n>", http.StatusNotFound)
		return
	}
	size, ok := parseSize(sizeStr)
	if !ok || size > s.maxSize {
		http.Error(w, "bad size", http.StatusNotFound)
		return
	}
	d := s.delay
	if r.URL.RawQuery != "" {
		d += parseDelay(r.URL.Query().Get("delay"))
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	o := s.object(size, name)
	h := w.Header()
	h["Cache-Control"] = cacheControl
	h["Content-Type"] = contentType
	h["Etag"] = o.etag
	// ServeContent sets Last-Modified and Content-Length and answers
	// conditional requests (RFC 9110 §13) and ranges (RFC 9110 §14).
	http.ServeContent(w, r, "", lastModified, bytes.NewReader(o.body))
}

// object returns the body and ETag for (size, name), building and keeping
// them on first use.
func (s *server) object(size int64, name string) *object {
	key := strconv.FormatInt(size, 10) + "/" + name
	s.mu.Lock()
	o, ok := s.bodies[key]
	s.mu.Unlock()
	if ok {
		return o
	}
	o = &object{body: makeBody(size, key), etag: []string{etag(key)}}
	s.mu.Lock()
	if len(s.bodies) < maxBodies {
		s.bodies[key] = o
	}
	s.mu.Unlock()
	return o
}

// serveStats answers /stats?path=<uri> with the plain count of requests
// received for that request URI, and /stats with all counts as JSON.
func (s *server) serveStats(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Query().Get("path"); p != "" {
		s.mu.Lock()
		n := s.paths[p]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%d\n", n)
		return
	}
	s.mu.Lock()
	paths := make(map[string]int64, len(s.paths))
	for k, v := range s.paths {
		paths[k] = v
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"total": s.total.Load(), "paths": paths})
}

func (s *server) reset() {
	s.total.Store(0)
	s.mu.Lock()
	s.paths = make(map[string]int64)
	s.mu.Unlock()
}

// parseSize reads a size in bytes: "1024", "1k", "64k", "1m" (powers of 1024).
func parseSize(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, false
	}
	return n * mult, true
}

// parseDelay reads ?delay= as a Go duration ("200ms") or as milliseconds
// ("200"); anything else is no delay.
func parseDelay(v string) time.Duration {
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	if ms, err := strconv.Atoi(v); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 0
}

// makeBody returns size printable bytes seeded by key (xorshift over an
// FNV-1a seed), ending in a newline, so different objects differ.
func makeBody(size int64, key string) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	x := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		x = (x ^ uint32(key[i])) * 16777619
	}
	if x == 0 {
		x = 1 // xorshift's one fixed point
	}
	b := make([]byte, size)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	if size > 0 {
		b[size-1] = '\n'
	}
	return b
}

// etag is a strong validator (RFC 9110 §8.8.3) derived from key.
func etag(key string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	return `"` + strconv.FormatUint(h, 16) + `"`
}
