"""The registry distribution API in memory, behind a Bearer token service (the flow Docker Hub
and cloud registries use): the push tests drive mlenv's registry client against it through an
httpx MockTransport and read back what it stored and every request it saw."""

from __future__ import annotations

import base64
import hashlib
from itertools import count
from typing import NamedTuple

import httpx

REALM = "https://auth.test/token"


def encoded(pair: str) -> str:
    return base64.b64encode(pair.encode()).decode()


class Seen(NamedTuple):
    """A request as it arrived (httpx re-sends the same Request object with new headers)."""

    method: str
    url: httpx.URL
    authorization: str | None


class FakeRegistry:
    """The distribution API in memory, behind a token service that wants Basic ci:pw."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.tokens: set[str] = set()
        self.requests: list[Seen] = []
        self.token_requests: list[httpx.Request] = []
        self.send_digest = True
        self.rewrite_manifests = False
        self.deny_push = False
        self.expire_tokens_after_patch = False
        self._ids = count()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return self._token(request)
        self.requests.append(
            Seen(request.method, request.url, request.headers.get("Authorization"))
        )
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            challenge = f'Bearer realm="{REALM}",service="registry.test"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        path, method = request.url.path, request.method
        if path == "/v2/":
            return httpx.Response(200, json={})
        if self.deny_push and method == "POST":
            errors = [{"code": "DENIED", "message": "requested access to the resource is denied"}]
            return httpx.Response(403, json={"errors": errors})
        if method == "HEAD" and "/blobs/sha256:" in path:
            return httpx.Response(200 if path.rsplit("/", 1)[1] in self.blobs else 404)
        if method == "HEAD" and "/manifests/" in path:
            return httpx.Response(200 if path.rsplit("/", 1)[1] in self.manifests else 404)
        if method == "POST" and path.endswith("/blobs/uploads/"):
            upload = str(next(self._ids))
            self.uploads[upload] = bytearray()
            return httpx.Response(202, headers={"Location": f"{path}{upload}?_state=s"})
        if "/blobs/uploads/" in path:
            return self._upload(request, path.rsplit("/", 1)[1])
        if method == "PUT" and "/manifests/" in path:
            body = request.content + (b" " if self.rewrite_manifests else b"")
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.manifests[path.rsplit("/", 1)[1]] = body
            headers = {"Docker-Content-Digest": digest} if self.send_digest else {}
            return httpx.Response(201, headers=headers)
        if method == "GET" and "/manifests/" in path:
            return httpx.Response(200, content=self.manifests[path.rsplit("/", 1)[1]])
        return httpx.Response(405)

    def _upload(self, request: httpx.Request, upload: str) -> httpx.Response:
        data = self.uploads[upload]
        if request.method == "PATCH":
            start, _, end = request.headers["Content-Range"].partition("-")
            assert int(start) == len(data) and int(end) == len(data) + len(request.content) - 1
            data.extend(request.content)
            if self.expire_tokens_after_patch:
                self.tokens.clear()
            return httpx.Response(202, headers={"Location": f"{request.url.path}?_state=n"})
        if request.method == "DELETE":
            del self.uploads[upload]
            return httpx.Response(204)
        data.extend(request.content)
        digest = request.url.params["digest"]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID"}]})
        self.blobs[digest] = bytes(data)
        return httpx.Response(201)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if request.headers.get("Authorization") != "Basic " + encoded("ci:pw"):
            return httpx.Response(401)
        token = f"token-{next(self._ids)}"
        self.tokens.add(token)
        return httpx.Response(200, json={"token": token, "expires_in": 300})
