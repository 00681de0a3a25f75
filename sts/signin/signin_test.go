package signin_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/appcred/appcred/sts/signin"
)

func rec(i int, status int) *signin.Record {
	return &signin.Record{Time: time.Unix(int64(i), 0), ClientID: fmt.Sprintf("app-%d", i%2), Status: status,
		CorrelationID: fmt.Sprintf("corr-%04d", i), Hint: "a hint long enough to take some room in the file"}
}

func TestRingKeepsTheLatestAndFeedsFollowers(t *testing.T) {
	g := signin.NewRing(3)
	backlog, ch, cancel := g.Follow("", false)
	if len(backlog) != 0 {
		t.Fatalf("empty ring gave %d records", len(backlog))
	}
	for i := range 5 {
		g.Add(rec(i, 200+200*(i%2)))
	}
	got := g.Records("", false)
	if len(got) != 3 || got[0].CorrelationID != "corr-0002" || got[2].CorrelationID != "corr-0004" {
		t.Fatalf("records %v, want corr-0002..4 oldest first", got)
	}
	if f := g.Records("APP-1", true); len(f) != 1 || f[0].CorrelationID != "corr-0003" {
		t.Errorf("failed records of app-1: %v", f)
	}
	for i := range 5 {
		if r := <-ch; r.CorrelationID != fmt.Sprintf("corr-%04d", i) {
			t.Errorf("follower got %s, want record %d", r.CorrelationID, i)
		}
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
	_, ch2, _ := g.Follow("", false)
	g.Close()
	if _, ok := <-ch2; ok {
		t.Error("channel open after Close")
	}
	if _, ch3, _ := g.Follow("", false); ch3 == nil {
		t.Error("nil channel after Close")
	} else if _, ok := <-ch3; ok {
		t.Error("a subscription after Close is open")
	}
}

func TestFileRotationKeepsTheLogBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signin.jsonl")
	const maxBytes = 2000
	f, err := signin.OpenFile(path, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if err := f.Write(rec(i, 200+200*(i%2))); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + ".1"} {
			if fi, err := os.Stat(p); err == nil && fi.Size() > maxBytes {
				t.Fatalf("after %d records %s is %d bytes, over %d", i+1, p, fi.Size(), maxBytes)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode: %v %v", fi, err)
	}
	got, err := signin.ReadFile(path, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= n || got[len(got)-1].CorrelationID != fmt.Sprintf("corr-%04d", n-1) {
		t.Fatalf("read %d records, want the most recent few ending with record %d", len(got), n-1)
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Fatalf("records out of order at %d", i)
		}
	}
	failed, _ := signin.ReadFile(path, "app-1", true)
	for _, r := range failed {
		if !r.Failed() || r.ClientID != "app-1" {
			t.Errorf("filter kept %+v", r)
		}
	}
	if len(failed) == 0 {
		t.Error("no failed records of app-1 read back")
	}
	if _, err := signin.ReadFile(filepath.Join(t.TempDir(), "none.jsonl"), "", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSecretHintHidesShortValues(t *testing.T) {
	if h := signin.SecretHint("abcdefghijkl"); h != "abc" {
		t.Errorf("hint %q", h)
	}
	if h := signin.SecretHint("short"); h != "" {
		t.Errorf("a short secret shows %q", h)
	}
	if l := signin.List([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}); l != "a, b, c, d, e, f, g, h and 2 more" {
		t.Errorf("List: %q", l)
	}
}
