package sts

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/signin"
)

// SignInFile is the default name, in the state directory, of the sign-in
// log's JSON Lines file (see Options.SignInFile).
const SignInFile = "signin.jsonl"

// SignInRingSize is how many recent sign-in records the authority keeps in memory.
const SignInRingSize = 1000

// signinLog is where the authority's sign-in records go: the ring (always),
// the slog logger and, when configured, a rotated JSON Lines file.
type signinLog struct {
	ring *signin.Ring
	file *signin.File
	log  *slog.Logger
}

func newSigninLog(opts Options, log *slog.Logger) (*signinLog, error) {
	l := &signinLog{ring: signin.NewRing(SignInRingSize), log: log}
	if opts.SignInFile != "" {
		path := opts.SignInFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(opts.StateDir, path)
		}
		f, err := signin.OpenFile(path, opts.SignInFileMax)
		if err != nil {
			return nil, err
		}
		l.file = f
	}
	return l, nil
}

func (l *signinLog) closeFile() {
	if l.file != nil {
		_ = l.file.Close()
	}
}

// SignIns returns the sign-in records in memory (the last SignInRingSize),
// oldest first, of app (a client id; "" for all) and, with failedOnly, only failures.
func (a *Authority) SignIns(app string, failedOnly bool) []*signin.Record {
	return a.signins.ring.Records(app, failedOnly)
}

// pendingSignin is the sign-in record of a token request being answered,
// with what its hint needs. The handlers fill it through rc.signin.
type pendingSignin struct {
	rec   signin.Record
	snap  *snapshot
	seg   string
	host  string
	start time.Time     // rc.now, with its monotonic reading (rec.Time, in UTC, has none)
	req   *tokenRequest // the parsed form, once read
	err   *Error
	token string // the issued token, read for its claims and then dropped
}

// beginSignin starts the record of a token request.
func (a *Authority) beginSignin(r *http.Request, rc *reqCtx, seg string, v1 bool) *pendingSignin {
	h := r.Header
	p := &pendingSignin{snap: a.current(), seg: seg, host: rc.host, start: rc.now, rec: signin.Record{
		Time: rc.now.UTC(), Tenant: seg, Endpoint: "v2", CorrelationID: rc.correlationID, TraceID: rc.traceID,
		ClientRequestID: clipHeader(h.Get("Client-Request-Id")), SKU: clipHeader(h.Get("X-Client-Sku")),
		SKUVersion: clipHeader(h.Get("X-Client-Ver")), OS: clipHeader(h.Get("X-Client-Os")),
	}}
	if v1 {
		p.rec.Endpoint = "v1"
	}
	rc.signin = p
	return p
}

// tokenPath reports whether path is a token endpoint, and its tenant segment and version.
func tokenPath(path string) (seg string, v1, ok bool) {
	seg, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch rest {
	case "oauth2/v2.0/token":
		return seg, false, true
	case "oauth2/token":
		return seg, true, true
	}
	return "", false, false
}

func clipHeader(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// fail notes the error a token request is answered with; nil-safe, as
// writeError serves every endpoint.
func (p *pendingSignin) fail(e *Error) {
	if p != nil && p.err == nil {
		p.err = e
	}
}

// issued notes the token a request is answered with; nil-safe.
func (p *pendingSignin) issued(tok string) {
	if p != nil {
		p.token = tok
	}
}

// endSignin completes the record and sends it to the ring, the logger and the file.
func (a *Authority) endSignin(p *pendingSignin) {
	rec := &p.rec
	rec.Duration = time.Since(p.start)
	var t *directory.TenantIndex
	if p.snap != nil {
		t = p.snap.dir.Tenant(p.seg)
	}
	if t != nil {
		rec.Tenant = t.ID()
	}
	var app *directory.App
	if req := p.req; req != nil {
		rec.ClientID, rec.Grant = clip(req.clientID), clip(req.grantType)
		rec.Scope, rec.Resource = clip(req.scope), clip(req.resource)
		rec.Auth = authOf(req)
		if t != nil && req.clientID != "" {
			if app = t.App(req.clientID); app != nil {
				rec.AppName = app.DisplayName
			}
		}
	}
	switch {
	case p.err != nil:
		rec.Status, rec.OAuthError, rec.Description = p.err.StatusCode, p.err.OAuthError, p.err.Message
		if c := p.err.Code(); c != 0 {
			rec.Code = c.String()
		}
		rec.Hint = p.hint(t, app)
	case p.token != "":
		rec.Status, rec.Token = http.StatusOK, issuedClaims(p.token)
		p.token = ""
	default:
		rec.Status = http.StatusOK
	}
	l := a.signins
	l.ring.Add(rec)
	rec.Log(l.log)
	if l.file != nil {
		if err := l.file.Write(rec); err != nil {
			l.log.Warn("writing the sign-in log", "err", err)
		}
	}
}

// authOf describes how the client authenticated, without the credential.
func authOf(req *tokenRequest) signin.Auth {
	switch {
	case req.assertion != "":
		return assertionAuth(req.assertion)
	case req.clientSecret != "" && req.basic:
		return signin.Auth{Method: "client_secret_basic", SecretHint: signin.SecretHint(req.clientSecret)}
	case req.clientSecret != "":
		return signin.Auth{Method: "client_secret_post", SecretHint: signin.SecretHint(req.clientSecret)}
	}
	return signin.Auth{Method: "none"}
}

// assertionAuth reads, without verifying, the algorithm, thumbprint and
// issuer of a client assertion.
func assertionAuth(assertion string) signin.Auth {
	au := signin.Auth{Method: "private_key_jwt"}
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(assertion, claims)
	if err != nil {
		return au
	}
	au.Alg, _ = tok.Header["alg"].(string)
	au.Alg = clipHeader(au.Alg)
	if iss, ok := claims["iss"].(string); ok {
		au.Issuer = clip(iss)
	}
	for _, h := range []struct{ name, alg string }{{"x5t#S256", "SHA-256"}, {"x5t", "SHA-1"}} {
		if s, ok := tok.Header[h.name].(string); ok {
			if b, err := proof.DecodeThumbprint(s); err == nil {
				au.Thumbprint, au.ThumbprintAlg = strings.ToUpper(hex.EncodeToString(b)), h.alg
				break
			}
		}
	}
	return au
}

// issuedClaims reads the claims a record shows from a token this authority just signed.
func issuedClaims(tok string) *signin.Issued {
	out := &signin.Issued{}
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 {
		return out
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(b, out)
	}
	return out
}
