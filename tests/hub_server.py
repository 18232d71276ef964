"""A small Hugging Face Hub-compatible HTTP server on 127.0.0.1, for testing push and download without the Hub.

It implements what `huggingface_hub` uses to create a repository, commit files (all as "regular", base64 in the
commit payload, so no LFS/Xet storage is needed), and what `hf_hub_download` / `from_pretrained` use to resolve
files. Repositories live in memory: `server.repos["user/name"]` maps paths to bytes (model repositories;
dataset and Space repositories are `server.repos["datasets/user/name"]` / `server.repos["spaces/user/name"]`, and
also answer the tree / paths-info listings that `HfFileSystem` and `load_dataset` use).

    with HubServer() as hub:          # hub.endpoint == "http://127.0.0.1:PORT"
        ... run code with HF_ENDPOINT=hub.endpoint ...
"""

import base64
import hashlib
import json
import re
import threading
import urllib.parse

import yaml
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


KINDS = {"model": "models", "dataset": "datasets", "space": "spaces"}


def repo_key(kind: str, repo_id: str) -> str:
    """`server.repos` key of a repository: `user/name` for models, `datasets/user/name`, `spaces/user/name`."""
    return repo_id if kind in ("models", "model") else f"{KINDS.get(kind, kind)}/{repo_id}"


def _entries(files: dict, folder: str, recursive: bool) -> list:
    """Tree entries (files and folders) under `folder`, as the Hub's tree API lists them."""
    prefix = folder + "/" if folder else ""
    entries, folders = [], set()
    for path, data in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            folders.add(prefix + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            entries.append({"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
    return [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0}
            for f in sorted(folders)] + entries


def validate_card_metadata(readme: str) -> list[str]:
    """The checks the Hub applies to a model card's YAML front matter that matter for us."""
    match = re.match(r"^---\n(.*?)\n---\n", readme, re.S)
    if not match:
        return ["README.md has no YAML front matter"]
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        return [f"invalid YAML: {err}"]
    errors = []
    for entry in meta.get("model-index", []):
        for result in entry.get("results", []):
            if not result.get("task", {}).get("type"):
                errors.append('"model-index[0].results[].task.type" is required')
            if not {"type", "name"} <= set(result.get("dataset", {})):
                errors.append('"model-index[0].results[].dataset" needs "type" and "name"')
            for metric in result.get("metrics", []):
                if "type" not in metric or not isinstance(metric.get("value"), (int, float)):
                    errors.append('"model-index[0].results[].metrics[]" needs "type" and a numeric "value"')
    return errors


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeHub/1.0"

    def log_message(self, *args):  # keep test output quiet
        pass

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _json(self, status, payload, headers=None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @property
    def hub(self):
        return self.server.hub

    # -- routes ----------------------------------------------------------------------------------------------------
    def do_POST(self):
        self.hub.requests.append(("POST", self.path))
        path = self.path.split("?")[0]
        if path == "/api/repos/create":
            payload = json.loads(self._body() or b"{}")
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if "/" not in repo_id:
                repo_id = f"user/{repo_id}"
            self.hub.repos.setdefault(repo_key(payload.get("type") or "model", repo_id), {})
            return self._json(200, {"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id, "id": repo_id})
        if path == "/api/validate-yaml":
            errors = validate_card_metadata(json.loads(self._body())["content"])
            self.hub.validated += 1
            return self._json(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
        match = re.fullmatch(r"/api/(models|datasets|spaces)/(.+?/.+?)/paths-info/([^/]+)", path)
        if match:
            files = self.hub.repos.get(repo_key(match.group(1), match.group(2)))
            if files is None:
                return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            form = urllib.parse.parse_qs(self._body().decode())
            wanted = form.get("paths", [])
            found = [e for e in _entries(files, "", recursive=True) if e["path"] in wanted]
            return self._json(200, found)
        match = re.fullmatch(r"/api/(?:models|datasets|spaces)/(.+?/.+?)/preupload/([^/]+)", path)
        if match:
            files = json.loads(self._body())["files"]
            return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
        match = re.fullmatch(r"/api/(models|datasets|spaces)/(.+?/.+?)/commit/([^/]+)", path)
        if match:
            repo = self.hub.repos.setdefault(repo_key(match.group(1), match.group(2)), {})
            for line in self._body().decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    repo.pop(item["value"]["path"], None)
            self.hub.commits += 1
            oid = hashlib.sha1(str(self.hub.commits).encode()).hexdigest()
            return self._json(200, {"success": True, "commitOid": oid,
                                    "commitUrl": f"{self.hub.endpoint}/{match.group(2)}/commit/{oid}"})
        self._json(404, {"error": f"FakeHub: no route for POST {path}"})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.hub.requests.append((self.command, self.path))
        path, _, query = self.path.partition("?")
        path = urllib.parse.unquote(path)
        match = re.fullmatch(r"/((?:datasets/|spaces/)?[^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            repo_id, _, filename = match.groups()
            repo = self.hub.repos.get(repo_id)
            if repo is None:
                return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            if filename not in repo:
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            data = repo[filename]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", hashlib.sha1(str(self.hub.commits).encode()).hexdigest())
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)
            return
        match = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)/?(.*)", path)
        if match and repo_key(match.group(1), match.group(2)) in self.hub.repos:
            files, folder = self.hub.repos[repo_key(match.group(1), match.group(2))], match.group(4).strip("/")
            if match.group(1) == "models":  # what model downloads have always been given: every file under folder
                prefix = folder + "/" if folder else ""
                entries = [{"type": "file", "path": f, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                           for f, data in sorted(files.items()) if f.startswith(prefix)]
            else:
                entries = _entries(files, folder, "recursive=true" in query.lower())
            if folder and not entries:
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            return self._json(200, entries)
        match = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if match and repo_key(match.group(1), match.group(2)) in self.hub.repos:
            repo_id = match.group(2)
            sha = hashlib.sha1(str(self.hub.commits).encode()).hexdigest()
            files = self.hub.repos[repo_key(match.group(1), repo_id)]
            return self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                                    "lastModified": "2026-01-01T00:00:00.000Z", "tags": [], "disabled": False,
                                    "gated": False, "siblings": [{"rfilename": f} for f in sorted(files)]})
        self._json(404, {"error": f"FakeHub: no route for GET {path}"}, {"X-Error-Code": "RepoNotFound"})


class HubServer:
    """Run the fake Hub in a background thread; use as a context manager."""

    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self.commits = 0
        self.validated = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
