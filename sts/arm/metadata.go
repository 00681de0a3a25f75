package arm

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// cloudsJSON holds, for each Azure cloud, its Resource Manager hosts and
// what /metadata/endpoints says about it (the values azure-cli knows).
//
//go:embed clouds.json
var cloudsJSON []byte

// cloud is one entry of clouds.json.
type cloud struct {
	Name            string            `json:"name"`
	Hosts           []string          `json:"hosts"`
	Portal          string            `json:"portal"`
	LoginEndpoint   string            `json:"loginEndpoint"`
	ResourceManager string            `json:"resourceManager"`
	Gallery         string            `json:"gallery"`
	Graph           string            `json:"graph"`
	MicrosoftGraph  string            `json:"microsoftGraphResourceId"`
	Batch           string            `json:"batch"`
	SQLManagement   string            `json:"sqlManagement"`
	Media           string            `json:"media"`
	Audiences       []string          `json:"audiences"`
	Suffixes        map[string]string `json:"suffixes"`
}

// clouds are the clouds of clouds.json, the first the public cloud; parsed on
// first use, not when a program that links the package starts.
var clouds = sync.OnceValue(func() []cloud {
	var cs []cloud
	if err := json.Unmarshal(cloudsJSON, &cs); err != nil || len(cs) == 0 {
		panic(fmt.Sprintf("arm: clouds.json holds %d clouds: %v", len(cs), err)) // a build defect, caught by every test
	}
	return cs
})

// Hosts returns the Resource Manager hosts of every cloud (management.azure.com,
// management.core.windows.net and the national clouds' equivalents): the
// hosts the intercept proxy tunnels to these endpoints.
func Hosts() []string {
	var out []string
	for _, c := range clouds() {
		out = append(out, c.Hosts...)
	}
	return out
}

// cloudFor is the cloud whose Resource Manager host hostport names; any
// other host (the authority's own, served directly) gets the public cloud
// with that host as its Resource Manager and login (when set) as its login
// endpoint.
func cloudFor(hostport, login string) cloud {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, c := range clouds() {
		if slices.Contains(c.Hosts, host) {
			return c
		}
	}
	c := clouds()[0]
	if login != "" {
		c.LoginEndpoint = login
	}
	if hostport != "" {
		c.ResourceManager = "https://" + hostport + "/"
	}
	return c
}

// metadata answers GET /metadata/endpoints: before api-version 2019-05-01
// the single-object shape `az cloud register` reads (galleryEndpoint,
// graphEndpoint, portalEndpoint, authentication.loginEndpoint and
// audiences), from 2019-05-01 on an array of cloud objects in the shape
// azure-cli's ARM_CLOUD_METADATA_URL and the SDKs read.
func (h *handler) metadata(w http.ResponseWriter, r *http.Request) {
	c := cloudFor(r.Host, h.o.LoginEndpoint)
	if r.URL.Query().Get("api-version") < "2019-05-01" {
		writeJSON(w, http.StatusOK, map[string]any{
			"galleryEndpoint": c.Gallery, "graphEndpoint": c.Graph, "portalEndpoint": c.Portal,
			"authentication": map[string]any{"loginEndpoint": c.LoginEndpoint, "audiences": c.Audiences},
		})
		return
	}
	writeJSON(w, http.StatusOK, []any{map[string]any{
		"name": c.Name, "portal": c.Portal, "resourceManager": c.ResourceManager,
		"authentication": map[string]any{"loginEndpoint": c.LoginEndpoint, "audiences": c.Audiences,
			"tenant": "common", "identityProvider": "AAD"},
		"gallery": c.Gallery, "graph": c.Graph, "graphAudience": c.Graph, "microsoftGraphResourceId": c.MicrosoftGraph,
		"batch": c.Batch, "sqlManagement": c.SQLManagement, "media": c.Media, "suffixes": c.Suffixes,
		"vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
	}})
}
