package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appcred/appcred/aadsts"
)

// Sentinel causes carried in Error.Err. Test for them with errors.Is.
var (
	// ErrBodyTooLarge means the response body exceeded MaxBodyBytes.
	ErrBodyTooLarge = errors.New("response body exceeds 1 MiB limit")
	// ErrTruncatedBody means the connection ended before the whole body arrived.
	ErrTruncatedBody = errors.New("response body truncated")
	// ErrNotJSON means the response body is not a JSON object.
	ErrNotJSON = errors.New("response body is not JSON")
	// ErrInvalidResponse means the body is JSON but a field has the wrong type
	// or a required field is missing.
	ErrInvalidResponse = errors.New("invalid token response")
)

// Error is the one error type for every failed request made through a Client:
// an authority's OAuth/Entra error response, a non-2xx status without a usable
// body, an undecodable or oversized body, or a transport failure (in Err).
// The root package hands it to callers as appcred.ResponseError, which has the
// same fields and documents each one.
//
// Error never holds request form values or tokens, so its text is safe to log.
type Error struct {
	// The request: its operation ("token request", "discovery request"), its
	// endpoint without query or user info, the HTTP status (0 when no response
	// arrived), how many attempts were made, and how long the authority asked
	// the client to wait (Retry-After, retry-after-ms or x-ms-retry-after-ms).
	Op, Endpoint         string
	StatusCode, Attempts int
	RetryAfter           time.Duration
	// The error body (entra-protocol.md §5.2): "error", "suberror",
	// "error_description", "error_codes", "trace_id" (else the x-ms-request-id
	// header), "correlation_id" (else the echoed client-request-id),
	// "timestamp", "error_uri" and the "claims" challenge.
	OAuthError, SubError, Description                   string
	Codes                                               []aadsts.Code
	TraceID, CorrelationID, Timestamp, ErrorURI, Claims string
	// Err is the cause of a transport or decoding failure (ErrBodyTooLarge,
	// ErrNotJSON, a net error, …); nil for a plain error response.
	Err error
}

// Error returns a one-line summary: operation, endpoint, status, OAuth error,
// AADSTS code and the first line of the description, trace and correlation ids.
func (e *Error) Error() string {
	var b strings.Builder
	op := e.Op
	if op == "" {
		op = "request"
	}
	b.WriteString(op)
	if e.Endpoint != "" {
		b.WriteString(" to ")
		b.WriteString(e.Endpoint)
	}
	b.WriteString(" failed:")
	if e.StatusCode != 0 {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	if code := oneLine(e.OAuthError, 100); code != "" {
		b.WriteString(" ")
		b.WriteString(code)
	}
	if sub := oneLine(e.SubError, 100); sub != "" {
		b.WriteString(" (")
		b.WriteString(sub)
		b.WriteString(")")
	}
	desc := firstLine(e.Description, maxDescription)
	if desc != "" {
		b.WriteString(" ")
		if len(e.Codes) > 0 && !strings.HasPrefix(desc, "AADSTS") {
			b.WriteString(e.Codes[0].String() + ": ")
		}
		b.WriteString(desc)
	} else if len(e.Codes) > 0 {
		b.WriteString(" " + e.Codes[0].String())
	}
	if e.Err != nil {
		if strings.HasSuffix(b.String(), ":") { // "failed:" with no status or code before the cause
			b.WriteString(" ")
		} else {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if e.StatusCode == 0 && e.Err == nil && oneLine(e.OAuthError, 100) == "" {
		b.WriteString(" unknown error")
	}
	var ids []string
	if id := oneLine(e.TraceID, 100); id != "" {
		ids = append(ids, "trace "+id)
	}
	if id := oneLine(e.CorrelationID, 100); id != "" {
		ids = append(ids, "correlation "+id)
	}
	if e.RetryAfter > 0 {
		ids = append(ids, "retry after "+e.RetryAfter.String())
	}
	if e.Attempts > 1 {
		ids = append(ids, strconv.Itoa(e.Attempts)+" attempts")
	}
	if len(ids) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(ids, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// HasCode reports whether the AADSTS code appears in e.Codes.
func (e *Error) HasCode(code aadsts.Code) bool {
	return e != nil && slices.Contains(e.Codes, code)
}

// HasCode reports whether err is (or wraps) an *Error carrying AADSTS code.
func HasCode(err error, code aadsts.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.HasCode(code)
}

// maxDescription bounds the description text copied into Error() output.
const maxDescription = 400

// firstLine returns s up to the first line break (Entra appends "\r\nTrace ID: …").
func firstLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return oneLine(s, max)
}

// oneLine removes control characters from s, trims it and bounds its length
// to max bytes (cut on a rune boundary, "…" appended).
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// errorBody is the JSON shape of an OAuth2 / Entra error response (entra-protocol.md §5.2).
type errorBody struct {
	Error         string          `json:"error"`
	SubError      string          `json:"suberror"`
	Description   string          `json:"error_description"`
	Codes         []Number        `json:"error_codes"`
	Timestamp     string          `json:"timestamp"`
	TraceID       string          `json:"trace_id"`
	CorrelationID string          `json:"correlation_id"`
	ErrorURI      string          `json:"error_uri"`
	Claims        json.RawMessage `json:"claims"`
}

// ParseError decodes an OAuth2 / Entra error body into e's fields. It returns
// ErrNotJSON (wrapped) when body is not a JSON object and ErrInvalidResponse
// (wrapped) when a field has the wrong type. e's other fields are left alone.
func ParseError(body []byte, e *Error) error {
	var eb errorBody
	if err := decodeObject(body, &eb); err != nil {
		return err
	}
	e.OAuthError = eb.Error
	e.SubError = eb.SubError
	e.Description = eb.Description
	e.Timestamp = eb.Timestamp
	e.ErrorURI = eb.ErrorURI
	if eb.TraceID != "" {
		e.TraceID = eb.TraceID
	}
	if eb.CorrelationID != "" {
		e.CorrelationID = eb.CorrelationID
	}
	e.Codes = nil
	for _, c := range eb.Codes {
		e.Codes = append(e.Codes, aadsts.Code(c))
	}
	e.Claims = rawString(eb.Claims)
	return nil
}

// rawString returns a JSON string's value, or the compact raw text of any other
// JSON value (an object sent unquoted), or "" for null / absent.
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// decodeObject unmarshals a JSON object body into v, mapping failures onto
// ErrNotJSON / ErrInvalidResponse with a message that names the field but
// never quotes values.
func decodeObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: empty body", ErrNotJSON)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w (%d bytes, starts with %s)", ErrNotJSON, len(body), describeByte(trimmed[0]))
	}
	err := json.Unmarshal(trimmed, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var num *numberError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: malformed JSON at byte %d", ErrNotJSON, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: field %q: JSON %s cannot be decoded as %s", ErrInvalidResponse, typ.Field, typ.Value, typ.Type)
	case errors.As(err, &num):
		return fmt.Errorf("%w: %s", ErrInvalidResponse, num.Error())
	default:
		// encoding/json reports a body cut short as "unexpected end of JSON input".
		return fmt.Errorf("%w: malformed JSON", ErrNotJSON)
	}
}

// describeByte names the first byte of a non-JSON body without echoing content
// beyond one printable character.
func describeByte(b byte) string {
	if b >= 0x21 && b < 0x7f {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

// redactURL returns raw without query, fragment or user info; raw is returned
// as "<invalid URL>" when it does not parse.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String()
}
