"""A loopback stand-in for the Hugging Face Hub, just enough for huggingface_hub 2.x.

Serves dataset repos held in memory, in the Hub's URL layout:

* ``GET /api/datasets/{ns}/{name}/revision/{rev}``: repo info (``sha`` = commit),
  used by ``HfApi.resolve_revision``;
* ``GET /api/datasets/{ns}/{name}/tree/{rev}[/{path}]?recursive=&expand=&cursor=``:
  the tree listing, paginated with a ``Link: <...>; rel="next"`` header;
* ``HEAD|GET /datasets/{ns}/{name}/resolve/{rev}/{path}``: the file, with the
  headers ``hf_hub_download`` insists on (``X-Repo-Commit``, ``ETag`` /
  ``X-Linked-Etag``, ``X-Linked-Size``, ``Content-Length``) and HTTP range requests
  (``bytes=FIRST-[LAST]`` and the suffix form ``bytes=-N``, answered 206 with ``Content-Range``).

Errors carry the ``X-Error-Code`` header huggingface_hub maps to its exception
types (RepoNotFound, RevisionNotFound, EntryNotFound). ``faults`` makes a file
misbehave; ``requests`` records every request so tests can count downloads, and
``served`` the body bytes sent per file, so they can count what a ranged reader fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

FAULTS = ("short", "flip", "short_body", "drop_once", "no_range")
# short:      serves the first half of the file, headers consistent with that (listing still says full size)
# flip:       serves the right length with one byte flipped
# short_body: HEAD says the full size, GET announces and sends only half
# drop_once:  the first GET announces the full size, sends half and drops the connection
# no_range:   ignores Range headers: every GET gets the whole file, 200


@dataclass
class Request:
    method: str
    path: str  # unquoted, without the query
    range: str | None


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, bytes]], page_size: int = 1000):
        self.repos = repos
        self.commits = {r: hashlib.sha1(r.encode()).hexdigest() for r in repos}
        self.page_size = page_size
        self.faults: dict[str, str] = {}  # repo path -> one of FAULTS
        self.requests: list[Request] = []
        self.served: dict[str, int] = {}  # repo path -> body bytes sent by GET
        self._dropped: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, method: str | None = None, contains: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if (method is None or r.method == method) and contains in r.path)

    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def serve(self, path: str, body: bytes) -> None:
        with self._lock:
            self.served[path] = self.served.get(path, 0) + len(body)

    def drop_now(self, path: str) -> bool:
        with self._lock:
            if self.faults.get(path) != "drop_once" or path in self._dropped:
                return False
            self._dropped.add(path)
            return True


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str) -> bool:
    return not path.endswith((".md", ".json", ".txt"))


_REPO = r"(?P<repo>[^/]+/[^/]+)"
_INFO = re.compile(rf"^/api/datasets/{_REPO}/revision/(?P<rev>[^/]+)$")
_TREE = re.compile(rf"^/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_RESOLVE = re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real Hub; every reply has a Content-Length

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle plus delayed
            # ACKs cost ~40 ms per keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        # -- routing ----------------------------------------------------------------

        def _route(self, head: bool) -> None:
            url = urlsplit(self.path)
            hub.record(Request(self.command, unquote(url.path), self.headers.get("Range")))
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            # Match on the raw path: the client quotes a folder as one segment ("sample%2F10BT").
            if m := _INFO.match(url.path):
                if self._repo_and_rev(m):
                    repo = unquote(m["repo"])
                    self._json({"id": repo, "sha": hub.commits[repo], "private": False, "gated": False})
            elif m := _TREE.match(url.path):
                if self._repo_and_rev(m):
                    self._tree(unquote(m["repo"]), unquote(m["path"] or "").strip("/"), url.path, query)
            elif m := _RESOLVE.match(url.path):
                if self._repo_and_rev(m):
                    self._file(unquote(m["repo"]), unquote(m["path"]), head)
            else:
                self._error(404, None, "Not Found")

        def _repo_and_rev(self, m: re.Match) -> bool:
            repo = unquote(m["repo"])
            if repo not in hub.repos:
                self._error(404, "RepoNotFound", "Repository not found")
                return False
            if unquote(m["rev"]) not in ("main", hub.commits[repo]):
                self._error(404, "RevisionNotFound", "Invalid rev id", commit=None)
                return False
            return True

        # -- endpoints --------------------------------------------------------------

        def _tree(self, repo: str, folder: str, raw_path: str, query: dict[str, str]) -> None:
            files = hub.repos[repo]
            prefix = f"{folder}/" if folder else ""
            under = sorted(p for p in files if p.startswith(prefix))
            if folder and not under:
                self._error(404, "EntryNotFound", f"{folder} does not exist on main", commit=hub.commits[repo])
                return
            recursive = query.get("recursive", "false").lower() == "true"
            entries: dict[str, dict] = {}
            for path in under:
                parts = path[len(prefix) :].split("/")
                for depth in range(1, len(parts)):  # the folders on the way
                    if depth > 1 and not recursive:
                        break
                    d = prefix + "/".join(parts[:depth])
                    oid = hashlib.sha1(d.encode()).hexdigest()
                    entries[d] = {"type": "directory", "oid": oid, "size": 0, "path": d}
                if recursive or len(parts) == 1:
                    entries[path] = _file_entry(path, files[path])
            # The Hub promises no order; serve reversed so the client has to sort.
            listing = sorted(entries.values(), key=lambda e: e["path"], reverse=True)
            start = int(query.get("cursor", 0))
            page = listing[start : start + hub.page_size]
            headers = {}
            if start + hub.page_size < len(listing):
                params = {k: v for k, v in query.items() if k != "cursor"} | {"cursor": start + hub.page_size}
                headers["Link"] = f'<http://{self.headers["Host"]}{raw_path}?{urlencode(params)}>; rel="next"'
            self._json(page, headers)

        def _file(self, repo: str, path: str, head: bool) -> None:
            commit = hub.commits[repo]
            data = hub.repos[repo].get(path)
            if data is None:
                self._error(404, "EntryNotFound", "Entry not found", commit=commit)
                return
            fault = hub.faults.get(path)
            etag = hashlib.sha256(data).hexdigest() if is_lfs(path) else git_oid(data)
            if fault == "short":
                data = data[: len(data) // 2]
            elif fault == "flip":
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            if is_lfs(path):
                headers |= {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}
            if head:
                self._send(200, headers, b"", length=len(data))
                return

            status, body = 200, data
            asked = "" if fault == "no_range" else self.headers.get("Range", "")
            if m := re.fullmatch(r"bytes=(\d*)-(\d*)", asked):
                if m[1]:
                    first = int(m[1])
                    last = min(int(m[2]), len(data) - 1) if m[2] else len(data) - 1
                else:  # bytes=-N: the last N bytes
                    first, last = max(0, len(data) - int(m[2])), len(data) - 1
                status, body = 206, data[first : last + 1]
                headers["Content-Range"] = f"bytes {first}-{first + len(body) - 1}/{len(data)}"
            if fault == "short_body":
                body = body[: len(body) // 2]
            if hub.drop_now(path):
                # Promise everything, deliver half, hang up: the client sees an incomplete body.
                hub.serve(path, body[: len(body) // 2])
                self._send(status, headers, body[: len(body) // 2], length=len(body))
                self.close_connection = True
                return
            hub.serve(path, body)
            self._send(status, headers, body)

        # -- plumbing ---------------------------------------------------------------

        def _json(self, payload, headers: dict[str, str] | None = None) -> None:
            self._send(200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())

        def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
            headers = {"Content-Type": "application/json", "X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, headers, json.dumps({"error": message}).encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes, length: int | None = None) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
                self.wfile.flush()

    return Handler


def _file_entry(path: str, data: bytes) -> dict:
    entry = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
    if is_lfs(path):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry
