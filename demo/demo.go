// Package demo is the origin `tern serve` puts behind the edge when it is
// given nothing else: a small site and API whose responses make caching
// visible (origin timestamps, request counters, varied Cache-Control), so a
// newcomer can watch hits, misses, revalidation, ranges and collapsing.
package demo

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

//go:embed site
var siteFS embed.FS

// Cache-Control values, one per kind of route.
const (
	ccSite     = "public, max-age=3600"
	ccTime     = "public, max-age=5, stale-while-revalidate=10"
	ccMinute   = "public, max-age=5"
	ccShortAPI = "public, max-age=10"
	ccDownload = "public, max-age=86400"
	ccNotFound = "max-age=10"
	ccNoStore  = "no-store"
)

// HeaderOriginTime is set on every response to the origin's clock when it
// answered, so a cached copy (an old time) is easy to tell from a fresh one.
const HeaderOriginTime = "X-Demo-Origin-Time"

// maxSlow caps /api/slow's delay.
const maxSlow = 10 * time.Second

// asset is one embedded static file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

type origin struct {
	now     func() time.Time
	started time.Time // Last-Modified of the static assets
	index   *template.Template
	assets  map[string]asset

	// Requests that reached each API route: the count in a cached answer
	// stops moving, which is how a visitor sees the cache at work.
	timeReqs, minuteReqs, echoReqs, slowReqs, nocacheReqs atomic.Uint64
}

// NewHandler returns the demo origin's handler.
func NewHandler() http.Handler { return newHandler(time.Now) }

