package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/appcred/appcred/internal/wire"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// maxTokenBytes caps the token read from stdin and maxDocBytes the discovery and
// JWKS documents fetched.
const (
	maxTokenBytes = 1 << 20
	maxDocBytes   = 1 << 20
	// maxUnixSeconds bounds iat/nbf/exp (year 5138) so that times stay representable.
	maxUnixSeconds = 1e11
)

func init() { rootCmd.AddCommand(newDecodeCmd()) }

func newDecodeCmd() *cobra.Command {
	var jwksURL, authorityURL, caFile, output string
	cmd := &cobra.Command{
		Use:   "decode [TOKEN|-]",
		Short: "Show a JWT's header and claims, its times and expiry, and optionally check its signature",
		Long: `Decode a JWT (an access token) and show its header and claims, iat/nbf/exp as local times, and whether
it has expired. The token is read from the argument, or from stdin for "-" or no argument; a leading
"Authorization: Bearer " is ignored, so "appcred token --output header | appcred decode" works.

With --jwks URL, or --authority URL (OIDC discovery at {authority}/v2.0/.well-known/openid-configuration,
then {authority}/.well-known/openid-configuration), the RS256/PS256 signature is checked against the
issuer's keys; an invalid signature exits with status 1.`,
		Example: `  appcred token --scope api://orders --output raw | appcred decode
  appcred decode "$TOKEN" --authority https://login.microsoftonline.com/$AZURE_TENANT_ID
  appcred decode - --authority https://127.0.0.1:8443/$TENANT --ca-file ~/.local/state/appcred/authority/ca.pem`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outText, outJSON); err != nil {
				return err
			}
			raw, err := readTokenArg(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			d, err := parseJWT(raw)
			if err != nil {
				return err
			}
			var sig *sigResult
			if jwksURL != "" || authorityURL != "" {
				ca, err := readCAFile(caFile)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				defer cancel()
				sig = verifyJWT(ctx, wire.DefaultHTTPClient(ca), d, jwksURL, authorityURL)
			} else if caFile != "" {
				return errors.New("--ca-file is only used with --jwks or --authority")
			}
			if output == outJSON {
				err = printJSON(cmd.OutOrStdout(), d.report(sig, time.Now()))
			} else {
				err = d.print(cmd.OutOrStdout(), sig, time.Now())
			}
			if err != nil {
				return err
			}
			if sig != nil && !sig.Valid {
				return fmt.Errorf("signature is not valid: %s", sig.Error)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&jwksURL, "jwks", "", "JWKS URL to check the signature against")
	f.StringVar(&authorityURL, "authority", "", "authority or issuer URL whose OIDC discovery names the JWKS")
	f.StringVar(&caFile, "ca-file", "", "PEM file of extra CA certificates to trust for --jwks / --authority")
	outputFlag(cmd, &output, outText, outText, outJSON)
	cmd.MarkFlagsMutuallyExclusive("jwks", "authority")
	return cmd
}

// readTokenArg returns the token from the argument or stdin, without a
// "Bearer " or "Authorization: Bearer " prefix.
func readTokenArg(args []string, stdin io.Reader) (string, error) {
	var s string
	if len(args) == 1 && args[0] != "-" {
		s = args[0]
	} else {
		b, err := io.ReadAll(io.LimitReader(stdin, maxTokenBytes+1))
		if err != nil {
			return "", fmt.Errorf("reading the token from stdin: %w", err)
		}
		if len(b) > maxTokenBytes {
			return "", fmt.Errorf("token on stdin is longer than %d bytes", maxTokenBytes)
		}
		s = string(b)
	}
	s = strings.TrimSpace(s)
	if rest, ok := cutPrefixFold(s, "Authorization:"); ok {
		s = strings.TrimSpace(rest)
	}
	if rest, ok := cutPrefixFold(s, "Bearer "); ok {
		s = strings.TrimSpace(rest)
	}
	if s == "" {
		return "", errors.New("no token: pass it as an argument, or on stdin with - or no argument")
	}
	return s, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// decodedJWT is a JWT split into its parts; nothing is verified.
type decodedJWT struct {
	raw           string
	headerJSON    []byte // the decoded header, as sent
	claimsJSON    []byte // the decoded payload, as sent
	header        map[string]any
	claims        map[string]any
	iat, nbf, exp *time.Time
}

// parseJWT decodes a compact JWS. Errors never include the token.
func parseJWT(s string) (*decodedJWT, error) {
	parts := strings.Split(s, ".")
	switch {
	case len(parts) == 5:
		return nil, errors.New("token is an encrypted JWT (JWE, 5 parts): it cannot be decoded without the recipient's key")
	case len(parts) != 3:
		return nil, fmt.Errorf("token is not a JWT: want 3 dot-separated parts, got %d", len(parts))
	}
	d := &decodedJWT{raw: s}
	var err error
	if d.headerJSON, d.header, err = decodeSegment(parts[0]); err != nil {
		return nil, fmt.Errorf("token header: %w", err)
	}
	if d.claimsJSON, d.claims, err = decodeSegment(parts[1]); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	for name, dst := range map[string]**time.Time{"iat": &d.iat, "nbf": &d.nbf, "exp": &d.exp} {
		v, ok := d.claims[name]
		if !ok {
			continue
		}
		n, _ := v.(json.Number)
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.Abs(f) > maxUnixSeconds {
			return nil, fmt.Errorf("token claims: %q is not a time (seconds since 1970)", name)
		}
		sec, frac := math.Modf(f)
		t := time.Unix(int64(sec), int64(frac*1e9))
		*dst = &t
	}
	return d, nil
}

func decodeSegment(seg string) ([]byte, map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, nil, errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, nil, errors.New("not a JSON object")
	}
	return b, m, nil
}

// status is "expires in 59m", "EXPIRED 3m ago" or "not valid yet (nbf in 2m)".
func (d *decodedJWT) status(now time.Time) (string, bool) {
	switch {
	case d.exp != nil && !now.Before(*d.exp):
		return "EXPIRED " + humanDuration(now.Sub(*d.exp)) + " ago", true
	case d.nbf != nil && now.Before(*d.nbf):
		return "not valid yet (nbf " + relative(*d.nbf, now) + ")", false
	case d.exp != nil:
		return "expires in " + humanDuration(d.exp.Sub(now)), false
	default:
		return "no expiry (no exp claim)", false
	}
}

// timeJSON is one of iat, nbf, exp in JSON output.
type timeJSON struct {
	Unix     int64  `json:"unix"`
	Time     string `json:"time"`
	Relative string `json:"relative"`
}

// decodeJSON is the JSON output of decode.
type decodeJSON struct {
	Header    json.RawMessage     `json:"header"`
	Claims    json.RawMessage     `json:"claims"`
	Times     map[string]timeJSON `json:"times,omitempty"`
	Status    string              `json:"status"`
	Expired   bool                `json:"expired"`
	Signature *sigResult          `json:"signature,omitempty"`
}

func (d *decodedJWT) report(sig *sigResult, now time.Time) decodeJSON {
	status, expired := d.status(now)
	r := decodeJSON{Header: compact(d.headerJSON), Claims: compact(d.claimsJSON), Status: status,
		Expired: expired, Signature: sig, Times: map[string]timeJSON{}}
	for _, tc := range d.times() {
		r.Times[tc.name] = timeJSON{Unix: tc.t.Unix(), Time: tc.t.Local().Format(time.RFC3339), Relative: relative(tc.t, now)}
	}
	return r
}

func compact(b []byte) json.RawMessage {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return json.RawMessage("null")
	}
	return out.Bytes()
}

