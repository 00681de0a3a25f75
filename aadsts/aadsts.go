// Package aadsts names Microsoft Entra ID's AADSTS error codes: the numbers in
// an error response's "error_codes" and at the start of its
// "error_description" ("AADSTS7000215: Invalid client secret provided."). The
// client side (appcred.ResponseError) reads them and the local authority (sts)
// answers with them, both as a Code.
package aadsts

import "strconv"

// Code is an AADSTS error code, e.g. 7000215 (InvalidClientSecret).
type Code int

// String returns the code as Entra writes it, e.g. "AADSTS7000215".
func (c Code) String() string { return "AADSTS" + strconv.Itoa(int(c)) }

// The AADSTS codes appcred's local authority answers with and its clients test
// for (entra-protocol.md §5.3). The comment gives the OAuth error (and HTTP
// status when it is not 400) Entra sends with each.
const (
	// InvalidCredentials: invalid_client (401), error validating credentials.
	InvalidCredentials Code = 70002
	// UnsupportedGrantType: unsupported_grant_type, the grant type is not supported.
	UnsupportedGrantType Code = 70003
	// InvalidScope: invalid_scope, the scope is not valid.
	InvalidScope Code = 70011
	// AssertionAudienceMismatch: invalid_client (401), the client assertion's
	// audience does not match the token endpoint.
	AssertionAudienceMismatch Code = 50012
	// InvalidJWT: invalid_client (401), the client assertion is not a valid JWT.
	InvalidJWT Code = 50027
	// AssertionSubjectMismatch: invalid_client (401), the client assertion's
	// subject does not match its issuer.
	AssertionSubjectMismatch Code = 50048
	// UserAssertionInvalid: invalid_grant, the on-behalf-of user assertion
	// failed signature validation, is for another audience or tenant, or is
	// not a user token.
	UserAssertionInvalid Code = 50013
	// UserStrongAuthEnrollmentRequired: interaction_required, a
	// conditional-access policy of the resource requires multi-factor
	// authentication; the error carries a claims challenge ("polids") for the
	// user's client to satisfy.
	UserStrongAuthEnrollmentRequired Code = 50079
	// InvalidUserCredentials: invalid_grant, invalid user name or password.
	InvalidUserCredentials Code = 50126
	// ConsentRequired: invalid_grant (suberror consent_required), the app is
	// not consented to any of the delegated scopes asked for.
	ConsentRequired Code = 65001
	// InvalidGrant: invalid_grant, the refresh token or assertion is not valid.
	InvalidGrant Code = 70000
	// UnknownInstance: invalid_instance, the authority host is unknown or invalid.
	UnknownInstance Code = 50049
	// TenantNotFound: invalid_request, the tenant does not exist.
	TenantNotFound Code = 90002
	// RequestTooLarge: invalid_request, the request body is too large.
	RequestTooLarge Code = 90015
	// InternalError: temporarily_unavailable, the authority failed internally.
	InternalError Code = 90033
	// UnsupportedEndpoint: invalid_request, the endpoint is not offered here.
	UnsupportedEndpoint Code = 90051
	// EndpointNotFound: invalid_request, no such endpoint.
	EndpointNotFound Code = 90056
	// InvalidParameter: invalid_request, a parameter is empty or not valid
	// (for example malformed claims, or a claims "nbf" too far in the future).
	InvalidParameter Code = 90100
	// UserAssertionTimeRange: invalid_grant, the on-behalf-of user assertion
	// is not within its valid time range.
	UserAssertionTimeRange Code = 500133
	// ResourceNotFound: invalid_resource, the resource principal was not found.
	ResourceNotFound Code = 500011
	// AppNotFound: unauthorized_client, the application is not in the directory.
	AppNotFound Code = 700016
	// AssertionIssuerMismatch: invalid_client (401), the client assertion's
	// issuer or subject is not the client id.
	AssertionIssuerMismatch Code = 700021
	// MultipleResources: invalid_scope, the scopes name more than one resource.
	MultipleResources Code = 700022
	// AssertionTimeRange: invalid_client (401), the client assertion is not
	// within its valid time range.
	AssertionTimeRange Code = 700024
	// AssertionSignatureInvalid: invalid_client (401), the client assertion
	// failed signature validation.
	AssertionSignatureInvalid Code = 700027
	// MissingParameter: invalid_request, the body must contain a parameter.
	MissingParameter Code = 900144
	// MethodNotPOST: invalid_request, the endpoint only accepts POST.
	MethodNotPOST Code = 900561
	// ScopeNotDefault: invalid_scope, client credentials need a "/.default" scope.
	ScopeNotDefault Code = 1002012
	// InvalidClientSecret: invalid_client (401), the client secret is invalid
	// (wrong or expired).
	InvalidClientSecret Code = 7000215
	// ClientSecretExpired: invalid_client (401), the client secret is one of
	// the app's, but expired (InvalidClientSecretExpiredKeysProvided).
	ClientSecretExpired Code = 7000222
	// MissingClientCredential: invalid_client (401), the request has neither
	// client_assertion nor client_secret.
	MissingClientCredential Code = 7000218
	// CommonTenantNotSupported: the grant type is not supported over the
	// /common or /consumers endpoints.
	CommonTenantNotSupported Code = 9001023
)
