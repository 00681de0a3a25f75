// Package signin is the local authority's sign-in log: one Record per token
// request (who asked, for what, how the client proved itself, what it got or
// why it was refused, with a hint that names the fix), kept in a bounded Ring
// that followers subscribe to, written to slog and to a size-rotated JSON
// Lines File. A Record never holds a secret, password, assertion or token:
// secrets appear as their first characters (the hint Entra shows),
// certificates by thumbprint, assertions by header and issuer, tokens by the
// claims a developer needs (aud, roles/scp, ver, exp, uti).
package signin

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Record is one token request and its outcome.
type Record struct {
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// Tenant is the tenant id, or the path segment when no tenant matched.
	Tenant string `json:"tenant"`
	// ClientID is the client id the request named.
	ClientID string `json:"client_id,omitempty"`
	// AppName is the display name of the app, when the client id is registered.
	AppName string `json:"app_name,omitempty"`
	// Grant is the grant_type.
	Grant string `json:"grant,omitempty"`
	// Resource is the v1 "resource" parameter.
	Resource string `json:"resource,omitempty"`
	// Scope is the "scope" parameter.
	Scope string `json:"scope,omitempty"`
	// Endpoint is "v1" or "v2".
	Endpoint string `json:"endpoint"`
	// Auth is how the client authenticated.
	Auth Auth `json:"auth"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Code is the AADSTS code of a failure, such as "AADSTS7000215".
	Code string `json:"code,omitempty"`
	// OAuthError is the OAuth "error" of a failure, such as "invalid_client".
	OAuthError string `json:"error,omitempty"`
	// Description is the error description (without trace lines).
	Description string `json:"description,omitempty"`
	// Hint says what to change to make a failed request succeed.
	Hint string `json:"hint,omitempty"`
	// Token describes the issued token of a success.
	Token *Issued `json:"token,omitempty"`
	// CorrelationID is the correlation id (the client-request-id when valid).
	CorrelationID string `json:"correlation_id"`
	// TraceID is the trace id of the answer (X-Ms-Request-Id).
	TraceID string `json:"trace_id"`
	// ClientRequestID is the client-request-id header as sent (clipped).
	ClientRequestID string `json:"client_request_id,omitempty"`
	// Duration is how long the authority took to answer.
	Duration time.Duration `json:"duration_ns"`
	// SKU is the client's x-client-SKU header (its library).
	SKU string `json:"client_sku,omitempty"`
	// SKUVersion is the client's x-client-VER header.
	SKUVersion string `json:"client_ver,omitempty"`
	// OS is the client's x-client-OS header.
	OS string `json:"client_os,omitempty"`
}

// Auth is how a client authenticated, never the credential itself.
type Auth struct {
	// Method is "client_secret_post", "client_secret_basic", "private_key_jwt" or "none".
	Method string `json:"method"`
	// SecretHint is the first characters of the presented secret (as Entra's hint).
	SecretHint string `json:"secret_hint,omitempty"`
	// Alg is the assertion's signing algorithm.
	Alg string `json:"alg,omitempty"`
	// Thumbprint is the certificate thumbprint the assertion names, upper-case hex.
	Thumbprint string `json:"thumbprint,omitempty"`
	// ThumbprintAlg is "SHA-256" (x5t#S256) or "SHA-1" (x5t).
	ThumbprintAlg string `json:"thumbprint_alg,omitempty"`
	// Issuer is the assertion's iss (the client id, or a federated issuer).
	Issuer string `json:"issuer,omitempty"`
}

// Issued is what a success handed out, from the token's claims.
type Issued struct {
	// Aud is the token's audience.
	Aud string `json:"aud"`
	// Roles are the app roles in the token (app tokens).
	Roles []string `json:"roles,omitempty"`
	// Scp are the delegated scopes in the token (user tokens), space-separated.
	Scp string `json:"scp,omitempty"`
	// Ver is the token version, "1.0" or "2.0".
	Ver string `json:"ver"`
	// Exp is the token's expiry, in Unix seconds.
	Exp int64 `json:"exp"`
	// Uti is the token's unique id, which names it in support cases.
	Uti string `json:"uti"`
}

// Failed reports whether the request was refused.
func (r *Record) Failed() bool { return r.Status >= 400 }

// Outcome is "success" or the AADSTS code (or HTTP status) of a failure.
func (r *Record) Outcome() string {
	switch {
	case !r.Failed():
		return "success"
	case r.Code != "":
		return r.Code
	}
	return "HTTP " + strconv.Itoa(r.Status)
}

// Matches reports whether the record is of the app (client id, any case;
// "" matches all) and, with failedOnly, a failure.
func (r *Record) Matches(app string, failedOnly bool) bool {
	return (!failedOnly || r.Failed()) && (app == "" || strings.EqualFold(r.ClientID, app))
}

// Attrs are the record as slog attributes, in the order a person reads them.
func (r *Record) Attrs() []slog.Attr {
	at := []slog.Attr{
		slog.String("outcome", r.Outcome()),
		slog.Int("status", r.Status),
		slog.String("tenant", r.Tenant),
		slog.String("client_id", r.ClientID),
	}
	at = appendStr(at, "app", r.AppName)
	at = appendStr(at, "grant", r.Grant)
	at = appendStr(at, "resource", r.Resource)
	at = appendStr(at, "scope", r.Scope)
	at = append(at, slog.String("auth", r.Auth.Method))
	at = appendStr(at, "secret_hint", r.Auth.SecretHint)
	at = appendStr(at, "alg", r.Auth.Alg)
	at = appendStr(at, "thumbprint", r.Auth.Thumbprint)
	at = appendStr(at, "thumbprint_alg", r.Auth.ThumbprintAlg)
	at = appendStr(at, "assertion_iss", r.Auth.Issuer)
	if t := r.Token; t != nil {
		at = append(at, slog.String("aud", t.Aud), slog.Any("roles", t.Roles))
		at = appendStr(at, "scp", t.Scp)
		at = append(at, slog.String("ver", t.Ver), slog.Int64("exp", t.Exp), slog.String("uti", t.Uti))
	}
	at = appendStr(at, "description", r.Description)
	at = appendStr(at, "hint", r.Hint)
	at = append(at, slog.String("correlation_id", r.CorrelationID), slog.String("trace_id", r.TraceID))
	at = appendStr(at, "client_request_id", r.ClientRequestID)
	at = append(at, slog.Duration("duration", r.Duration))
	at = appendStr(at, "client_sku", r.SKU)
	at = appendStr(at, "client_ver", r.SKUVersion)
	return appendStr(at, "client_os", r.OS)
}

func appendStr(at []slog.Attr, k, v string) []slog.Attr {
	if v == "" {
		return at
	}
	return append(at, slog.String(k, v))
}

// Log writes r to l at Info ("sign-in", or "sign-in failed" at Warn), if enabled.
func (r *Record) Log(l *slog.Logger) {
	level, msg := slog.LevelInfo, "sign-in"
	if r.Failed() {
		level, msg = slog.LevelWarn, "sign-in failed"
	}
	if l.Enabled(context.Background(), level) {
		l.LogAttrs(context.Background(), level, msg, r.Attrs()...)
	}
}
