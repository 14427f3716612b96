// Command origin is the benchmark's origin: GET /obj/<size>/<n> answers a
// deterministic body of that size, cacheable for an hour, and /stats counts
// the requests received per request URI so a run can prove it was all hits.
//
//	origin -listen 127.0.0.1:28180 [-delay 0] [-max-size 64m]
//
// Routes:
//
//	GET /obj/<size>/<n>    <size> bytes (1024, 1k, 64k, 1m), a function of
//	                       (size, n); Cache-Control: public, max-age=3600,
//	                       ETag, Last-Modified; 304 and 206 as net/http's
//	                       ServeContent. ?delay=200ms (or ?delay=200, in ms)
//	                       waits before answering, to emulate a far origin.
//	GET /stats?path=<uri>  plain-text count of requests for that request URI
//	                       (path and query, as received).
//	GET /stats             every count, as JSON.
//	GET /stats/reset       zero the counts.
//
// /stats requests are not counted.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:28180", "listen address, host:port")
	delay := flag.Duration("delay", 0, "latency added to every /obj/ response")
	maxSize := flag.String("max-size", "64m", "largest object size served")
	flag.Parse()
	limit, ok := parseSize(*maxSize)
	if !ok {
		log.Fatalf("origin: bad -max-size %q", *maxSize)
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           newServer(limit, *delay),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("origin: listening on %s (delay %v)", *listen, *delay)
	log.Fatal(srv.ListenAndServe())
}
