"""Get client-credentials tokens with azure-identity from appcred's local authority.

Run by interop/python_test.go with Debian's system python3. Reads a JSON config
on stdin (never argv, which other users can see):

    {"authority": "https://127.0.0.1:PORT", "tenant": "...", "ca_file": "ca.pem",
     "cases": [{"name": "...", "client_id": "...", "scope": "api://x/.default",
                "secret": "..."}                                   # or
               {"name": "...", "client_id": "...", "scope": "...",
                "certificate_path": "key+cert.pem or .pfx", "password": "...",
                "send_certificate_chain": true}]}

A case with "user_assertion" (a user's token for the app) builds
OnBehalfOfCredential with the case's secret or certificate_path instead.
A case with "managed_identity": "system" or "user" builds
ManagedIdentityCredential instead (with client_id= for "user"), which reads
IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service protocol) from the
environment; the config then needs only "cases".

For each case it builds ClientSecretCredential or CertificateCredential with
authority=, instance_discovery=False (the azure-identity 1.13.0b2 keyword) and
connection_verify=ca_file, calls get_token(scope) twice and counts token
requests (POST or, for a managed identity, GET to a .../token path) with azure-core's raw_request_hook: the second call must be answered
from the cache.

Prints one JSON object: {"versions": {...}, "results": [{"name", "access_token",
"expires_on", "token_requests", "silent_token_requests", "silent_same_token",
"error"}]}. Secrets and passwords are never printed. Exit status 3 with
{"missing": "azure.identity"} means the module is not installed.
"""

import json
import platform
import sys
import time
from urllib.parse import urlparse

try:
    import azure.identity
    from azure.identity import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential, OnBehalfOfCredential
except ImportError as e:  # the Go test skips, or fails under CI=true
    print(json.dumps({"missing": "azure.identity", "detail": str(e)}))
    sys.exit(3)


class Counter:
    """Counts token requests seen by azure-core's raw_request_hook."""

    def __init__(self):
        self.tokens = 0

    def __call__(self, request):
        r = request.http_request
        if r.method.upper() in ("POST", "GET") and urlparse(r.url).path.endswith("/token"):
            self.tokens += 1


def credential(cfg, case, counter):
    if "managed_identity" in case:  # only IDENTITY_ENDPOINT and IDENTITY_HEADER in the environment
        kw = {"client_id": case["client_id"]} if case["managed_identity"] == "user" else {}
        return ManagedIdentityCredential(raw_request_hook=counter, **kw)
    common = dict(
        authority=cfg["authority"],
        instance_discovery=False,
        connection_verify=cfg["ca_file"],
        raw_request_hook=counter,
    )
    if "user_assertion" in case:  # on-behalf-of: a middle tier calling as the user
        if "secret" in case:
            kw = {"client_secret": case["secret"]}
        else:
            with open(case["certificate_path"], "rb") as f:
                kw = {"client_certificate": f.read()}
        return OnBehalfOfCredential(cfg["tenant"], case["client_id"], user_assertion=case["user_assertion"], **kw, **common)
    if "secret" in case:
        return ClientSecretCredential(cfg["tenant"], case["client_id"], case["secret"], **common)
    return CertificateCredential(
        cfg["tenant"], case["client_id"],
        certificate_path=case["certificate_path"],
        password=case.get("password") or None,
        send_certificate_chain=bool(case.get("send_certificate_chain")),
        **common,
    )


def run(cfg, case):
    counter = Counter()
    out = {"name": case["name"]}
    cred = credential(cfg, case, counter)
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
