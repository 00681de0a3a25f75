"""Get managed-identity tokens with azure-identity from appcred's local authority.

Run by interop/managedidentity_test.go with Debian's system python3. The
environment carries only IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service
protocol); reads a JSON config on stdin:

    {"system_assigned": "client id of the system-assigned identity",
     "cases": [{"name": "...", "scope": "api://x/.default", "client_id": "..."}]}

For each case it builds ManagedIdentityCredential: without client_id when the
case's client_id is the system-assigned one, else with client_id= (a
user-assigned identity); calls get_token(scope) twice and counts requests to
the endpoint with azure-core's raw_request_hook: the second call must be
answered from the cache.

Prints one JSON object: {"versions": {...}, "results": [{"name", "access_token",
"expires_on", "now", "token_requests", "silent_token_requests",
"silent_same_token", "error"}]}. The identity header is never printed. Exit
status 3 with {"missing": "azure.identity"} means the module is not installed.
"""

import json
import platform
import sys
import time

try:
    import azure.identity
    from azure.identity import ManagedIdentityCredential
except ImportError as e:  # the Go test skips, or fails under CI=true
    print(json.dumps({"missing": "azure.identity", "detail": str(e)}))
    sys.exit(3)


class Counter:
    """Counts managed-identity token requests seen by azure-core's raw_request_hook."""

    def __init__(self):
        self.tokens = 0

    def __call__(self, request):
        if request.http_request.method.upper() == "GET":
            self.tokens += 1


def run(cfg, case):
    counter = Counter()
    out = {"name": case["name"]}
    user_assigned = case["client_id"] != cfg["system_assigned"]
    kw = {"client_id": case["client_id"]} if user_assigned else {}
    cred = ManagedIdentityCredential(raw_request_hook=counter, **kw)
    try:
        first = cred.get_token(case["scope"])
        out["token_requests"] = counter.tokens
        out["access_token"] = first.token
        out["expires_on"] = first.expires_on
        out["now"] = int(time.time())
        second = cred.get_token(case["scope"])
        out["silent_token_requests"] = counter.tokens
        out["silent_same_token"] = second.token == first.token
    finally:
        cred.close()
    return out


def main():
    cfg = json.load(sys.stdin)
    results = []
    for case in cfg["cases"]:
        try:
            results.append(run(cfg, case))
        except Exception as e:  # report, never a traceback with locals
            results.append({"name": case["name"], "error": "{}: {}".format(type(e).__name__, e)})
    print(json.dumps({
        "versions": {"python": platform.python_version(),
                     "azure_identity": getattr(azure.identity, "__version__", "")},
        "results": results,
    }))


if __name__ == "__main__":
    main()
