package directory

import (
	"slices"
	"strings"
)

// Apps returns the tenant's apps, by client id.
func (t *TenantIndex) Apps() []*App {
	out := make([]*App, 0, len(t.apps))
	for _, a := range t.apps {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *App) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// TenantIDs returns the ids of the index's tenants, sorted.
func (ix *Index) TenantIDs() []string {
	var out []string
	for _, t := range ix.tenants {
		if !slices.Contains(out, t.id) {
			out = append(out, t.id)
		}
	}
	slices.Sort(out)
	return out
}
