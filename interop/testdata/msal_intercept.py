"""MSAL Python with the real login.microsoftonline.com authority (instance
discovery on), sent through the intercept proxy by HTTPS_PROXY and trusting
the local CA by REQUESTS_CA_BUNDLE. Reads {authority, client_id, secret,
scope} as JSON on stdin; prints {"access_token"} or {"error"}. Exit 3: msal
is missing."""
import json
import sys

try:
    import msal
except ImportError as e:
    print(f"msal is not installed: {e}", file=sys.stderr)
    sys.exit(3)

cfg = json.load(sys.stdin)
app = msal.ConfidentialClientApplication(
    cfg["client_id"], client_credential=cfg["secret"], authority=cfg["authority"],
    validate_authority=True)
r = app.acquire_token_for_client([cfg["scope"]])
if "access_token" in r:
    print(json.dumps({"access_token": r["access_token"]}))
else:
    print(json.dumps({"error": "%s: %s" % (r.get("error"), r.get("error_description"))}))
