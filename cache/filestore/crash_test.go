package filestore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/storetest"
)

// crashEnv names the file a re-executed test binary writes to until killed.
const crashEnv = "APPCRED_FILESTORE_CRASH_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashWriter(path, os.Getenv(crashEnv+"_ROUND"))
		return
	}
	os.Exit(m.Run())
}

// crashKey is the key of the i-th write of a round.
func crashKey(round string, i int) string {
	return string(cache.AppendKey(nil, cache.KeyParts{ClientID: "crash", Host: "login.microsoftonline.com",
		Tenant: "t", Scopes: []string{fmt.Sprintf("api://crash/r%s-%d", round, i)}}))
}

// crashWriter puts tokens until it is killed, printing each index once its
// Put has returned (an acknowledged write). It stops by itself after 10 s.
func crashWriter(path, round string) {
	s, err := filestore.Open(path, filestore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	stop := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(stop); i++ {
		if err := s.Put(context.Background(), crashKey(round, i), storetest.NewToken(1500, time.Hour)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_, _ = os.Stdout.WriteString(strconv.Itoa(i) + "\n")
	}
	os.Exit(0)
}

// TestCrashSIGKILL kills a writer process 100 times at random moments of
// its writes: after each kill the file must parse, with every write the
// writer acknowledged present. On a loaded machine (or under -race) the
// rounds are bounded by 20 s, but at least 20 must run.
func TestCrashSIGKILL(t *testing.T) {
	const rounds, minRounds = 100, 20
	path := filepath.Join(t.TempDir(), "crash.json")
	var acked []string
	deadline := time.Now().Add(20 * time.Second)
	r := 0
	for ; r < rounds && (r < minRounds || time.Now().Before(deadline)); r++ {
		acked = append(acked, crashRound(t, path, strconv.Itoa(r))...)
		var logs bytes.Buffer
		s, err := filestore.Open(path, filestore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", r, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("round %d: file damaged after kill: %s", r, logs.String())
		}
		readJSON(t, path)
		for _, k := range acked {
			if tok, err := s.Get(context.Background(), k); err != nil || tok == nil {
				t.Fatalf("round %d: acknowledged write %q lost (err %v)", r, k, err)
			}
		}
	}
	t.Logf("%d kills, %d acknowledged writes, all present", r, len(acked))
}

// crashRound starts a writer, kills it with SIGKILL a random 0-20 ms after
// its first acknowledged write, and returns the keys it acknowledged.
func crashRound(t *testing.T, path, round string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_ROUND="+round)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked []string
	if sc.Scan() {
		acked = append(acked, crashKey(round, 0))
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
	}
	_ = cmd.Process.Kill()
	for sc.Scan() {
		i, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("writer printed %q", sc.Text())
		}
		acked = append(acked, crashKey(round, i))
	}
	_ = cmd.Wait()
	if len(acked) == 0 {
		t.Fatalf("round %s: writer acknowledged nothing; stderr: %s", round, stderr.String())
	}
	return acked
}
