package router_test

import "time"

func sleep(d time.Duration) { time.Sleep(d) }
