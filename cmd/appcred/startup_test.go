package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Each verb is registered under the name and aliases its command has, so a
// run naming it builds that command alone; any other run builds them all.
func TestVerbNames(t *testing.T) {
	all := newRootCmd(nil)
	if got, want := len(all.Commands()), len(verbs)+1; got < want { // + version (+ help, completion)
		t.Fatalf("a run naming no verb built %d commands, want at least %d", got, want)
	}
	for _, v := range append(slices.Clone(verbs), verb{names: []string{"version"}, build: newVersionCmd}) {
		cmd := v.build()
		if got := append([]string{cmd.Name()}, cmd.Aliases...); !slices.Equal(got, v.names) {
			t.Errorf("verb registered as %q builds a command named %q", v.names, got)
		}
		for _, name := range v.names {
			root := newRootCmd([]string{name, "--help"})
			if cmds := root.Commands(); len(cmds) != 1 || cmds[0].Name() != cmd.Name() {
				t.Errorf("a run of %q built %d commands, want only %q", name, len(cmds), cmd.Name())
			}
		}
	}
	for _, args := range [][]string{{"--version"}, {"help", "token"}, {"completion", "bash"}, {"tok"}, {"-h"}} {
		if got := len(newRootCmd(args).Commands()); got != len(all.Commands()) {
			t.Errorf("a run of %q built %d commands, want all %d", args, got, len(all.Commands()))
		}
	}
}

// isEnvName accepts what a shell takes as a variable name, up to 128 characters.
func TestIsEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "_": true, "AZURE_CLIENT_SECRET": true, "a1_b2": true, strings.Repeat("x", 128): true,
		"": false, "1A": false, "A-B": false, "A B": false, "A=B": false, "é": false, "s3cr3t!": false,
		strings.Repeat("x", 129): false,
	} {
		if got := isEnvName(name); got != want {
			t.Errorf("isEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}

// BenchmarkTokenWarmInProcess is "appcred token"'s run function (after flag
// parsing) with the token in the cache file: environment, client, cache file
// and printing, but no request (checked) and no process start. Each iteration
// opens the file and builds a client again, as each process does.
func BenchmarkTokenWarmInProcess(b *testing.B) {
	c := countedAuthority(b)
	s := c.a.Seed()
	b.Setenv("SEED_SECRET", s.ClientSecret)
	f := tokenFlags{scope: s.Scope, tenant: s.TenantID, clientID: s.ClientID, secretEnv: "SEED_SECRET",
		authorityHost: c.a.URL(), caFile: c.a.CAFile(), output: outRaw,
		cache: cacheFlags{location: filepath.Join(b.TempDir(), "token-cache.json")}}
	var first, out bytes.Buffer
	if err := runToken(context.Background(), &first, f); err != nil { // fills the cache
		b.Fatal(err)
	}
	posts, gets := c.posts.Load(), c.gets.Load()
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := runToken(context.Background(), &out, f); err != nil {
			b.Fatal(err)
		}
	}
	if out.String() != first.String() {
		b.Error("a warm run printed another token than the cached one")
	}
	if p, g := c.posts.Load()-posts, c.gets.Load()-gets; p != 0 || g != 0 {
		b.Errorf("warm runs made %d token and %d other requests, want none", p, g)
	}
}

// --ca-file's certificates are parsed at the first handshake (a run answered
// from the cache never parses them): one that does not parse still gets an
// error naming the file, on the run that needs it.
func TestTokenCAFileParsedAtHandshake(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad-ca.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"token", "--scope", seed.Scope, "--tenant", seed.TenantID, "--client-id", seed.ClientID,
		"--authority-host", auth.URL(), "--ca-file", bad}
	mustFail(t, []string{"AZURE_CLIENT_SECRET=" + seed.ClientSecret}, args, "unknown authority", "--ca-file "+bad)
}
