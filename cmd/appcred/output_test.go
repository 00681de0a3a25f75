package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                               "0s",
		45 * time.Second:                "45s",
		59*time.Minute + 40*time.Second: "59m",
		time.Hour:                       "1h",
		time.Hour + 2*time.Minute:       "1h2m",
		-3 * time.Minute:                "3m",
		3*24*time.Hour + 4*time.Hour + 5*time.Minute: "3d4h",
		48 * time.Hour: "2d",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	now := time.Unix(1700000000, 0)
	if got := relative(now.Add(59*time.Minute), now); got != "in 59m" {
		t.Errorf("relative future = %q", got)
	}
	if got := relative(now.Add(-3*time.Minute), now); got != "3m ago" {
		t.Errorf("relative past = %q", got)
	}
}

func TestEnvSecret(t *testing.T) {
	t.Setenv("APPCRED_TEST_SET", "value-1")
	t.Setenv("APPCRED_TEST_EMPTY", "")
	if v, err := envSecret("--secret-env", "APPCRED_TEST_SET"); err != nil || v != "value-1" {
		t.Errorf("set variable: %q, %v", v, err)
	}
	for name, want := range map[string]string{
		"APPCRED_TEST_EMPTY":   "is empty",
		"APPCRED_TEST_UNSET_X": "is not set",
		"s3cr~t.value":         "NAME of an environment variable",
	} {
		_, err := envSecret("--secret-env", name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("envSecret(%q) = %v, want %q", name, err, want)
		}
		if name == "s3cr~t.value" && err != nil && strings.Contains(err.Error(), name) {
			t.Errorf("the error repeats a value that may be a secret: %v", err)
		}
	}
}

func TestReadCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readCAFile(notPEM); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("not PEM: %v", err)
	}
	if b, err := readCAFile(auth.CAFile()); err != nil || len(b) == 0 {
		t.Errorf("the authority's CA: %v", err)
	}
	if b, err := readCAFile(""); b != nil || err != nil {
		t.Errorf("no file: %v %v", b, err)
	}
}
