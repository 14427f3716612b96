package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// config is one storm.
type config struct {
	target  string        // host:port to connect to
	path    string        // request URI, the same on every connection
	host    string        // Host header; target when empty
	n       int           // connections, one request each
	wantLen int64         // expected body length; -1 to not check
	timeout time.Duration // bound on the whole storm, dialling included
	// cacheHeaders are response headers whose first word is tallied
	// ("X-Cache: Hit from tern" counts as "Hit"); the first one present wins.
	cacheHeaders []string
	// originDelay is the origin's known delay, reported against the
	// all-answered time; 0 when unknown.
	originDelay time.Duration
}

// answer is one connection's outcome.
type answer struct {
	status  int
	latency time.Duration // from sending the request to the end of the body
	badLen  bool
	cache   string
	err     error
}

// result sums up a storm.
type result struct {
	ok, fail, badLen int
	all              time.Duration // from the common start to the last answer
	min, p50, max    time.Duration // per-request latency
	cache            map[string]int
	firstErr         error
	originDelay      time.Duration
}

// run opens cfg.n connections, then writes the same GET on all of them at
// once and waits for every answer. Only a failure to open the connections
// is an error; request failures are counted in the result.
func run(cfg config) (*result, error) {
	if cfg.n < 1 {
		return nil, fmt.Errorf("storm: -n %d: want at least 1 connection", cfg.n)
	}
	host := cfg.host
	if host == "" {
		host = cfg.target
	}
	deadline := time.Now().Add(cfg.timeout)
	conns := make([]net.Conn, 0, cfg.n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Open every connection before sending anything, so that the requests
	// arrive together instead of at the pace of the handshakes.
	for i := 0; i < cfg.n; i++ {
		c, err := net.DialTimeout("tcp", cfg.target, time.Until(deadline))
		if err != nil {
			return nil, fmt.Errorf("storm: open connection %d of %d to %s: %w", i+1, cfg.n, cfg.target, err)
		}
		c.SetDeadline(deadline)
		conns = append(conns, c)
	}
	req := []byte("GET " + cfg.path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: tern-bench-storm\r\nAccept: */*\r\n\r\n")

	answers := make([]answer, cfg.n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i, c := range conns {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			answers[i] = exchange(c, req, cfg)
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	r := summarize(answers, time.Since(t0))
	r.originDelay = cfg.originDelay
	return r, nil
}

// exchange sends req on c and reads one response.
func exchange(c net.Conn, req []byte, cfg config) answer {
	t := time.Now()
	if _, err := c.Write(req); err != nil {
		return answer{err: fmt.Errorf("send request: %w", err), latency: time.Since(t)}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return answer{err: fmt.Errorf("read response head: %w", err), latency: time.Since(t)}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, latency: time.Since(t), badLen: cfg.wantLen >= 0 && n != cfg.wantLen}
	if err != nil {
		a.err = fmt.Errorf("read response body: %w", err)
	}
	for _, h := range cfg.cacheHeaders {
		if v := resp.Header.Get(h); v != "" {
			a.cache, _, _ = strings.Cut(v, " ")
			break
		}
	}
	return a
}

func summarize(answers []answer, all time.Duration) *result {
	r := &result{all: all, cache: make(map[string]int)}
	lat := make([]time.Duration, 0, len(answers))
	for _, a := range answers {
		switch {
		case a.err != nil:
			r.fail++
			if r.firstErr == nil {
				r.firstErr = a.err
			}
		case a.status < 200 || a.status > 299:
			r.fail++
			if r.firstErr == nil {
				r.firstErr = fmt.Errorf("status %d", a.status)
			}
		default:
			r.ok++
		}
		if a.badLen {
			r.badLen++
		}
		if a.cache != "" {
			r.cache[a.cache]++
		}
		lat = append(lat, a.latency)
	}
	slices.Sort(lat)
	r.min, r.p50, r.max = lat[0], lat[len(lat)/2], lat[len(lat)-1]
	return r
}

// String is the one line run.sh reads: key=value pairs separated by spaces.
func (r *result) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	var b strings.Builder
	fmt.Fprintf(&b, "ok=%d fail=%d bytes_bad=%d all_ms=%s min_ms=%s p50_ms=%s max_ms=%s",
		r.ok, r.fail, r.badLen, ms(r.all), ms(r.min), ms(r.p50), ms(r.max))
	if r.originDelay > 0 {
		fmt.Fprintf(&b, " over_origin_ms=%s", ms(r.all-r.originDelay))
	}
	if len(r.cache) > 0 {
		keys := make([]string, 0, len(r.cache))
		for k := range r.cache {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString(" cache=")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s:%d", k, r.cache[k])
		}
	}
	if r.firstErr != nil {
		fmt.Fprintf(&b, " first_err=%q", r.firstErr.Error())
	}
	return b.String()
}
