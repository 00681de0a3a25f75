package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/pki"
	"github.com/appcred/appcred/sts/signin"
)

// serveLogger is the server's log on stderr in --log-format (text or json),
// at Info so that every sign-in is one line.
func serveLogger(w io.Writer, format string) (*slog.Logger, error) {
	ho := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case outText:
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case outJSON:
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not a known format (use text or json)", format)
}

// signInFlags adds serve's sign-in log flags.
func signInFlags(f *pflag.FlagSet, opts *sts.Options, format *string) {
	f.StringVar(format, "log-format", outText, "format of the server log on stderr, one line per sign-in: text or json")
	f.StringVar(&opts.SignInFile, "log-file", "", "also write the sign-in log as JSON lines to this file (relative: in STATE; "+
		"--log-file alone: STATE/"+sts.SignInFile+", which `authority log` reads)")
	f.Lookup("log-file").NoOptDefVal = sts.SignInFile
	f.Int64Var(&opts.SignInFileMax, "log-max-size", signin.DefaultMaxFileBytes, "bytes at which the sign-in log file is rotated (one older file, "+sts.SignInFile+".1, is kept)")
}

type logOptions struct {
	state, url, caFile, file, app string
	follow, asJSON, failed        bool
}

// newLogCmd is "appcred authority log": the sign-in log of a running server or of its file.
func newLogCmd() *cobra.Command {
	var o logOptions
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show the sign-in log: one record per token request, with a hint for each failure",
		Long: `Show the local authority's sign-in log: one record per token request (time, tenant, app, grant, resource,
how the client authenticated, outcome with its AADSTS code and a hint that names the fix, the issued token's
aud/roles/ver/exp/uti, correlation and trace ids, duration, the client's SKU). Never a secret or token.

By default it asks the running server at --url (its loopback-only endpoint ` + sts.SignInLogPath + `, trusting
STATE/ca.pem) for the records it holds in memory; when no server answers, it reads STATE/` + sts.SignInFile + `
(written by serve --log-file). --follow keeps printing new records until interrupted (server only).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runLog(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	stateFlag(cmd, &o.state)
	f.StringVar(&o.url, "url", "https://localhost:8443", "base URL of the running authority")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate to trust for --url (default STATE/ca.pem)")
	f.StringVar(&o.file, "file", "", "read this sign-in log file instead of asking the server")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new records as they happen")
	f.BoolVar(&o.asJSON, "json", false, "print each record as one JSON object per line")
	f.BoolVar(&o.failed, "failed", false, "only failed requests")
	f.StringVar(&o.app, "app", "", "only requests of this client id")
	return cmd
}

func runLog(ctx context.Context, w io.Writer, o logOptions) error {
	if o.file != "" {
		if o.follow {
			return errors.New("--follow reads from the server; it cannot be used with --file")
		}
		return printFile(w, o.file, o)
	}
	dir, err := stateDir(o.state)
	if err != nil {
		return err
	}
	body, err := openServerLog(ctx, dir, o)
	if err != nil {
		file := filepath.Join(dir, sts.SignInFile)
		if o.follow {
			return err
		}
		if _, serr := os.Stat(file); serr != nil {
			return fmt.Errorf("%w; and no sign-in log file %s (serve --log-file writes one)", err, file)
		}
		return printFile(w, file, o)
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rec := new(signin.Record)
		if err := json.Unmarshal(sc.Bytes(), rec); err != nil {
			return fmt.Errorf("sign-in log from %s: %w", o.url, err)
		}
		if err := printRecord(w, rec, o.asJSON); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("sign-in log from %s: %w", o.url, err)
	}
	return nil
}

// openServerLog asks the running authority for its sign-in log.
func openServerLog(ctx context.Context, dir string, o logOptions) (io.ReadCloser, error) {
	caFile := o.caFile
	if caFile == "" {
		caFile = filepath.Join(dir, pki.CACertFile)
	}
	var cas [][]byte
	if pem, err := os.ReadFile(caFile); err == nil {
		cas = append(cas, pem)
	} else if o.caFile != "" {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	hc := wire.DefaultHTTPClient(cas...)
	hc.Timeout = 0 // a follower reads for as long as it likes; ctx ends it
	q := url.Values{}
	if o.follow {
		q.Set("follow", "1")
	}
	if o.failed {
		q.Set("failed", "1")
	}
	if o.app != "" {
		q.Set("app", o.app)
	}
	u := strings.TrimRight(o.url, "/") + sts.SignInLogPath + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", o.url, err)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no authority answers at %s: %w", o.url, err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		_ = res.Body.Close()
		return nil, fmt.Errorf("the authority at %s answered HTTP %d: %s", o.url, res.StatusCode, b)
	}
	return res.Body, nil
}

func printFile(w io.Writer, path string, o logOptions) error {
	recs, err := signin.ReadFile(path, o.app, o.failed)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no sign-in log file %s (serve --log-file writes one)", path)
	}
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := printRecord(w, r, o.asJSON); err != nil {
			return err
		}
	}
	return nil
}

// printRecord prints one record: a JSON line, or a line of text (and the hint
// of a failure on a second, indented line).
func printRecord(w io.Writer, r *signin.Record, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d %s  tenant=%s client=%s", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Status,
		r.Outcome(), r.Tenant, r.ClientID)
	if r.AppName != "" {
		fmt.Fprintf(&b, " (%q)", r.AppName)
	}
	for _, kv := range [][2]string{{"grant", r.Grant}, {"resource", r.Resource}, {"scope", r.Scope},
		{"auth", r.Auth.Method}, {"secret_hint", r.Auth.SecretHint}, {"thumbprint", r.Auth.Thumbprint},
		{"thumbprint_alg", r.Auth.ThumbprintAlg}, {"assertion_iss", r.Auth.Issuer}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if t := r.Token; t != nil {
		fmt.Fprintf(&b, " aud=%s roles=%s", t.Aud, strings.Join(t.Roles, ","))
		if t.Scp != "" {
			fmt.Fprintf(&b, " scp=%q", t.Scp)
		}
		fmt.Fprintf(&b, " ver=%s exp=%d uti=%s", t.Ver, t.Exp, t.Uti)
	}
	fmt.Fprintf(&b, " correlation_id=%s trace_id=%s duration=%s", r.CorrelationID, r.TraceID, r.Duration)
	if r.SKU != "" {
		fmt.Fprintf(&b, " sku=%s/%s/%s", r.SKU, r.SKUVersion, r.OS)
	}
	if r.Description != "" {
		fmt.Fprintf(&b, "\n    %s", r.Description)
	}
	if r.Hint != "" {
		fmt.Fprintf(&b, "\n    hint: %s", r.Hint)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
