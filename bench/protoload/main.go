// Command protoload measures one HTTPS server over HTTP/1.1, HTTP/2 or
// HTTP/3 with the same client code, so that a server's figures for the
// three protocols can be set side by side: -c connections, each with -m
// requests in flight at once (HTTP/1.1 has one per connection, so it gets
// c x m connections: the same requests in flight), GETs of one URL over
// and over until -d has passed or -n requests were sent.
//
//	protoload -proto h3 -url https://127.0.0.1:28192/obj/1k/1 -c 16 -m 10 -d 10s -want-len 1024
//
// Each connection has its own transport (for HTTP/3 its own UDP socket),
// made and handshaken before the clock starts. Output: the line
// bench/report.lua prints for wrk, so bench/run.sh reads both alike, and
// what was negotiated:
//
//	RESULT requests= bytes= duration_us= p50_us= p99_us= max_us= errors=
//	PROTOCOL proto= conns= streams= first_err="..."
//
// requests counts answers that were a 200 of -want-len bytes; bytes counts
// body bytes only (the frames around them differ by protocol); latency runs
// from sending a request to the end of its body.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "https://127.0.0.1:28192/obj/1k/1", "URL to GET")
	flag.StringVar(&cfg.proto, "proto", "h2", "protocol: h1 (HTTP/1.1 over TLS), h2 or h3")
	flag.StringVar(&cfg.serverName, "sni", "bench.test", "server name sent in the handshake (SNI)")
	flag.IntVar(&cfg.conns, "c", 16, "connections")
	flag.IntVar(&cfg.streams, "m", 10, "requests in flight per connection (h1: c x m connections, one each)")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "how long to send requests")
	flag.Int64Var(&cfg.count, "n", 0, "stop after this many requests (0: only -d bounds the run)")
	flag.Int64Var(&cfg.wantLen, "want-len", -1, "expected body length (-1: do not check)")
	flag.Parse()
	r, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "protoload:", err)
		os.Exit(1)
	}
	fmt.Println(r.Line())
	fmt.Println(protocolLine(r, cfg))
}