type namedTime struct {
	name string
	t    time.Time
}

func (d *decodedJWT) times() []namedTime {
	var out []namedTime
	for _, nt := range []struct {
		name string
		t    *time.Time
	}{{"iat", d.iat}, {"nbf", d.nbf}, {"exp", d.exp}} {
		if nt.t != nil {
			out = append(out, namedTime{nt.name, *nt.t})
		}
	}
	return out
}

// print writes the human-readable report: header and claims as sent (pretty),
// times, status and signature.
func (d *decodedJWT) print(w io.Writer, sig *sigResult, now time.Time) error {
	var b bytes.Buffer
	b.WriteString("Header:\n")
	_ = json.Indent(&b, d.headerJSON, "", "  ")
	b.WriteString("\nClaims:\n")
	_ = json.Indent(&b, d.claimsJSON, "", "  ")
	b.WriteString("\n")
	if ts := d.times(); len(ts) > 0 {
		b.WriteString("Times:\n")
		for _, tc := range ts {
			fmt.Fprintf(&b, "  %s  %s  (%s)\n", tc.name, humanTime(tc.t), relative(tc.t, now))
		}
	}
	status, _ := d.status(now)
	fmt.Fprintf(&b, "Status:     %s\n", status)
	fmt.Fprintf(&b, "Signature:  %s\n", sig.describe())
	_, err := w.Write(b.Bytes())
	return err
}

