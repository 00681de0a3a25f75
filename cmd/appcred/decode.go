package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/internal/wire"
)

// maxTokenBytes caps the token read from stdin (discovery and JWKS documents
// are capped by wire.Client at wire.MaxBodyBytes).
const (
	maxTokenBytes = 1 << 20
	// maxUnixSeconds bounds iat/nbf/exp (year 5138) so that times stay representable.
	maxUnixSeconds = 1e11
)

func init() { addVerb(newDecodeCmd, "decode") }

func newDecodeCmd() *cobra.Command {
	var jwksURL, authorityURL, caFile, output string
	cmd := &cobra.Command{
		Use:   "decode [TOKEN|-]",
		Short: "Show a JWT's header and claims, its times and expiry, and optionally check its signature",
		Long: `Decode a JWT (an access token) and show its header and claims, iat/nbf/exp as local times, and whether
it has expired. The token is read from the argument, or from stdin for "-" or no argument; a leading
"Authorization: Bearer " is ignored, and JSON input gives its accessToken (or access_token), so
"appcred token | appcred decode" and "appcred token --output header | appcred decode" work.

With --jwks URL, or --authority URL (OIDC discovery: an Entra authority https://host/{tenant} at
{authority}/v2.0/.well-known/openid-configuration, else a generic issuer at
{issuer}/.well-known/openid-configuration), the signature (RS256/384/512, PS256/384/512 or
ES256/384/512) is checked against the issuer's RSA and EC keys; an invalid signature exits with status 1.`,
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
			if sig != nil && !sig.Checked {
				return caHint(errors.New("signature not checked: "+sig.Error), caFile)
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
	if strings.HasPrefix(s, "{") {
		// The JSON "appcred token" prints (az's field names) or an OAuth token response.
		var out struct {
			AZ    string `json:"accessToken"`
			OAuth string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return "", errors.New("the input starts with { but is not JSON: want a token, or the JSON \"appcred token\" prints")
		}
		if s = out.AZ; s == "" {
			s = out.OAuth
		}
		if s == "" {
			return "", errors.New("the JSON input has no accessToken (or access_token) field")
		}
	}
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
	case !s.Checked:
		return "NOT CHECKED: the signing keys could not be fetched (see the error)"
	case s.Valid:
		return fmt.Sprintf("valid (%s, kid %s, keys from %s)", s.Alg, s.KID, s.JWKSURI)
	case s.JWKSURI != "":
		return fmt.Sprintf("NOT VALID: %s (keys from %s)", s.Error, s.JWKSURI)
	default:
		return "NOT VALID: " + s.Error
	}
}

// verifyJWT checks d's signature against the JWKS at jwksURL, or the one
// named by the OIDC discovery of authorityURL (authority.Resolver).
func verifyJWT(ctx context.Context, hc *http.Client, d *decodedJWT, jwksURL, authorityURL string) *sigResult {
	r := &sigResult{Checked: true}
	r.Alg, _ = d.header["alg"].(string)
	r.KID, _ = d.header["kid"].(string)
	wc := wire.New(hc)
	if jwksURL == "" {
		u, err := discoverJWKS(ctx, wc, authorityURL)
		if err != nil {
			r.Checked, r.Error = false, unreachable(err).Error()
			return r
		}
		jwksURL = u
	}
	r.JWKSURI = jwksURL
	if err := verifySignature(ctx, wc, d, jwksURL); err != nil {
		var ke *keysError
		if errors.As(err, &ke) {
			r.Checked, r.Error = false, unreachable(ke.err).Error()
			return r
		}
		r.Error = err.Error()
		return r
	}
	r.Valid = true
	return r
}

// discoverJWKS finds jwks_uri through the library's discovery: authorityURL as
// an Entra authority (https://host/{tenant}) first, then as a generic OpenID
// Connect issuer.
func discoverJWKS(ctx context.Context, wc *wire.Client, authorityURL string) (string, error) {
	res := authority.NewResolver(wc, authority.ResolverOptions{})
	defer res.Close()
	po := authority.ParseOptions{AllowMultiTenant: true} // "common" keys are fine for checking a signature
	var errs []error
	for _, parse := range []func(string, authority.ParseOptions) (authority.Info, error){authority.Parse, authority.ParseIssuer} {
		a, err := parse(authorityURL, po)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ep, err := res.Resolve(ctx, a)
		var we *wire.Error
		switch {
		case err != nil && errors.As(err, &we) && we.StatusCode == 0 && neverArrived(we.Err):
			return "", err // the host is unreachable or untrusted: asking it again as an issuer says the same
		case err != nil:
			errs = append(errs, err)
		case ep.JWKSURI == "":
			errs = append(errs, fmt.Errorf("authority %s: the discovery document has no jwks_uri", a.URL()))
		default:
			return ep.JWKSURI, nil
		}
	}
	return "", fmt.Errorf("OIDC discovery for %s failed: %w", authorityURL, errors.Join(errs...))
}

// signingAlgs are the JWS algorithms a token may be signed with: RSA
// (PKCS#1 v1.5 and PSS) and ECDSA. "none" and HMAC are refused.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512}

// verifySignature checks the token's signature with the JWKS key it names.
// A key the cached set lacks makes one fresh fetch (the issuer may have rotated).
func verifySignature(ctx context.Context, wc *wire.Client, d *decodedJWT, jwksURL string) error {
	alg, _ := d.header["alg"].(string)
	if !slices.Contains(signingAlgs, jose.SignatureAlgorithm(alg)) {
		return fmt.Errorf("algorithm %q is not accepted: want one of %v", alg, signingAlgs)
	}
	jws, err := jose.ParseSignedCompact(d.raw, signingAlgs)
	if err != nil {
		return fmt.Errorf("not a signed JWT: %s", strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
	}
	key, err := jwksKeys.find(ctx, wc, jwksURL, d.header, false)
	if err != nil {
		key, err = jwksKeys.find(ctx, wc, jwksURL, d.header, true)
	}
	if err != nil {
		return err
	}
	if _, err := jws.Verify(key.Key); err != nil {
		return fmt.Errorf("the signature does not match key %q (%s) of the JWKS", key.KeyID, alg)
	}
	return nil
}

// keysError is a failure to fetch a JWKS: the signature could not be checked.
type keysError struct{ err error }

func (e *keysError) Error() string { return e.err.Error() }
func (e *keysError) Unwrap() error { return e.err }

// keyCache holds each JWKS fetched by this process, per URL.
type keyCache struct {
	mu   sync.Mutex
	sets map[string][]jose.JSONWebKey
}

// jwksKeys is the process's key cache.
var jwksKeys = &keyCache{sets: map[string][]jose.JSONWebKey{}}

// find returns the key that a token header names by kid (or x5t); a header
// naming neither matches a JWKS of exactly one key. The set comes from the
// cache, or is fetched when absent or when refresh is set.
func (c *keyCache) find(ctx context.Context, wc *wire.Client, url string, h map[string]any, refresh bool) (jose.JSONWebKey, error) {
	c.mu.Lock()
	keys, ok := c.sets[url]
	c.mu.Unlock()
	if !ok || refresh {
		var err error
		if keys, err = fetchJWKS(ctx, wc, url); err != nil {
			return jose.JSONWebKey{}, err
		}
		c.mu.Lock()
		c.sets[url] = keys
		c.mu.Unlock()
	}
	kid, _ := h["kid"].(string)
	x5t, _ := h["x5t"].(string)
	for _, k := range keys {
		if (kid != "" && k.KeyID == kid) || (kid == "" && x5t != "" && base64.RawURLEncoding.EncodeToString(k.CertificateThumbprintSHA1) == x5t) {
			return k, nil
		}
	}
	switch {
	case kid == "" && x5t == "" && len(keys) == 1:
		return keys[0], nil
	case kid == "":
		return jose.JSONWebKey{}, errors.New("the token names no key (no kid) that is in the JWKS")
	}
	return jose.JSONWebKey{}, fmt.Errorf("kid %q is not in the JWKS", kid)
}

// fetchJWKS returns the public signing keys of the JWKS at url, skipping
// keys go-jose cannot read (unknown types) and encryption keys.
func fetchJWKS(ctx context.Context, wc *wire.Client, url string) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := wc.GetJSON(ctx, url, &doc); err != nil {
		return nil, &keysError{fmt.Errorf("fetching the JWKS: %w", err)}
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.Valid() || !k.IsPublic() || k.Use == "enc" {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the JWKS at %s has no RSA or EC signing keys", url)
	}
	return keys, nil
}
