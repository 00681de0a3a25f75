package sts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/appcred/appcred/aadsts"
)

// Error is an error the authority answers with, in Entra ID's shape: an OAuth
// "error" value, an AADSTS code, an HTTP status and a description. Descriptions
// never contain secrets, assertions or tokens. A client reads it back as an
// appcred.ResponseError with the same StatusCode, OAuthError and Codes.
type Error struct {
	// StatusCode is the HTTP status code of the response.
	StatusCode int
	// OAuthError is the OAuth 2.0 "error" value, such as "invalid_client".
	OAuthError string
	// Codes are the AADSTS codes, the first one leading the description.
	Codes []aadsts.Code
	// Message is the text after "AADSTSnnnn: ".
	Message string
	// Claims is a claims challenge (a JSON claims request) sent with an
	// interaction_required error, for the user's client to satisfy.
	Claims string
}

// Error renders "AADSTSnnnn: message", or just the message (or the OAuth
// error) when Codes is empty.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.OAuthError
	}
	if len(e.Codes) == 0 {
		return msg
	}
	return e.Codes[0].String() + ": " + msg
}

// Code returns the leading AADSTS code, or 0 when Codes is empty.
func (e *Error) Code() aadsts.Code {
	if len(e.Codes) == 0 {
		return 0
	}
	return e.Codes[0]
}

func newErr(status int, oauth string, code aadsts.Code, format string, args ...any) *Error {
	return &Error{StatusCode: status, OAuthError: oauth, Codes: []aadsts.Code{code}, Message: fmt.Sprintf(format, args...)}
}

// The AADSTS codes this authority answers with (entra-protocol.md §5.3), by
// the names the handlers use; package aadsts holds the numbers.
const (
	codeTenantNotFound      = aadsts.TenantNotFound
	codeCommonTenant        = aadsts.CommonTenantNotSupported
	codeMissingParameter    = aadsts.MissingParameter
	codeUnsupportedGrant    = aadsts.UnsupportedGrantType
	codeAppNotFound         = aadsts.AppNotFound
	codeInvalidSecret       = aadsts.InvalidClientSecret
	codeNoCredential        = aadsts.MissingClientCredential
	codeCredentialsInvalid  = aadsts.InvalidCredentials
	codeInvalidJWT          = aadsts.InvalidJWT
	codeAssertionSignature  = aadsts.AssertionSignatureInvalid
	codeAssertionTime       = aadsts.AssertionTimeRange
	codeAssertionAudience   = aadsts.AssertionAudienceMismatch
	codeAssertionSubject    = aadsts.AssertionSubjectMismatch
	codeInvalidScope        = aadsts.InvalidScope
	codeScopeNotDefault     = aadsts.ScopeNotDefault
	codeMultipleResources   = aadsts.MultipleResources
	codeResourceNotFound    = aadsts.ResourceNotFound
	codeNotPOST             = aadsts.MethodNotPOST
	codeBodyTooLarge        = aadsts.RequestTooLarge
	codeUnknownInstance     = aadsts.UnknownInstance
	codeNotFound            = aadsts.EndpointNotFound
	codeInternal            = aadsts.InternalError
	codeUnsupportedEndpoint = aadsts.UnsupportedEndpoint
	codeInvalidParameter    = aadsts.InvalidParameter
	codeUserAssertion       = aadsts.UserAssertionInvalid
	codeUserAssertionTime   = aadsts.UserAssertionTimeRange
	codeBadUserCredentials  = aadsts.InvalidUserCredentials
	codeConsentRequired     = aadsts.ConsentRequired
	codeInvalidGrant        = aadsts.InvalidGrant
	codeMFARequired         = aadsts.UserStrongAuthEnrollmentRequired
)

// errorBody is the JSON body of an Entra error (entra-protocol.md §5.2).
type errorBody struct {
	Error         string        `json:"error"`
	Description   string        `json:"error_description"`
	ErrorCodes    []aadsts.Code `json:"error_codes"`
	Timestamp     string        `json:"timestamp"`
	TraceID       string        `json:"trace_id"`
	CorrelationID string        `json:"correlation_id"`
	ErrorURI      string        `json:"error_uri"`
	Claims        string        `json:"claims,omitempty"`
}

// entraTimestamp formats t as Entra does in error bodies: "2016-01-09 02:02:12Z".
func entraTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// writeError answers with e in Entra's shape. rc carries the trace and
// correlation ids of the request.
func writeError(w http.ResponseWriter, rc *reqCtx, e *Error) {
	rc.signin.fail(e)
	ts := entraTimestamp(rc.now)
	code := strconv.Itoa(int(e.Code()))
	codes := e.Codes
	if len(codes) == 0 {
		codes = []aadsts.Code{0}
	}
	body := errorBody{
		Error: e.OAuthError,
		Description: e.Error() +
			"\r\nTrace ID: " + rc.traceID +
			"\r\nCorrelation ID: " + rc.correlationID +
			"\r\nTimestamp: " + ts,
		ErrorCodes:    codes,
		Timestamp:     ts,
		TraceID:       rc.traceID,
		CorrelationID: rc.correlationID,
		ErrorURI:      "https://" + rc.host + "/error?code=" + code,
		Claims:        e.Claims,
	}
	b, err := json.Marshal(body)
	if err != nil { // cannot happen: only strings and ints
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(e.StatusCode)
	_, _ = w.Write(b)
}
