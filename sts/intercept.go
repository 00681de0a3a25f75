package sts

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/appcred/appcred/sts/arm"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/intercept"
)

// CABundleFile is the CA bundle intercept mode writes into the state
// directory: the system's roots plus the local CA, for SSL_CERT_FILE and
// REQUESTS_CA_BUNDLE.
const CABundleFile = "ca-bundle.pem"

// interceptMode is the running intercept proxy and where it listens.
type interceptMode struct {
	proxy  *intercept.Proxy
	addr   string // the proxy's host:port
	bundle string // CABundleFile's path
}

// StartIntercept runs intercept mode (Start calls it for Options.Intercept):
// a CONNECT proxy on addr (loopback only) that tunnels Microsoft identity
// hosts (login.microsoftonline.com, regional and national-cloud hosts) to
// this authority, which answers as the host named, and Resource Manager
// hosts (management.azure.com, management.core.windows.net) to the minimal
// Resource Manager of package sts/arm, listing the config's subscriptions;
// every other destination is refused with 403 and logged. It writes
// CABundleFile; InterceptEnv then gives the variables an unmodified app
// needs. The server certificate must cover intercept.CertificateHosts, as it
// does when Options.Intercept was set at Open, and be the local CA's.
func (a *Authority) StartIntercept(addr string) error {
	if a.tls.CAPEM == nil {
		return errors.New("intercept mode needs the local CA: it cannot be used with a caller's TLS certificate")
	}
	leaf := a.tls.Cert.Leaf
	for _, h := range intercept.CertificateHosts() {
		if leaf == nil || leaf.VerifyHostname(h) != nil {
			return fmt.Errorf("intercept mode: the server certificate does not cover %s (set Options.Intercept at Open)", h)
		}
	}
	armHandler, err := arm.Handler(arm.Options{Subscriptions: a.armSubscriptions(), Tenants: a.armTenants(),
		Verify: a.VerifyToken, Logger: a.log})
	if err != nil {
		return fmt.Errorf("intercept mode: subscriptions in the config: %w", err)
	}
	bundle := filepath.Join(a.Dir(), CABundleFile)
	if n, err := intercept.WriteCABundle(bundle, a.tls.CAPEM); err != nil {
		return fmt.Errorf("intercept mode: %w", err)
	} else if n == 0 {
		a.log.Warn("intercept mode: no system roots found; the CA bundle holds only the local CA", "file", bundle)
	}
	ln, err := intercept.Listen(addr)
	if err != nil {
		return err
	}
	idLn, armLn := intercept.NewListener(), intercept.NewListener()
	p := &intercept.Proxy{Identity: idLn.Dial, ARM: armLn.Dial, Logger: a.log}
	a.mu.Lock()
	if a.closed || a.icept != nil {
		a.mu.Unlock()
		_ = ln.Close()
		return errors.New("intercept mode: the authority is closed or already intercepting")
	}
	a.icept = &interceptMode{proxy: p, addr: ln.Addr().String(), bundle: bundle}
	a.mu.Unlock()
	a.goServe(a.newServer(), idLn)
	a.goServe(a.newServerFor(armHandler), armLn)
	go func() {
		if err := p.Serve(ln); err != nil {
			a.log.Error("intercept proxy stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// goServe serves srv on ln in the background, logging why it stopped.
func (a *Authority) goServe(srv *http.Server, ln net.Listener) {
	go func() {
		if err := a.serve(srv, ln); err != nil {
			a.log.Error("serving stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// InterceptAddr is the intercept proxy's address (host:port), or "" when
// intercept mode is off.
func (a *Authority) InterceptAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.icept == nil {
		return ""
	}
	return a.icept.addr
}

// InterceptEnv returns the environment variables that send an unmodified
// app through the intercept proxy and make it trust the local CA (see
// intercept.Env), or nil when intercept mode is off.
func (a *Authority) InterceptEnv() []intercept.Var {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.icept == nil {
		return nil
	}
	return intercept.Env(a.icept.addr, a.icept.bundle, a.tls.CAFile)
}

// interceptIdentityNames are the certificate names of intercept mode the
// authority answers as: all but the Resource Manager hosts, which the
// proxy sends to package arm instead.
func interceptIdentityNames() []string {
	return slices.DeleteFunc(intercept.CertificateHosts(), func(h string) bool {
		return slices.Contains(intercept.ARMHosts(), h)
	})
}

// armSubscriptions converts the config's subscriptions.
func (a *Authority) armSubscriptions() []arm.Subscription {
	out := make([]arm.Subscription, 0, len(a.subs))
	for _, s := range a.subs {
		out = append(out, arm.Subscription{ID: s.ID, DisplayName: s.DisplayName, TenantID: s.Tenant})
	}
	return out
}

// armTenants gives GET /tenants each tenant's first domain, when it has
// one, and warns when no tenant registers Resource Manager (then "az login"
// cannot get its token).
func (a *Authority) armTenants() []arm.Tenant {
	tenants, err := a.List()
	if err != nil {
		a.log.Warn("intercept mode: listing tenants", "err", err)
		return nil
	}
	var out []arm.Tenant
	registered := false
	for _, t := range tenants {
		if len(t.Domains) > 0 {
			out = append(out, arm.Tenant{ID: t.ID, DefaultDomain: t.Domains[0]})
		}
		for _, app := range t.Apps {
			registered = registered || slices.ContainsFunc(app.IdentifierURIs, func(u string) bool {
				return slices.ContainsFunc(armResources, func(r string) bool { return directory.SameResource(u, r) })
			})
		}
	}
	if !registered {
		a.log.Warn("intercept mode: no tenant registers Resource Manager, so tokens for it (az login) fail with "+
			"AADSTS500011; register an app with identifier URI https://management.core.windows.net/ "+
			"(client id "+ARMAppID+")", "state", a.Dir())
	}
	return out
}
