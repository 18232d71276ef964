"""A small Hugging Face Hub-compatible HTTP server on 127.0.0.1, for testing push and download without the Hub.

It implements what `huggingface_hub` uses to create a repository, commit files (all as "regular", base64 in the
commit payload, so no LFS/Xet storage is needed), and what `hf_hub_download` / `from_pretrained` use to resolve
files. Repositories live in memory: `server.repos["user/name"]` maps paths to bytes.

    with HubServer() as hub:          # hub.endpoint == "http://127.0.0.1:PORT"
        ... run code with HF_ENDPOINT=hub.endpoint ...
"""

import base64
import hashlib
import json
import re
import threading

import yaml
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
            self.hub.repos.setdefault(repo_id, {})
            return self._json(200, {"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id, "id": repo_id})
        if path == "/api/validate-yaml":
            errors = validate_card_metadata(json.loads(self._body())["content"])
            self.hub.validated += 1
            return self._json(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
        match = re.fullmatch(r"/api/models/(.+?/.+?)/preupload/([^/]+)", path)
        if match:
            files = json.loads(self._body())["files"]
            return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
        match = re.fullmatch(r"/api/models/(.+?/.+?)/commit/([^/]+)", path)
        if match:
            repo = self.hub.repos.setdefault(match.group(1), {})
            for line in self._body().decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    repo.pop(item["value"]["path"], None)
            self.hub.commits += 1
            oid = hashlib.sha1(str(self.hub.commits).encode()).hexdigest()
            return self._json(200, {"success": True, "commitOid": oid,
                                    "commitUrl": f"{self.hub.endpoint}/{match.group(1)}/commit/{oid}"})
        self._json(404, {"error": f"FakeHub: no route for POST {path}"})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.hub.requests.append((self.command, self.path))
        path = self.path.split("?")[0]
        match = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+)", path)
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
        match = re.fullmatch(r"/api/models/(.+?/.+?)/tree/([^/]+)/?(.*)", path)
        if match and match.group(1) in self.hub.repos:
            folder = match.group(3).strip("/")
            prefix = folder + "/" if folder else ""
            entries = [{"type": "file", "path": f, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                       for f, data in sorted(self.hub.repos[match.group(1)].items()) if f.startswith(prefix)]
            if folder and not entries:
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            return self._json(200, entries)
        match = re.fullmatch(r"/api/models/(.+?/.+?)(?:/revision/([^/]+))?", path)
        if match and match.group(1) in self.hub.repos:
            repo_id = match.group(1)
            sha = hashlib.sha1(str(self.hub.commits).encode()).hexdigest()
            return self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                                    "siblings": [{"rfilename": f} for f in sorted(self.hub.repos[repo_id])]})
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
