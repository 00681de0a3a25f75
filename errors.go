package appcred

import (
	"errors"
	"slices"
	"time"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/internal/wire"
)

// ResponseError is the error returned when the authority refuses a request or
// cannot be reached (after retries): a token request, or the discovery of the
// authority's endpoints. Read it with errors.As:
//
//	var re *appcred.ResponseError
//	if errors.As(err, &re) && re.HasCode(aadsts.InvalidClientSecret) { … }
//
// Credentials return it wrapped in an *AuthenticationFailedError; a discovery
// failure also matches authority.ErrDiscovery with errors.Is. Its text is one
// line (for a discovery failure, led by the authority's URL) and never
// contains secrets, assertions or tokens: values of the request that an
// authority echoes back are redacted from every field.
type ResponseError struct {
	// Op names the request that failed: "token request" or "discovery request".
	Op string
	// Endpoint is the URL the request went to, without query or user info.
	Endpoint string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// OAuthError is the OAuth 2.0 "error" value, e.g. "invalid_client".
	OAuthError string
	// SubError is Entra's "suberror" value, e.g. "token_expired".
	SubError string
	// Codes are Entra's AADSTS codes from "error_codes", e.g.
	// aadsts.InvalidClientSecret (AADSTS7000215).
	Codes []aadsts.Code
	// Description is "error_description" (Entra appends trace lines after \r\n).
	Description string
	// TraceID is Entra's "trace_id" (or the x-ms-request-id header).
	TraceID string
	// CorrelationID is "correlation_id" (or the echoed client-request-id).
	CorrelationID string
	// Timestamp is Entra's "timestamp" as sent, e.g. "2016-01-09 02:02:12Z".
	Timestamp string
	// ErrorURI is "error_uri".
	ErrorURI string
	// Claims is the "claims" challenge (a JSON document) of a conditional-access
	// error; pass it to WithClaims (or TokenRequestOptions.Claims) to answer it.
	Claims string
	// RetryAfter is how long the authority asked the client to wait
	// (Retry-After, retry-after-ms or x-ms-retry-after-ms), 0 when it did not say.
	RetryAfter time.Duration
	// Attempts is how many HTTP attempts were made, retries included.
	Attempts int
	// Err is the cause of a failure without a usable answer: a transport
	// error, or a body that is too large, cut short or not JSON. It is nil
	// when the authority answered with an error response.
	Err error

	failure error // what appcred's layers returned, which this error stands for
}

// Error returns the failure's one-line text: operation, endpoint, status,
// OAuth error, leading AADSTS code, the first line of the description, the
// cause, trace and correlation ids (prefixed by the authority when discovery
// failed).
func (e *ResponseError) Error() string {
	if e.failure != nil {
		return e.failure.Error()
	}
	// A ResponseError made outside appcred (e.g. by a test double).
	w := wire.Error{Op: e.Op, Endpoint: e.Endpoint, StatusCode: e.StatusCode, OAuthError: e.OAuthError,
		SubError: e.SubError, Codes: e.Codes, Description: e.Description, TraceID: e.TraceID,
		CorrelationID: e.CorrelationID, RetryAfter: e.RetryAfter, Attempts: e.Attempts, Err: e.Err}
	return w.Error()
}

// Unwrap returns the failure this error stands for, so errors.Is reaches
// authority.ErrDiscovery and the cause.
func (e *ResponseError) Unwrap() error {
	if e.failure != nil {
		return e.failure
	}
	return e.Err
}

// HasCode reports whether the AADSTS code appears in e.Codes.
func (e *ResponseError) HasCode(code aadsts.Code) bool {
	return e != nil && slices.Contains(e.Codes, code)
}

// HasCode reports whether err is or wraps a *ResponseError carrying the AADSTS
// code, e.g. aadsts.InvalidClientSecret.
func HasCode(err error, code aadsts.Code) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.HasCode(code)
}

// responseError returns err as a *ResponseError when what the authority said
// (an internal *wire.Error) is in its chain, and err unchanged otherwise. It is
// applied where errors leave the Client, so every caller sees one public type;
// the result wraps err, so its text and its errors.Is / errors.As chain stay
// err's.
func responseError(err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		return err
	}
	if re := (*ResponseError)(nil); errors.As(err, &re) {
		return err
	}
	return &ResponseError{Op: we.Op, Endpoint: we.Endpoint, StatusCode: we.StatusCode, OAuthError: we.OAuthError,
		SubError: we.SubError, Codes: we.Codes, Description: we.Description, TraceID: we.TraceID,
		CorrelationID: we.CorrelationID, Timestamp: we.Timestamp, ErrorURI: we.ErrorURI, Claims: we.Claims,
		RetryAfter: we.RetryAfter, Attempts: we.Attempts, Err: we.Err, failure: err}
}
