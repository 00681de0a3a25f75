package main

import (
	"encoding/json"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestServeConsoleFlags(t *testing.T) {
	var started struct {
		URL     string `json:"url"`
		Console string `json:"console"`
	}
	line, _ := serveUntilReady(t, "--state", t.TempDir(), "--console-allow", "10.0.0.0/8,192.168.1.7")
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.Console != started.URL+"/console" {
		t.Errorf("serve with the console printed %q (%v)", line, err)
	}
	started.Console = ""
	line, _ = serveUntilReady(t, "--state", t.TempDir(), "--no-console")
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.Console != "" || started.URL == "" {
		t.Errorf("serve --no-console printed %q (%v)", line, err)
	}
	cmd := newAuthorityCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--state", t.TempDir(), "--console-allow", "10.0.0.0/99"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `--console-allow "10.0.0.0/99"`) {
		t.Errorf("a bad --console-allow: %v", err)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes("--x", []string{"10.1.2.3/8", "192.168.1.7", "::ffff:10.9.9.9", "fd00::/8"})
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("10.9.9.9/32"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parsePrefixes: %v %v", got, err)
	}
	if _, err := parsePrefixes("--x", []string{"loopback"}); err == nil || !strings.Contains(err.Error(), `"loopback"`) {
		t.Errorf("a bad network: %v", err)
	}
}
