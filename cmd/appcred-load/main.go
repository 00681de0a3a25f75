// Command appcred-load drives the local authority (sts) with bounded loopback
// load and reports what it sustained: it starts an authority on 127.0.0.1 in
// a temporary state directory, runs -workers clients posting
// client-credentials token requests (client_secret_post, the seeded daemon
// app) for -seconds or -max-requests, whichever comes first, and prints
// tokens/s, p50/p99 latency and the peak RSS of the process.
//
// It exits with status 1 on any failed request (transport error, a status
// other than 200, or an answer without an access token) and when the RSS
// keeps growing: the peak of the last third of the run must stay within
// 1.5× (plus 64 MiB) of the peak of the first third. `make load` runs it;
// LOAD_SECONDS shortens the run.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	seconds := flag.Int("seconds", 60, "how long to drive the authority (1-3600)")
	workers := flag.Int("workers", 2*runtime.GOMAXPROCS(0), "concurrent clients (1-256)")
	maxReq := flag.Int("max-requests", 5_000_000, "stop after this many token requests (1-50,000,000)")
	flag.Parse()
	if err := check(*seconds, *workers, *maxReq); err != nil {
		fmt.Fprintln(os.Stderr, "appcred-load:", err)
		os.Exit(2)
	}
	rep, err := run(time.Duration(*seconds)*time.Second, *workers, int64(*maxReq))
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "appcred-load: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func check(seconds, workers, maxReq int) error {
	switch {
	case seconds < 1 || seconds > 3600:
		return fmt.Errorf("-seconds %d: want 1 to 3600", seconds)
	case workers < 1 || workers > 256:
		return fmt.Errorf("-workers %d: want 1 to 256", workers)
	case maxReq < 1 || maxReq > 50_000_000:
		return fmt.Errorf("-max-requests %d: want 1 to 50,000,000", maxReq)
	}
	return nil
}
