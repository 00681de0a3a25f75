package arm

import (
	"net"
	"net/http"
	"strings"
)

// cloud is what /metadata/endpoints says about one Azure cloud (the values
// azure-cli knows for it).
type cloud struct {
	Name, Portal, LoginEndpoint, ResourceManager, Gallery, Graph, MicrosoftGraph, Batch, SQLManagement, Media string
	Audiences                                                                                                 []string
	Storage, KeyVaultDNS, SQLServerHostname, ACRLoginServer                                                   string
}

var (
	publicCloud = cloud{
		Name: "AzureCloud", Portal: "https://portal.azure.com", LoginEndpoint: "https://login.microsoftonline.com/",
		ResourceManager: "https://management.azure.com/", Gallery: "https://gallery.azure.com/",
		Graph: "https://graph.windows.net/", MicrosoftGraph: "https://graph.microsoft.com/",
		Batch: "https://batch.core.windows.net/", SQLManagement: "https://management.core.windows.net:8443/",
		Media:     "https://rest.media.azure.net",
		Audiences: []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		Storage:   "core.windows.net", KeyVaultDNS: "vault.azure.net", SQLServerHostname: "database.windows.net",
		ACRLoginServer: "azurecr.io",
	}
	usGovCloud = cloud{
		Name: "AzureUSGovernment", Portal: "https://portal.azure.us", LoginEndpoint: "https://login.microsoftonline.us/",
		ResourceManager: "https://management.usgovcloudapi.net/", Gallery: "https://gallery.usgovcloudapi.net/",
		Graph: "https://graph.windows.net/", MicrosoftGraph: "https://graph.microsoft.us/",
		Batch: "https://batch.core.usgovcloudapi.net/", SQLManagement: "https://management.core.usgovcloudapi.net:8443/",
		Media:     "https://rest.media.usgovcloudapi.net",
		Audiences: []string{"https://management.core.usgovcloudapi.net/", "https://management.usgovcloudapi.net/"},
		Storage:   "core.usgovcloudapi.net", KeyVaultDNS: "vault.usgovcloudapi.net",
		SQLServerHostname: "database.usgovcloudapi.net", ACRLoginServer: "azurecr.us",
	}
	chinaCloud = cloud{
		Name: "AzureChinaCloud", Portal: "https://portal.azure.cn", LoginEndpoint: "https://login.chinacloudapi.cn/",
		ResourceManager: "https://management.chinacloudapi.cn/", Gallery: "https://gallery.chinacloudapi.cn/",
		Graph: "https://graph.chinacloudapi.cn/", MicrosoftGraph: "https://microsoftgraph.chinacloudapi.cn/",
		Batch: "https://batch.chinacloudapi.cn/", SQLManagement: "https://management.core.chinacloudapi.cn:8443/",
		Media:     "https://rest.media.chinacloudapi.cn",
		Audiences: []string{"https://management.core.chinacloudapi.cn/", "https://management.chinacloudapi.cn/"},
		Storage:   "core.chinacloudapi.cn", KeyVaultDNS: "vault.azure.cn", SQLServerHostname: "database.chinacloudapi.cn",
		ACRLoginServer: "azurecr.cn",
	}
	germanCloud = cloud{
		Name: "AzureGermanCloud", Portal: "https://portal.microsoftazure.de", LoginEndpoint: "https://login.microsoftonline.de/",
		ResourceManager: "https://management.microsoftazure.de/", Gallery: "https://gallery.cloudapi.de/",
		Graph: "https://graph.cloudapi.de/", MicrosoftGraph: "https://graph.microsoft.de/",
		Batch: "https://batch.cloudapi.de/", SQLManagement: "https://management.core.cloudapi.de:8443/",
		Media:     "https://rest.media.cloudapi.de",
		Audiences: []string{"https://management.core.cloudapi.de/", "https://management.microsoftazure.de/"},
		Storage:   "core.cloudapi.de", KeyVaultDNS: "vault.microsoftazure.de", SQLServerHostname: "database.cloudapi.de",
	}
)

// cloudsByHost maps each Resource Manager host to its cloud.
var cloudsByHost = map[string]*cloud{
	"management.azure.com": &publicCloud, "management.core.windows.net": &publicCloud,
	"management.usgovcloudapi.net": &usGovCloud, "management.core.usgovcloudapi.net": &usGovCloud,
	"management.chinacloudapi.cn": &chinaCloud, "management.core.chinacloudapi.cn": &chinaCloud,
	"management.microsoftazure.de": &germanCloud, "management.core.cloudapi.de": &germanCloud,
}

// cloudFor is the cloud whose Resource Manager host hostport names; any
// other host (the authority's own, served directly) gets the public cloud
// with that host as its Resource Manager and login as its login endpoint.
func cloudFor(hostport, login string) cloud {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if c, ok := cloudsByHost[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return *c
	}
	c := publicCloud
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
	auth := map[string]any{"loginEndpoint": c.LoginEndpoint, "audiences": c.Audiences, "tenant": "common",
		"identityProvider": "AAD"}
	if r.URL.Query().Get("api-version") < "2019-05-01" {
		writeJSON(w, http.StatusOK, map[string]any{
			"galleryEndpoint": c.Gallery, "graphEndpoint": c.Graph, "portalEndpoint": c.Portal,
			"authentication": map[string]any{"loginEndpoint": c.LoginEndpoint, "audiences": c.Audiences},
		})
		return
	}
	writeJSON(w, http.StatusOK, []any{map[string]any{
		"name": c.Name, "portal": c.Portal, "authentication": auth, "resourceManager": c.ResourceManager,
		"gallery": c.Gallery, "graph": c.Graph, "graphAudience": c.Graph, "microsoftGraphResourceId": c.MicrosoftGraph,
		"batch": c.Batch, "sqlManagement": c.SQLManagement, "media": c.Media,
		"vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
		"suffixes": map[string]any{"storage": c.Storage, "keyVaultDns": c.KeyVaultDNS,
			"sqlServerHostname": c.SQLServerHostname, "acrLoginServer": c.ACRLoginServer},
	}})
}
