// Command storm sends one GET for the same URI on N connections at the same
// instant, after opening them all, and prints in one line how many were
// answered, how long the last took and how the cache labelled the answers.
//
//	storm -target 127.0.0.1:28190 -path '/obj/1k/storm-1?delay=200ms' -n 200 \
//	      -want-len 1024 -origin-delay 200ms
//
// Output (key=value, one line):
//
//	ok=<2xx answers> fail=<other answers and errors> bytes_bad=<wrong length>
//	all_ms=<start to last answer> min_ms= p50_ms= max_ms=<per request>
//	[over_origin_ms=<all_ms - origin delay>] [cache=<label>:<count>,...]
//	[first_err="..."]
//
// Point it at a URI the cache has not seen behind a slow origin, then ask
// the origin how many requests reached it: 1 means the misses collapsed.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var cfg config
	var headers string
	flag.StringVar(&cfg.target, "target", "127.0.0.1:28190", "host:port of the cache under test")
	flag.StringVar(&cfg.path, "path", "/obj/1k/storm?delay=200ms", "request URI")
	flag.StringVar(&cfg.host, "host", "", "Host header (default: -target)")
	flag.IntVar(&cfg.n, "n", 200, "connections, one request each")
	flag.Int64Var(&cfg.wantLen, "want-len", -1, "expected body length (-1: do not check)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on the whole storm")
	flag.DurationVar(&cfg.originDelay, "origin-delay", 0, "the origin's delay, to report all_ms against it")
	flag.StringVar(&headers, "cache-headers", "X-Cache,X-Cache-Status", "response headers whose first word is tallied")
	flag.Parse()
	for _, h := range strings.Split(headers, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.cacheHeaders = append(cfg.cacheHeaders, h)
		}
	}
	r, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(r)
}
