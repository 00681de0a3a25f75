"""Share a token cache file between MSAL Python and appcred.

Run by interop/filestore_test.go with Debian's system python3. Reads a JSON
config on stdin (never argv):

    {"authority": "https://127.0.0.1:PORT", "tenant": "...", "client_id": "...",
     "secret": "...", "scope": "api://x/.default", "cache_path": "...",
     "mode": "read" | "write"}

"read": load the file into msal.SerializableTokenCache and call
acquire_token_silent(scopes, account=None), which must be answered from it.
"write": acquire_token_for_client with an empty cache and write the cache's
serialize() to the file (mode 0600).

Prints {"versions": {...}, "results": [{"name", "access_token",
"token_requests", "error"}]}; never the secret. Exit status 3 with
{"missing": "msal"} means the module is not installed.
"""

import json
import os
import platform
import sys
from urllib.parse import urlparse

try:
    import msal
    import requests
except ImportError as e:
    print(json.dumps({"missing": getattr(e, "name", None) or "msal", "detail": str(e)}))
    sys.exit(3)


class CountingSession(requests.Session):
    """The HTTP client handed to MSAL (its http_client parameter): counts
    token requests, so a cache hit is told from a network call."""

    token_requests = 0

    def post(self, url, *args, **kwargs):
        if urlparse(url).path.endswith("/token"):
            self.token_requests += 1
        return super().post(url, *args, **kwargs)


def main():
    cfg = json.load(sys.stdin)
    cache = msal.SerializableTokenCache()
    if cfg["mode"] == "read":
        with open(cfg["cache_path"]) as f:
            cache.deserialize(f.read())
    http = CountingSession()
    app = msal.ConfidentialClientApplication(
        cfg["client_id"], authority=cfg["authority"] + "/" + cfg["tenant"],
        client_credential=cfg["secret"], token_cache=cache, instance_discovery=False, http_client=http)
    scopes = [cfg["scope"]]
    if cfg["mode"] == "read":
        result = app.acquire_token_silent(scopes, account=None) or {}
    else:
        result = app.acquire_token_for_client(scopes)
        fd = os.open(cfg["cache_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(cache.serialize())
    out = {"name": cfg["mode"], "token_requests": http.token_requests}
    if "access_token" in result:
        out["access_token"] = result["access_token"]
    else:
        out["error"] = "{}: {}".format(result.get("error", "no token in cache"), result.get("error_description"))
    print(json.dumps({"versions": {"python": platform.python_version(), "msal": msal.__version__},
                      "results": [out]}))


main()
