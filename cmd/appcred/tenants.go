package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/appcred/appcred/sts/directory"
)

// tenantFor resolves an admin verb's --tenant: the value given, else the
// directory's only tenant; several or none is an error naming the flag and
// the tenants.
func tenantFor(st *directory.State, tenant string) (string, error) {
	if tenant != "" {
		return tenant, nil
	}
	ts, err := st.List()
	if err != nil {
		return "", err
	}
	switch len(ts) {
	case 0:
		return "", errors.New("the directory has no tenant yet: add one with \"appcred authority tenant add\" " +
			"(\"appcred authority serve\" seeds one in a new state)")
	case 1:
		return ts[0].ID, nil
	}
	return "", fmt.Errorf("the directory has %d tenants; name one with --tenant: %s", len(ts), tenantNames(ts))
}

// openWithTenant opens the state of an admin verb and resolves its --tenant
// in place (see tenantFor).
func openWithTenant(state string, tenant *string) (*directory.State, error) {
	st, err := openState(state)
	if err != nil {
		return nil, err
	}
	if *tenant, err = tenantFor(st, *tenant); err != nil {
		return nil, err
	}
	return st, nil
}

// tenantNames lists tenants as "id (domain, ...)", comma-separated.
func tenantNames(ts []directory.Tenant) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.ID
		if len(t.Domains) > 0 {
			names[i] += " (" + strings.Join(t.Domains, ", ") + ")"
		}
	}
	return strings.Join(names, ", ")
}

// existingTenant checks that --tenant names a tenant of the directory (by id
// or domain) unless create allows a new one.
func existingTenant(st *directory.State, tenant string, create bool) error {
	if tenant == "" || create {
		return nil
	}
	ts, err := st.List()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if strings.EqualFold(t.ID, tenant) || slices.ContainsFunc(t.Domains, func(d string) bool { return strings.EqualFold(d, tenant) }) {
			return nil
		}
	}
	return fmt.Errorf("--tenant %s: no such tenant (the directory has: %s); add --create-tenant to make a new tenant with this id", tenant, tenantNames(ts))
}