func newHandler(now func() time.Time) http.Handler {
	o := &origin{
		now:     now,
		started: now().UTC().Truncate(time.Second),
		index:   template.Must(template.ParseFS(siteFS, "site/index.html")),
		assets:  make(map[string]asset),
	}
	for name, ctype := range map[string]string{
		"style.css": "text/css; charset=utf-8",
		"app.js":    "text/javascript; charset=utf-8",
		"logo.svg":  "image/svg+xml",
	} {
		body, err := fs.ReadFile(siteFS, "site/"+name)
		if err != nil {
			panic(fmt.Sprintf("demo: embedded site/%s: %v", name, err)) // a build mistake, not a runtime condition
		}
		o.assets["/"+name] = asset{body: body, contentType: ctype, etag: etagOf(body)}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", o.serveIndex)
	mux.HandleFunc("GET /index.html", o.serveIndex)
	for path := range o.assets {
		mux.HandleFunc("GET "+path, o.serveAsset)
	}
	mux.HandleFunc("GET /api/time", o.serveTime)
	mux.HandleFunc("GET /api/minute", o.serveMinute)
	mux.HandleFunc("GET /api/echo", o.serveEcho)
	mux.HandleFunc("GET /api/slow", o.serveSlow)
	mux.HandleFunc("GET /api/nocache", o.serveNoCache)
	mux.HandleFunc("GET /download/{file}", o.serveDownload)
	mux.HandleFunc("GET /health", o.serveHealth)
	mux.HandleFunc("/", o.serveNotFound)
	return o.stamp(mux)
}

// stamp sets HeaderOriginTime on every response and refuses methods other
// than GET and HEAD (the mux's "GET" patterns also match HEAD).
func (o *origin) stamp(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderOriginTime, o.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Cache-Control", ccNoStore)
			http.Error(w, "the demo origin only answers GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// etagOf returns a strong entity tag (RFC 9110 §8.8.3) for body: equal
// tags mean equal bytes, so a cache may combine ranges and answer
// If-None-Match with it.
func etagOf(body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// serveBytes answers with body through http.ServeContent, which implements
// the conditional requests of RFC 9110 §13 (If-None-Match,
// If-Modified-Since, If-Range, ...) and the ranges of RFC 9110 §14.
func serveBytes(w http.ResponseWriter, r *http.Request, ctype, cacheControl string, modTime time.Time, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etagOf(body))
	http.ServeContent(w, r, "", modTime, bytes.NewReader(body))
}

type indexPage struct {
	Rendered, RenderedHuman string
}

func (o *origin) serveIndex(w http.ResponseWriter, r *http.Request) {
	now := o.now().UTC().Truncate(time.Second)
	var b bytes.Buffer
	err := o.index.Execute(&b, indexPage{
		Rendered:      now.Format(time.RFC3339),
		RenderedHuman: now.Format("2006-01-02 15:04:05 UTC"),
	})
	if err != nil {
		w.Header().Set("Cache-Control", ccNoStore)
		http.Error(w, "render index: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The page shows when it was rendered, so it was last modified then.
	serveBytes(w, r, "text/html; charset=utf-8", ccSite, now, b.Bytes())
}

func (o *origin) serveAsset(w http.ResponseWriter, r *http.Request) {
	a := o.assets[r.URL.Path]
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", ccSite)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", o.started, bytes.NewReader(a.body))
}

// serveJSON answers with v as JSON, validated by an ETag of its bytes.
func serveJSON(w http.ResponseWriter, r *http.Request, cacheControl string, modTime time.Time, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		w.Header().Set("Cache-Control", ccNoStore)
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	serveBytes(w, r, "application/json", cacheControl, modTime, append(body, '\n'))
}

type timeAnswer struct {
	Time           string `json:"time"`
	UnixMilli      int64  `json:"unix_ms"`
	OriginRequests uint64 `json:"origin_requests"`
	Note           string `json:"note"`
}

func (o *origin) serveTime(w http.ResponseWriter, r *http.Request) {
	now := o.now().UTC()
	serveJSON(w, r, ccTime, now.Truncate(time.Second), timeAnswer{
		Time:           now.Format(time.RFC3339),
		UnixMilli:      now.UnixMilli(),
		OriginRequests: o.timeReqs.Add(1),
		Note:           "fresh for 5s, then served stale for up to 10s while the edge revalidates",
	})
}

type minuteAnswer struct {
	Minute string `json:"minute"`
	Note   string `json:"note"`
}

// serveMinute answers with content that changes once a minute but is fresh
// for 5 seconds, so most revalidations end in 304 Not Modified
// (RFC 9111 §4.3.3: the cache then keeps its stored body).
func (o *origin) serveMinute(w http.ResponseWriter, r *http.Request) {
	o.minuteReqs.Add(1)
	minute := o.now().UTC().Truncate(time.Minute)
	serveJSON(w, r, ccMinute, minute, minuteAnswer{
		Minute: minute.Format(time.RFC3339),
		Note:   "changes once a minute; revalidated every 5s, mostly answered 304",
	})
}

type echoAnswer struct {
	Query          map[string][]string `json:"query"`
	RawQuery       string              `json:"raw_query"`
	Time           string              `json:"time"`
	OriginRequests uint64              `json:"origin_requests"`
}

func (o *origin) serveEcho(w http.ResponseWriter, r *http.Request) {
	now := o.now().UTC()
	serveJSON(w, r, ccShortAPI, now.Truncate(time.Second), echoAnswer{
		Query:          r.URL.Query(),
		RawQuery:       r.URL.RawQuery,
		Time:           now.Format(time.RFC3339),
		OriginRequests: o.echoReqs.Add(1),
	})
}

type slowAnswer struct {
	WaitedMillis   int64  `json:"waited_ms"`
	Started        string `json:"started"`
	Finished       string `json:"finished"`
	OriginRequests uint64 `json:"origin_requests"`
	Note           string `json:"note"`
}

func (o *origin) serveSlow(w http.ResponseWriter, r *http.Request) {
	wait := 200 * time.Millisecond
	if s := r.URL.Query().Get("ms"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxSlow {
			w.Header().Set("Cache-Control", ccNoStore)
			http.Error(w, fmt.Sprintf("ms must be a whole number of milliseconds from 0 to %d", maxSlow.Milliseconds()), http.StatusBadRequest)
			return
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	n := o.slowReqs.Add(1)
	started := o.now().UTC()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return // the client (or the edge) gave up
	}
	finished := o.now().UTC()
	serveJSON(w, r, ccShortAPI, finished.Truncate(time.Second), slowAnswer{
		WaitedMillis:   wait.Milliseconds(),
		Started:        started.Format(time.RFC3339Nano),
		Finished:       finished.Format(time.RFC3339Nano),
		OriginRequests: n,
		Note:           "concurrent misses for one URL should reach the origin once",
	})
}

type noCacheAnswer struct {
	Time           string `json:"time"`
	OriginRequests uint64 `json:"origin_requests"`
	Note           string `json:"note"`
}

func (o *origin) serveNoCache(w http.ResponseWriter, r *http.Request) {
	now := o.now().UTC()
	serveJSON(w, r, ccNoStore, time.Time{}, noCacheAnswer{
		Time:           now.Format(time.RFC3339Nano),
		OriginRequests: o.nocacheReqs.Add(1),
		Note:           "no-store: no cache may keep this (RFC 9111 §5.2.2.5)",
	})
}

func (o *origin) serveDownload(w http.ResponseWriter, r *http.Request) {
	size, ok := downloadSize(r.PathValue("file"))
	if !ok {
		o.serveNotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", ccDownload)
	h.Set("ETag", downloadETag(size))
	http.ServeContent(w, r, "", downloadModTime, newDownload(size))
}

func (o *origin) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", ccNoStore)
	h.Set("Content-Length", "3")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("ok\n"))
	}
}

var notFoundPage = template.Must(template.New("404").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found · Tern demo origin</title><link rel="stylesheet" href="/style.css"></head>
<body><main><section class="card clock">
<h1>Nothing at {{.}}</h1>
<p>The Tern demo origin has no page here. Errors are worth caching too: this answer says
<code>Cache-Control: max-age=10</code>, so for the next ten seconds the edge answers this
path without asking the origin.</p>
<p><a href="/">Back to the demo page</a> for the paths that exist.</p>
</section></main></body></html>
`))

func (o *origin) serveNotFound(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := notFoundPage.Execute(&b, r.URL.Path); err != nil {
		w.Header().Set("Cache-Control", ccNoStore)
		http.Error(w, "render not found page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", ccNotFound)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// Serve runs the demo origin on addr until ctx is done, then shuts it down
// gracefully.
func Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo origin: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened, for example on
// "127.0.0.1:0" so that the caller knows the port it got. It closes ln.
func ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           NewHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("demo origin: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), maxSlow)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("demo origin: shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo origin: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// canonicalInt parses s if it is the canonical decimal form of a number, so
// that one file has one URL (and one cache key).
func canonicalInt(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
