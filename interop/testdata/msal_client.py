"""Get client-credentials tokens with MSAL Python from appcred's local authority.

Run by interop/python_test.go with Debian's system python3. Reads a JSON config
on stdin (never argv, which other users can see):

    {"authority": "https://127.0.0.1:PORT", "tenant": "...",
     "cases": [{"name": "...", "client_id": "...", "scope": "api://x/.default",
                "secret": "..."}                                   # or
               {"name": "...", "client_id": "...", "scope": "...",
                "key_path": "key.pem", "cert_path": "cert.pem",
                "thumbprint": "SHA-1 hex", "public_certificate": true}]}

The authority's CA is trusted through REQUESTS_CA_BUNDLE, set by the caller
(requests lets that variable override a session's verify=, see
entra-protocol.md section 9). For each case it makes a fresh
ConfidentialClientApplication with instance_discovery=False, calls
acquire_token_for_client, then acquire_token_silent(scopes, account=None),
which must be answered from MSAL's cache.

Prints one JSON object: {"versions": {...}, "results": [{"name", "access_token",
"expires_in", "token_requests", "silent_token_requests", "silent_same_token",
"error"}]}. The client secret is never printed. Exit status 3 with
{"missing": "msal"} means the module is not installed.
"""

import json
import platform
import sys

import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # python3 -I leaves the script's folder out
import token_counter  # noqa: E402  exits 3 when msal is missing; counts token requests
import msal  # noqa: E402
import requests  # noqa: E402


def credential(case):
    if "secret" in case:
        return case["secret"]
    with open(case["key_path"]) as f:
        cred = {"private_key": f.read(), "thumbprint": case["thumbprint"]}
    if case.get("public_certificate"):
        with open(case["cert_path"]) as f:
            cred["public_certificate"] = f.read()
    return cred


def run(cfg, case):
    token_counter.reset()
    out = {"name": case["name"]}
    app = msal.ConfidentialClientApplication(
        case["client_id"],
        authority=cfg["authority"] + "/" + cfg["tenant"],
        client_credential=credential(case),
        instance_discovery=False,
    )
    scopes = [case["scope"]]
    result = app.acquire_token_for_client(scopes)
    out["token_requests"] = token_counter.tokens
    if "access_token" not in result:
        out["error"] = "{}: {}".format(result.get("error"), result.get("error_description"))
        return out
    out["access_token"] = result["access_token"]
    out["expires_in"] = result.get("expires_in")
    out["token_type"] = result.get("token_type")
    silent = app.acquire_token_silent(scopes, account=None)
    out["silent_token_requests"] = token_counter.tokens
    out["silent_same_token"] = bool(silent) and silent.get("access_token") == result["access_token"]
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
        "versions": {"python": platform.python_version(), "msal": msal.__version__,
                     "requests": requests.__version__},
        "results": results,
    }))


if __name__ == "__main__":
    main()
