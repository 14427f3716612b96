// Command handshake measures TLS handshakes per second: each of -c workers
// opens a new connection, does a full TLS handshake, sends one GET with
// "Connection: close", reads the whole answer and closes, over and over
// for -d. It keeps no session cache, so the client never offers a session
// ticket or ID and no handshake can be a resumption; every connection's
// DidResume is checked all the same and counted.
//
//	handshake -addr 127.0.0.1:28192 -path /obj/1k/1 -c 64 -d 10s -want-len 1024
//
// Output: the line bench/report.lua prints for wrk, so bench/run.sh reads
// both alike, then one line on the handshakes themselves:
//
//	RESULT requests= bytes= duration_us= p50_us= p99_us= max_us= errors=
//	HANDSHAKES full= resumed= version= cipher= curve= alpn= first_err="..."
//
// requests counts connections whose answer was a 200 of -want-len bytes;
// latency runs from the dial to the end of the body, so it includes the
// TCP and TLS handshakes. bytes counts what was read from the TLS layer
// (headers and body), as wrk does.
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
	var curves string
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:28192", "host:port of the HTTPS server under test")
	flag.StringVar(&cfg.path, "path", "/obj/1k/1", "request URI")
	flag.StringVar(&cfg.serverName, "sni", "bench.test", "server name sent in the handshake (SNI) and as Host")
	flag.IntVar(&cfg.conns, "c", 64, "connections in flight at once")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "how long to run")
	flag.Int64Var(&cfg.wantLen, "want-len", -1, "expected body length (-1: do not check)")
	flag.StringVar(&curves, "curves", "x25519", "key exchanges the client offers, comma-separated, most preferred first: x25519, p256, p384, x25519mlkem768, or \"default\" for Go's defaults")
	flag.Parse()
	var err error
	if cfg.curves, err = parseCurves(curves); err != nil {
		fmt.Fprintln(os.Stderr, "handshake:", err)
		os.Exit(2)
	}
	r, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "handshake:", err)
		os.Exit(1)
	}
	fmt.Println(r.Line())
	fmt.Println(r.handshakeLine())
	if r.resumed > 0 {
		fmt.Fprintf(os.Stderr, "handshake: %d connections resumed a session; the figures are not of full handshakes\n", r.resumed)
		os.Exit(1)
	}
}

// usage names the curves parseCurves accepts, for its error.
var usage = strings.Join([]string{"x25519", "p256", "p384", "x25519mlkem768", "default"}, ", ")
