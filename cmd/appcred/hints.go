package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/internal/wire"
)

// exclusiveFlags refuses "appcred token" flags that contradict each other,
// saying why in words rather than with cobra's flag-group text.
func exclusiveFlags(f tokenFlags) error {
	switch {
	case f.secretEnv != "" && f.certFile != "":
		return errors.New("--secret-env and --certificate both given: the app proves its identity with one, " +
			"a client secret (--secret-env VAR) or a certificate (--certificate FILE)")
	case f.issuer != "" && (f.authorityHost != "" || f.authority != ""):
		return errors.New("--issuer (a generic OpenID Connect issuer) cannot be combined with --authority or --authority-host (an Entra authority): give one")
	case f.authority != "" && f.authorityHost != "":
		return errors.New("--authority (the whole URL, https://host/{tenant}) and --authority-host (the host, with --tenant) both given: give one")
	}
	return nil
}

// resolveAuthority sets r's authority URL and tenant from --issuer,
// --authority, or the authority host and tenant (flags over environment),
// allowing plain http to a loopback host only with --insecure-loopback.
func resolveAuthority(f tokenFlags, env appcred.EnvironmentConfig, r *tokenRequest) error {
	po := authority.ParseOptions{AllowInsecureLoopback: f.insecureLoopback}
	var info authority.Info
	var err error
	switch {
	case f.issuer != "":
		if f.tenant != "" {
			return errors.New("--tenant cannot be combined with --issuer (a generic issuer has no tenant)")
		}
		if info, err = authority.ParseIssuer(f.issuer, po); err != nil {
			return plainHTTPHint("--issuer", f.issuer, err)
		}
		r.authorityURL = strings.TrimSpace(f.issuer)
		r.opts = append(r.opts, appcred.WithGenericIssuer())
	case f.authority != "":
		if info, err = authority.Parse(f.authority, po); err != nil {
			return plainHTTPHint("--authority", f.authority, err)
		}
		if t := strings.TrimSpace(f.tenant); t != "" && !strings.EqualFold(t, info.Tenant) {
			return fmt.Errorf("--tenant %s differs from the tenant %s in --authority %s: give one", t, info.Tenant, f.authority)
		}
		r.authorityURL, r.tenant, r.scope = info.URL(), info.Tenant, resourceToScope(r.scope)
	default:
		if env.TenantID == "" {
			return errors.New("no tenant: set --tenant or " + appcred.EnvTenantID +
				" (or --authority https://host/{tenant}, or --issuer for a generic OpenID Connect issuer)")
		}
		host := env.AuthorityHost
		if host == "" {
			host = authority.PublicCloud
		}
		if info, err = authority.New(strings.TrimRight(host, "/"), env.TenantID, po); err != nil {
			if u, perr := url.Parse(host); perr == nil && strings.Trim(u.Path, "/") != "" {
				return fmt.Errorf("%w (or give the whole URL to --authority %s)", err, host)
			}
			return plainHTTPHint("--authority-host", host, err)
		}
		r.authorityURL, r.tenant, r.scope = info.URL(), info.Tenant, resourceToScope(r.scope)
	}
	if f.insecureLoopback {
		if info.Scheme != "http" {
			return errors.New("--insecure-loopback is only for a plain-http authority on a loopback address " +
				"(http://127.0.0.1:PORT or http://localhost:PORT); this one uses " + info.Scheme)
		}
		r.opts = append(r.opts, appcred.WithInsecureLoopback())
	}
	return nil
}

// plainHTTPHint names --insecure-loopback when a loopback http URL was
// refused for want of it.
func plainHTTPHint(flag, value string, err error) error {
	if strings.Contains(err.Error(), "AllowInsecureLoopback") {
		return fmt.Errorf("%s %s: plain http is allowed only for a loopback host with --insecure-loopback (for tests; use https otherwise)", flag, strings.TrimSpace(value))
	}
	return err
}

// unreachable turns the failure of a request that never reached the
// authority (refused connection, unknown host, TLS failure, timeout) into one
// short line: where, why, how many attempts. There is no correlation or trace
// id to show, since no authority saw the request.
func unreachable(err error) error {
	var we *wire.Error
	if !errors.As(err, &we) || we.StatusCode != 0 || we.Err == nil || !neverArrived(we.Err) {
		return err // an answer (or one that could not be read), not an unreachable authority
	}
	where := we.Endpoint
	if u, perr := url.Parse(we.Endpoint); perr == nil && u.Host != "" {
		where = u.Scheme + "://" + u.Host
	}
	cause := we.Err
	for next := errors.Unwrap(cause); next != nil; next = errors.Unwrap(cause) {
		cause = next
	}
	msg := strings.TrimSpace(cause.Error())
	if msg == "" {
		msg = we.Err.Error()
	}
	attempts := ""
	if we.Attempts > 1 {
		attempts = fmt.Sprintf(" (%d attempts)", we.Attempts)
	}
	return fmt.Errorf("cannot connect to the authority at %s: %s%s", where, msg, attempts)
}

// caHint adds to a TLS failure for want of a trusted CA what to do: give
// --ca-file, or check the one given.
func caHint(err error, caFile string) error {
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		return err
	}
	if caFile == "" {
		return fmt.Errorf("%w (for the local authority, trust its CA with --ca-file STATE/ca.pem)", err)
	}
	// --ca-file's certificates are parsed at the handshake: name the file.
	return fmt.Errorf("%w (no certificate in --ca-file %s, nor a system root, issued the server's)", err, caFile)
}

// neverArrived reports whether a transport error means the request did not
// reach an authority: no connection, no name, no TLS session, a timeout.
func neverArrived(err error) bool {
	var (
		ne  net.Error
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &ne) || errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &uae) ||
		errors.As(err, &he) || errors.As(err, &cie) || errors.Is(err, context.DeadlineExceeded)
}

// thumbprintHint adds, to an authority's "key not found" answer
// (AADSTS700027), the thumbprints of the certificate appcred sent in the
// forms "appcred cert thumbprint" prints, and how to register it.
func thumbprintHint(err error, r *tokenRequest) error {
	if r.certFile == "" || !appcred.HasCode(err, aadsts.AssertionSignatureInvalid) {
		return err
	}
	leaf, lerr := loadLeaf(r.certFile, r.certPwd)
	if lerr != nil {
		return err
	}
	c := describeCert(leaf)
	return fmt.Errorf("%w\nthe certificate sent (%s): thumbprint %s (SHA-1), x5t#S256 %s, as \"appcred cert thumbprint\" shows them;"+
		" is it registered on app %s? (appcred authority cert add --app %s --cert FILE, or the portal's Certificates & secrets)",
		err, r.certFile, c.Thumbprint, c.X5TS256, r.clientID, r.clientID)
}
