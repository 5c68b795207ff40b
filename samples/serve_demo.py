"""The demo's step for the public detection tool: start ``aigc-mark serve`` on a free local
port, ask its HTTP API about each file given (as a browser or another service would), print
each answer as one JSON line, and stop the server.

Usage: python samples/serve_demo.py AIGC_MARK TRUST_ANCHORS FILE...
Only the standard library: the demo installs nothing for it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def start(mark: str, anchors: str) -> tuple[subprocess.Popen[bytes], str]:
    server = subprocess.Popen(
        [mark, "serve", "--port", "0", "--workers", "1", "--trust-anchors", anchors],
        stderr=subprocess.PIPE,
    )
    assert server.stderr is not None
    for line in server.stderr:
        found = re.search(rb"serving on (http://\S+?)/?$", line.strip())
        if found:
            return server, found.group(1).decode()
    server.wait()
    raise SystemExit("the server did not start")


def ask(origin: str, path: Path) -> dict:
    query = urllib.parse.urlencode({"name": path.name})
    request = urllib.request.Request(
        f"{origin}/api/v1/verify?{query}", data=path.read_bytes(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        return json.load(error)


def main() -> None:
    mark, anchors, *files = sys.argv[1:]
    server, origin = start(mark, anchors)
    try:
        print(f"{mark} serve: {origin}/ (page), {origin}/api/v1/openapi.json", file=sys.stderr)
        for name in files:
            print(json.dumps(ask(origin, Path(name)), ensure_ascii=False))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
