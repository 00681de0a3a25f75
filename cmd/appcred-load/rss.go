package main

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// rssSource says where RSS figures come from: /proc/self/status (Linux)
// or, elsewhere, the Go runtime's mapped memory (an upper bound of the heap
// and stacks, not the OS's resident set).
var rssSource = func() string {
	if _, ok := procRSS(); ok {
		return "VmRSS from /proc/self/status"
	}
	return "Go runtime mapped memory"
}()

// procRSS returns VmRSS from /proc/self/status, in bytes.
func procRSS() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// rss returns the current resident set size, or the runtime's mapped memory.
func rss() uint64 {
	if b, ok := procRSS(); ok {
		return b
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rssSampler records rss every sampleEvery until stopped.
type rssSampler struct {
	done    chan struct{}
	samples chan []uint64
}

const sampleEvery = 250 * time.Millisecond

func startRSSSampler() *rssSampler {
	s := &rssSampler{done: make(chan struct{}), samples: make(chan []uint64, 1)}
	go func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		out := []uint64{rss()}
		for {
			select {
			case <-t.C:
				out = append(out, rss())
			case <-s.done:
				s.samples <- append(out, rss())
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples in order.
func (s *rssSampler) stop() []uint64 {
	close(s.done)
	return <-s.samples
}
