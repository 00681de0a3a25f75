"""Write access tokens into a shared cache file through msal-extensions.

Run by interop/filestore_concurrent_test.go with Debian's system python3.
Reads a JSON config on stdin:

    {"cache_path": "...", "client_id": "...", "token_endpoint":
     "https://host/tenant/oauth2/v2.0/token", "scope_prefix": "api://py-0-",
     "count": 250, "pause_ms": 100, "ready_path": "...", "start_path": "..."}

and adds `count` access tokens, scope "{scope_prefix}{i}/.default", to
msal_extensions.PersistedTokenCache(FilePersistence(cache_path)), pausing
pause_ms between adds as an application between token requests would, whose
every write takes its CrossPlatLock on "{cache_path}.lockfile", re-reads the
file and rewrites it. The tokens are fake ("py-token-{scope}"), never sent
anywhere. Once set up it creates ready_path and waits (up to 60 s) for
start_path to exist, so every writer starts writing at the same moment.

Prints {"versions": {...}, "written": N}. Exit status 3 with {"missing": ...}
means a module is not installed.
"""

import json
import os
import platform
import sys
import time

try:
    import msal
    import msal_extensions
    from msal_extensions import FilePersistence, PersistedTokenCache
except ImportError as e:
    print(json.dumps({"missing": getattr(e, "name", None) or "msal_extensions", "detail": str(e)}))
    sys.exit(3)


def main():
    cfg = json.load(sys.stdin)
    cache = PersistedTokenCache(FilePersistence(cfg["cache_path"]))
    open(cfg["ready_path"], "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(cfg["start_path"]):
        if time.monotonic() > deadline:
            raise SystemExit("no start signal in 60 s")
        time.sleep(0.01)
    written = 0
    for i in range(cfg["count"]):
        scope = "{}{}/.default".format(cfg["scope_prefix"], i)
        cache.add({
            "client_id": cfg["client_id"],
            "scope": [scope],
            "token_endpoint": cfg["token_endpoint"],
            "response": {"access_token": "py-token-" + scope, "token_type": "Bearer", "expires_in": 3600},
        })
        written += 1
        time.sleep(cfg["pause_ms"] / 1000)
    print(json.dumps({"versions": {"python": platform.python_version(), "msal": msal.__version__,
                                   "msal_extensions": msal_extensions.__version__},
                      "written": written}))


main()
