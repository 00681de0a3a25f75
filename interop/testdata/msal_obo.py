"""On-behalf-of with MSAL Python against appcred's local authority.

Run by interop/obo_python_test.go with Debian's system python3. Reads a JSON
config on stdin (never argv):

    {"authority": "https://127.0.0.1:PORT", "tenant": "...",
     "user_token": "...", "username": "...",
     "middle_client_id": "...", "middle_secret": "...",   # or
     "middle_key_path": "key.pem", "middle_thumbprint": "SHA-1 hex",
     "downstream_scope": "api://orders/Orders.Read"}

1. (The user's token for the middle tier comes from the caller: MSAL Python
   1.21's acquire_token_by_username_password first asks
   https://{host}/common/userrealm/... without the authority's port, which
   a loopback authority on another port cannot answer.)
2. ConfidentialClientApplication (the middle tier, with its secret or certificate)
   .acquire_token_on_behalf_of(downstream scope, user token).
3. acquire_token_silent(downstream scope, the account from step 2): must be
   answered from MSAL's cache (no token request).

Prints one JSON object: {"versions": {...}, "obo_token",
"obo_result_keys", "account", "token_requests", "silent_token_requests",
"silent_same_token", "error"}; when on-behalf-of fails, also "oauth_error",
"error_codes" and "claims" (a conditional-access challenge) of MSAL's result. The user token and secret are never printed.
Exit status 3 with {"missing": "msal"} means the module is not installed.
"""

import json
import platform
import sys

import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # python3 -I leaves the script's folder out
import token_counter  # noqa: E402  exits 3 when msal is missing; counts token requests
import msal  # noqa: E402
import requests  # noqa: E402


def error_of(result):
    return "{}: {}".format(result.get("error"), result.get("error_description"))


def run(cfg):
    out = {}
    authority = cfg["authority"] + "/" + cfg["tenant"]
    if "middle_secret" in cfg:
        cred = cfg["middle_secret"]
    else:
        with open(cfg["middle_key_path"]) as f:
            cred = {"private_key": f.read(), "thumbprint": cfg["middle_thumbprint"]}
    cca = msal.ConfidentialClientApplication(
        cfg["middle_client_id"], authority=authority, client_credential=cred, instance_discovery=False)
    token_counter.reset()
    scopes = [cfg["downstream_scope"]]
    obo = cca.acquire_token_on_behalf_of(cfg["user_token"], scopes)
    out["token_requests"] = token_counter.tokens
    if "access_token" not in obo:
        out["error"] = "on-behalf-of: " + error_of(obo)
        out["oauth_error"] = obo.get("error")
        out["error_codes"] = obo.get("error_codes")
        out["claims"] = obo.get("claims")
        return out
    out["obo_token"] = obo["access_token"]
    out["obo_result_keys"] = sorted(k for k in obo if k not in ("access_token", "refresh_token", "id_token"))
    accounts = cca.get_accounts(username=cfg["username"])
    out["account"] = accounts[0]["home_account_id"] if accounts else ""
    silent = cca.acquire_token_silent(scopes, account=accounts[0]) if accounts else None
    out["silent_token_requests"] = token_counter.tokens
    out["silent_same_token"] = bool(silent) and silent.get("access_token") == obo["access_token"]
    return out


def main():
    cfg = json.load(sys.stdin)
    try:
        out = run(cfg)
    except Exception as e:  # report, never a traceback with locals
        out = {"error": "{}: {}".format(type(e).__name__, e)}
    out["versions"] = {"python": platform.python_version(), "msal": msal.__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
