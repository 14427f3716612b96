// Command propagation measures how fast a change made through the control
// API reaches a fleet of edges: a configuration change (PUT of a
// distribution) until every edge has applied it, and an invalidation (POST)
// until every edge has purged it and until the control plane reports it
// Completed.
//
//	go run ./bench/propagation -edges 200 -rounds 50
//
// Everything runs in this process, on loopback: an embedded NATS server
// with JetStream in a temporary directory, listening on 127.0.0.1; the
// control plane (store, API, edge registry, invalidation tracker) behind a
// loopback HTTP listener; and N edges, each with its own NATS connection by
// URL, a configwatch.Watcher, an invalidations.Follower and heartbeats, as
// `tern edge` wires them. An edge's Apply and Purge record when they ran;
// they do not build a cache.
//
// Setup is timed apart from the rounds: each edge's durable JetStream
// consumer is created at startup, and 200 of them take a while.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"
)

func main() {
	o := defaultOptions()
	flag.IntVar(&o.Edges, "edges", o.Edges, "edges to start, each with its own NATS connection")
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds of one config change and one invalidation")
	flag.DurationVar(&o.StepTimeout, "step-timeout", o.StepTimeout, "longest wait for one change to reach every edge")
	flag.DurationVar(&o.SetupTimeout, "setup-timeout", o.SetupTimeout, "longest wait for the edges to start and be seen alive")
	flag.IntVar(&o.SetupParallel, "setup-parallel", o.SetupParallel, "edges started at once")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the rounds (not the setup) to this file")
	flag.Parse()
	if o.Edges < 1 || o.Rounds < 1 || o.SetupParallel < 1 {
		fmt.Fprintln(os.Stderr, "propagation: -edges, -rounds and -setup-parallel must be at least 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "propagation:", err)
			os.Exit(1)
		}
		defer f.Close()
		o.RoundsStarting = func() { pprof.StartCPUProfile(f) }
		o.RoundsDone = pprof.StopCPUProfile
	}
	o.Progress = os.Stderr
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
}

// defaultOptions are the flags' defaults.
func defaultOptions() options {
	return options{Edges: 200, Rounds: 50, StepTimeout: 10 * time.Second, SetupTimeout: 2 * time.Minute, SetupParallel: 16}
}
