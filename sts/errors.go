package sts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is an error the authority answers with, in Entra ID's shape: an OAuth
// "error" value, an AADSTS code, an HTTP status and a description. Descriptions
// never contain secrets, assertions or tokens.
type Error struct {
	// Status is the HTTP status code of the response.
	Status int
	// OAuth is the OAuth 2.0 "error" value, such as "invalid_client".
	OAuth string
	// Codes are the AADSTS numbers, the first one leading the description.
	Codes []int
	// Message is the text after "AADSTSnnnn: ".
	Message string
}

// Error renders "AADSTSnnnn: message", or just the message (or the OAuth
// error) when Codes is empty.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.OAuth
	}
	if len(e.Codes) == 0 {
		return msg
	}
	return "AADSTS" + strconv.Itoa(e.Codes[0]) + ": " + msg
}

// Code returns the leading AADSTS number, or 0 when Codes is empty.
func (e *Error) Code() int {
	if len(e.Codes) == 0 {
		return 0
	}
	return e.Codes[0]
}

func newErr(status int, oauth string, code int, format string, args ...any) *Error {
	return &Error{Status: status, OAuth: oauth, Codes: []int{code}, Message: fmt.Sprintf(format, args...)}
}

// The AADSTS codes this authority answers with (entra-protocol.md §5.3).
const (
	codeTenantNotFound      = 90002   // invalid_request: unknown tenant
	codeCommonTenant        = 9001023 // grant type not supported over /common
	codeMissingParameter    = 900144  // invalid_request: the body must contain a parameter
	codeUnsupportedGrant    = 70003   // unsupported_grant_type
	codeAppNotFound         = 700016  // unauthorized_client: application not found in the directory
	codeInvalidSecret       = 7000215 // invalid_client (401): invalid client secret
	codeNoCredential        = 7000218 // invalid_client (401): need client_assertion or client_secret
	codeCredentialsInvalid  = 70002   // invalid_client (401): error validating credentials
	codeInvalidJWT          = 50027   // invalid_client (401): malformed assertion
	codeAssertionSignature  = 700027  // invalid_client (401): assertion failed signature validation
	codeAssertionTime       = 700024  // invalid_client (401): assertion not within its valid time range
	codeAssertionAudience   = 50012   // invalid_client (401): audience does not match
	codeAssertionSubject    = 50048   // invalid_client (401): subject mismatches issuer
	codeInvalidScope        = 70011   // invalid_scope (400)
	codeScopeNotDefault     = 1002012 // invalid_scope (400): client credentials need /.default
	codeMultipleResources   = 700022  // invalid_scope (400): scopes of several resources
	codeResourceNotFound    = 500011  // invalid_resource (400): resource principal not found
	codeNotPOST             = 900561  // invalid_request: the endpoint only accepts POST
	codeBodyTooLarge        = 90015   // invalid_request: request too large
	codeUnknownInstance     = 50049   // invalid_instance: unknown or invalid instance
	codeNotFound            = 90056   // invalid_request: bad endpoint
	codeInternal            = 90033   // temporarily_unavailable: internal error
	codeUnsupportedEndpoint = 90051   // invalid_request: endpoint not offered by this authority
	codeInvalidParameter    = 90100   // invalid_request: a parameter is empty or not valid (malformed claims, or claims nbf beyond ClockSkew in the future)
)

// errorBody is the JSON body of an Entra error (entra-protocol.md §5.2).
type errorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
}

// entraTimestamp formats t as Entra does in error bodies: "2016-01-09 02:02:12Z".
func entraTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// writeError answers with e in Entra's shape. rc carries the trace and
// correlation ids of the request.
func writeError(w http.ResponseWriter, rc *reqCtx, e *Error) {
	ts := entraTimestamp(rc.now)
	code := strconv.Itoa(e.Code())
	codes := e.Codes
	if len(codes) == 0 {
		codes = []int{0}
	}
	body := errorBody{
		Error: e.OAuth,
		Description: e.Error() +
			"\r\nTrace ID: " + rc.traceID +
			"\r\nCorrelation ID: " + rc.correlationID +
			"\r\nTimestamp: " + ts,
		ErrorCodes:    codes,
		Timestamp:     ts,
		TraceID:       rc.traceID,
		CorrelationID: rc.correlationID,
		ErrorURI:      "https://" + rc.host + "/error?code=" + code,
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
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
