package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/appcred/appcred/internal/seal"
)

func TestSealOpen(t *testing.T) {
	key, err := seal.ParseKey(seal.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := seal.New(key)
	plain := []byte("token text")
	box := s.Seal(plain)
	if !seal.IsSealed(box) || bytes.Contains(box, plain) {
		t.Fatal("sealed blob is not marked or holds the plain text")
	}
	if got, err := s.Open(box); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if _, err := other.Open(box); !errors.Is(err, seal.ErrWrongKey) {
		t.Errorf("Open with another key: %v, want ErrWrongKey", err)
	}
	var none *seal.Sealer
	if _, err := none.Open(box); !errors.Is(err, seal.ErrNoKey) {
		t.Errorf("Open with no key: %v, want ErrNoKey", err)
	}
	box[len(box)-1] ^= 1
	if _, err := s.Open(box); err == nil || errors.Is(err, seal.ErrWrongKey) {
		t.Errorf("Open of damaged data: %v, want a damage error", err)
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, seal.KeySize)
	for _, text := range []string{hex.EncodeToString(raw), " " + seal.NewKey() + "\n"} {
		if k, err := seal.ParseKey(text); err != nil || len(k) != seal.KeySize {
			t.Errorf("ParseKey: %d bytes, %v", len(k), err)
		}
	}
	const secret = "c2hvcnQ-secret-ish"
	if _, err := seal.ParseKey(secret); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("ParseKey of a short key: %v (must fail without echoing it)", err)
	}
}

func TestKeySources(t *testing.T) {
	text := seal.NewKey()
	t.Setenv("APPCRED_TEST_SEAL_KEY", text)
	if _, err := seal.KeyFromEnv("APPCRED_TEST_SEAL_KEY"); err != nil {
		t.Errorf("KeyFromEnv: %v", err)
	}
	if _, err := seal.KeyFromEnv("APPCRED_TEST_SEAL_KEY_UNSET"); err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Errorf("KeyFromEnv of an unset variable: %v, want an error naming it", err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.KeyFromFile(path); err != nil {
		t.Errorf("KeyFromFile (0600): %v", err)
	}
	if runtime.GOOS != "windows" {
		_ = os.Chmod(path, 0o644)
		if _, err := seal.KeyFromFile(path); err == nil || !strings.Contains(err.Error(), "0644") {
			t.Errorf("KeyFromFile (0644): %v, want a mode error", err)
		}
	}
}
