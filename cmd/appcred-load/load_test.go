package main

import (
	"strings"
	"testing"
	"time"
)

func TestRunIsBoundedAndReports(t *testing.T) {
	rep, err := run(5*time.Second, 2, 20)
	if err != nil {
		t.Fatal(err)
	}
	if rep.requests == 0 || rep.requests > 20 {
		t.Fatalf("%d requests with -max-requests 20", rep.requests)
	}
	if rep.p50 <= 0 || rep.p99 < rep.p50 || rep.peakRSS == 0 {
		t.Fatalf("report %+v", rep)
	}
	var out strings.Builder
	rep.print(&out)
	for _, want := range []string{"tokens/s:", "p50", "p99", "peak RSS:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := summarize(lat, time.Second, []uint64{1, 5, 2, 3, 9, 4})
	if r.p50 != 51*time.Millisecond || r.p99 != 100*time.Millisecond {
		t.Errorf("p50 %v p99 %v", r.p50, r.p99)
	}
	if r.peakRSS != 9 || r.early != 5 || r.late != 9 {
		t.Errorf("RSS peak %d early %d late %d", r.peakRSS, r.early, r.late)
	}
}

func TestCheckBounds(t *testing.T) {
	for _, bad := range [][3]int{{0, 1, 1}, {3601, 1, 1}, {1, 0, 1}, {1, 257, 1}, {1, 1, 0}, {1, 1, 50_000_001}} {
		if err := check(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("check%v accepted", bad)
		}
	}
	if err := check(60, 4, 1000); err != nil {
		t.Error(err)
	}
}
