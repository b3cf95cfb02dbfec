"""A small static file server for frontends deployed from source (DESIGN §11).

``python -m brahmi.deploy.static --port P --directory D`` serves D on 127.0.0.1:P. A path
that names no file and has no extension gets ``index.html``, as a single-page app's
client-side routes need (what ``serve -s`` does); a missing file with an extension is a
404. The local target runs it when a frontend's ``cmd`` is missing, not installed, or would
download a static server from npm (``npx serve``).
"""

from __future__ import annotations

import argparse
import functools
import posixpath
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit


class _Handler(SimpleHTTPRequestHandler):
    def send_head(self) -> BytesIO | BinaryIO | None:
        path = unquote(urlsplit(self.path).path)
        local = Path(self.translate_path(path))
        has_extension = bool(posixpath.splitext(path)[1])
        if not local.exists() and not has_extension:
            self.path = "/index.html"
        return super().send_head()


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``directory`` on ``host:port`` until killed."""
    handler = functools.partial(_Handler, directory=str(directory))
    with ThreadingHTTPServer((host, port), handler) as server:
        sys.stdout.write(f"serving {directory} on http://{host}:{port}\n")
        sys.stdout.flush()
        server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        sys.exit(f"{args.directory} is not a folder")
    serve(args.directory, args.port)


if __name__ == "__main__":
    main()
