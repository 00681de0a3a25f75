"""Counts MSAL Python's token requests by observing requests.Session (MSAL's
HTTP layer); MSAL itself is used unmodified. Shared by the interop scripts.

Importing it exits with status 3 and {"missing": NAME} on stdout when msal or
requests is not installed (the Go test skips, or fails under CI=true).
"""

import json
import sys
from urllib.parse import urlparse

try:
    import msal  # noqa: F401  (the scripts import it after this module)
    import requests
except ImportError as e:
    print(json.dumps({"missing": getattr(e, "name", None) or "msal", "detail": str(e)}))
    sys.exit(3)

tokens = 0  # POSTs to a token endpoint since the last reset()
_request = requests.Session.request


def _counting_request(self, method, url, *args, **kwargs):
    global tokens
    if method.upper() == "POST" and urlparse(url).path.endswith("/token"):
        tokens += 1
    return _request(self, method, url, *args, **kwargs)


requests.Session.request = _counting_request


def reset():
    """Starts counting from zero."""
    global tokens
    tokens = 0
