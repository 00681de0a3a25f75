// Package wire speaks HTTP to OAuth2 authorities on behalf of appcred: it posts
// token requests as forms, fetches discovery documents, retries transient
// failures (429, 500, 502, 503, 504 and transport errors) with jittered
// exponential backoff that honours Retry-After and never sleeps past the
// context deadline, caps response bodies at 1 MiB, and turns every failure into
// one typed error, *Error, carrying what the authority said (status, OAuth
// error, AADSTS codes, trace and correlation ids, Retry-After).
//
// Nothing in this package ever formats request form values, request headers or
// response tokens into an error, log line or panic.
package wire
