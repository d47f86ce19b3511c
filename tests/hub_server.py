"""A small Hugging Face Hub on 127.0.0.1 for the download tests: it serves repositories the way huggingface_hub
asks for them, and never lets a test reach the real Hub (point HF_ENDPOINT at `FakeHub.url`).

- `GET /api/models/{repo}[/revision/{rev}]` (`?blobs=true`): id, commit sha, siblings with size and LFS info.
- `HEAD` and `GET /{repo}/resolve/{rev}/{path}`: X-Repo-Commit, ETag (the SHA-256 for large files, as the Hub
  does for LFS), Content-Length, Accept-Ranges; a `Range: bytes=N-` request gets 206 Partial Content.
- Errors as the Hub sends them: 404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound; a gated
  repository answers 401 GatedRepo unless the request carries its token.
- Faults: `cut[path] = n` sends the headers of a whole file, then only n bytes, then closes the connection
  (once per entry); `fail[path] = k` answers 500 to the next k downloads of that file.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_MIN_BYTES = 1024  # files this large are listed as LFS files (with a SHA-256), like weights on the Hub


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated_token: str | None = None  # requests need "Authorization: Bearer <token>" when set


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range header)
    cut: dict[str, int] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def add(self, repo_id: str, files: dict[str, bytes], **kw) -> Repo:
        repo = self.repos[repo_id] = Repo(dict(files), **kw)
        return repo

    def add_folder(self, repo_id: str, folder: Path, **kw) -> Repo:
        return self.add(repo_id, {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}, **kw)

    def downloads(self, name: str) -> list[str | None]:
        """The Range header of each GET of file `name` (None: the whole file)."""
        return [rng for method, path, rng in self.log if method == "GET" and path.endswith("/" + name)
                and "/resolve/" in path]

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub.handle(self, head=True)

            def do_GET(self) -> None:
                hub.handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- the Hub's answers ------------------------------------------------------------------------------------

    @staticmethod
    def _error(req: BaseHTTPRequestHandler, status: int, code: str) -> None:
        req.send_response(status)
        req.send_header("X-Error-Code", code)
        req.send_header("Content-Type", "application/json")
        body = json.dumps({"error": code}).encode()
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

    def _find(self, parts: list[str]) -> tuple[str, Repo] | None:
        repo_id = "/".join(parts[:2])
        return (repo_id, self.repos[repo_id]) if repo_id in self.repos else None

    @staticmethod
    def _etag(data: bytes) -> str:
        if len(data) >= LFS_MIN_BYTES:
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def handle(self, req: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = unquote(urlsplit(req.path).path)
        self.log.append((req.command, path, req.headers.get("Range")))
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "models"]:
            self._info(req, parts[2:])
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve(req, parts, head)
        else:
            self._error(req, 404, "NotFound")

    def _allowed(self, req: BaseHTTPRequestHandler, repo: Repo) -> bool:
        if repo.gated_token and req.headers.get("Authorization") != f"Bearer {repo.gated_token}":
            self._error(req, 401, "GatedRepo")
            return False
        return True

    def _info(self, req: BaseHTTPRequestHandler, parts: list[str]) -> None:
        found = self._find(parts)
        if found is None:
            return self._error(req, 401, "RepoNotFound")  # the Hub answers 401 for unknown (or private) repos
        repo_id, repo = found
        if not self._allowed(req, repo):
            return None
        if len(parts) > 3 and parts[2] == "revision" and parts[3] not in ("main", repo.commit):
            return self._error(req, 404, "RevisionNotFound")
        siblings = []
        for name, data in sorted(repo.files.items()):
            entry = {"rfilename": name, "size": len(data), "blobId": self._etag(data)}
            if len(data) >= LFS_MIN_BYTES:
                entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(entry)
        body = json.dumps({"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                           "gated": bool(repo.gated_token), "siblings": siblings}).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
        return None

    def _resolve(self, req: BaseHTTPRequestHandler, parts: list[str], head: bool) -> None:
        found = self._find(parts)
        if found is None:
            return self._error(req, 401, "RepoNotFound")
        _, repo = found
        if not self._allowed(req, repo):
            return None
        revision, name = parts[3], "/".join(parts[4:])
        if revision not in ("main", repo.commit):
            return self._error(req, 404, "RevisionNotFound")
        if name not in repo.files:
            req.send_response(404)
            req.send_header("X-Error-Code", "EntryNotFound")
            req.send_header("X-Repo-Commit", repo.commit)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return None
        if not head and self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            return self._error(req, 500, "InternalError")
        data = repo.files[name]
        start = 0
        rng = req.headers.get("Range")
        if rng and rng.startswith("bytes=") and not head:
            start = int(rng[len("bytes="):].split("-")[0])
        req.send_response(206 if start else 200)
        req.send_header("X-Repo-Commit", repo.commit)
        req.send_header("ETag", f'"{self._etag(data)}"')
        req.send_header("Accept-Ranges", "bytes")
        req.send_header("Content-Length", str(len(data) - start))
        if start:
            req.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        req.end_headers()
        if head:
            return None
        body = data[start:]
        if name in self.cut:
            body = body[: self.cut.pop(name)]  # then the connection closes with the body unfinished
            req.close_connection = True
        req.wfile.write(body)
        return None