// sigResult is the outcome of a signature check.
type sigResult struct {
	Checked bool   `json:"checked"`
	Valid   bool   `json:"valid"`
	Alg     string `json:"alg,omitempty"`
	KID     string `json:"kid,omitempty"`
	JWKSURI string `json:"jwks_uri,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (s *sigResult) describe() string {
	switch {
	case s == nil:
		return "not checked (pass --jwks URL or --authority URL)"
	case s.Valid:
		return fmt.Sprintf("valid (%s, kid %s, keys from %s)", s.Alg, s.KID, s.JWKSURI)
	case s.JWKSURI != "":
		return fmt.Sprintf("NOT VALID: %s (keys from %s)", s.Error, s.JWKSURI)
	default:
		return "NOT VALID: " + s.Error
	}
}

// verifyJWT checks d's signature against the JWKS at jwksURL, or the one named
// by the OIDC discovery document of authorityURL. Only RS256 and PS256 are accepted.
func verifyJWT(ctx context.Context, hc *http.Client, d *decodedJWT, jwksURL, authorityURL string) *sigResult {
	r := &sigResult{Checked: true}
	r.Alg, _ = d.header["alg"].(string)
	r.KID, _ = d.header["kid"].(string)
	if jwksURL == "" {
		u, err := discoverJWKS(ctx, hc, authorityURL, d.claims["ver"] == "1.0")
		if err != nil {
			r.Error = err.Error()
			return r
		}
		jwksURL = u
	}
	r.JWKSURI = jwksURL
	keys, err := fetchJWKS(ctx, hc, jwksURL)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithoutClaimsValidation()).
		Parse(d.raw, func(t *jwt.Token) (any, error) { return keys.find(t.Header) })
	if err != nil {
		r.Error = strings.TrimPrefix(err.Error(), "token signature is invalid: ")
		return r
	}
	r.Valid = true
	return r
}

// discoverJWKS finds jwks_uri through OIDC discovery: the v2 document first
// (the v1 one first for a v1 token), then the other.
func discoverJWKS(ctx context.Context, hc *http.Client, authorityURL string, v1 bool) (string, error) {
	base := strings.TrimRight(authorityURL, "/")
	urls := []string{base + "/v2.0/.well-known/openid-configuration", base + "/.well-known/openid-configuration"}
	if v1 || strings.HasSuffix(base, "/v2.0") {
		urls[0], urls[1] = urls[1], urls[0]
	}
	var errs []error
	for _, u := range urls {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, hc, u, &doc); err != nil {
			errs = append(errs, err)
			continue
		}
		if doc.JWKSURI == "" {
			errs = append(errs, fmt.Errorf("%s: no jwks_uri", u))
			continue
		}
		return doc.JWKSURI, nil
	}
	return "", fmt.Errorf("OIDC discovery for %s failed: %w", base, errors.Join(errs...))
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocBytes {
		return fmt.Errorf("GET %s: response longer than %d bytes", url, maxDocBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return nil
}

// jwkSet holds the RSA keys of a JWKS.
type jwkSet []jwkKey

type jwkKey struct {
	kid, x5t string
	pub      *rsa.PublicKey
}

func fetchJWKS(ctx context.Context, hc *http.Client, url string) (jwkSet, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			KID string `json:"kid"`
			X5T string `json:"x5t"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := getJSON(ctx, hc, url, &doc); err != nil {
		return nil, fmt.Errorf("fetching the JWKS: %w", err)
	}
	var set jwkSet
	for _, k := range doc.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
		e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		set = append(set, jwkKey{kid: k.KID, x5t: k.X5T, pub: pub})
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("the JWKS at %s has no RSA keys", url)
	}
	return set, nil
}

// find picks the key a token header names by kid (or x5t); a header naming
// neither matches a JWKS of exactly one key.
func (s jwkSet) find(h map[string]any) (any, error) {
	kid, _ := h["kid"].(string)
	x5t, _ := h["x5t"].(string)
	for _, k := range s {
		if (kid != "" && k.kid == kid) || (kid == "" && x5t != "" && k.x5t == x5t) {
			return k.pub, nil
		}
	}
	if kid == "" && x5t == "" && len(s) == 1 {
		return s[0].pub, nil
	}
	if kid == "" {
		return nil, errors.New("the token names no key (no kid) that is in the JWKS")
	}
	return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
}
