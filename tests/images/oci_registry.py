"""A real docker-registry on 127.0.0.1 behind token auth, for image automation tests.

The registry is configured for the distribution token flow: a 401 names a
realm, a token service issues RS256 JWTs (signed here with a throwaway key
whose self-signed certificate is the registry's root bundle), and the
registry checks them. The token service is a small threaded HTTP server in
the test process; it wants HTTP Basic credentials (``USER``/``PASSWORD``)
and grants what the scope asks. ``push_tag`` uploads a tiny OCI image
(config and one layer blob, then a manifest) with httpx.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USER, PASSWORD = "images-bot", "registry-password-for-tests"
SERVICE, ISSUER = "driftless-test-registry", "driftless-test-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Signer:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def new(cls) -> _Signer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driftless test tokens")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def token(self, scope: str | None) -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else (scope, "", "")
            access = [{"type": kind, "name": name, "actions": actions.split(",")}]
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64(sig)}"


def _token_handler(signer: _Signer, asked: list[str]) -> type[BaseHTTPRequestHandler]:
    want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.end_headers()
                return
            scope = (query.get("scope") or [None])[0]
            asked.append(scope or "")
            body = json.dumps({"token": signer.token(scope), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@dataclass
class Registry:
    """A running registry: its host:port, and the token service's log of scopes."""

    host: str
    token_url: str
    signer: _Signer
    scopes: list[str]

    def push_token(self, name: str) -> str:
        response = httpx.get(self.token_url, params={"service": SERVICE,
                                                     "scope": f"repository:{name}:pull,push"},
                             auth=(USER, PASSWORD), timeout=10)
        response.raise_for_status()
        return str(response.json()["token"])

    def push_tag(self, name: str, tag: str) -> str:
        """Upload a tiny image as ``name:tag``; its manifest digest."""
        headers = {"Authorization": f"Bearer {self.push_token(name)}"}
        with httpx.Client(base_url=f"http://{self.host}", headers=headers, timeout=10) as c:
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "config": {"Labels": {"tag": tag}}}).encode()
            layer = f"driftless image {name}:{tag}\n".encode()
            blobs = [self._blob(c, name, config), self._blob(c, name, layer)]
            manifest = {"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": blobs[0], "size": len(config)},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                    "digest": blobs[1], "size": len(layer)}]}
            body = json.dumps(manifest).encode()
            r = c.put(f"/v2/{name}/manifests/{tag}", content=body,
                      headers={"Content-Type": manifest["mediaType"]})
            r.raise_for_status()
            return "sha256:" + hashlib.sha256(body).hexdigest()

    @staticmethod
    def _blob(c: httpx.Client, name: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = c.post(f"/v2/{name}/blobs/uploads/")
        start.raise_for_status()
        loc = start.headers["Location"]
        sep = "&" if "?" in loc else "?"
        c.put(f"{loc}{sep}digest={digest}", content=data,
              headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        return digest


@contextmanager
def running_registry(workdir: Path) -> Iterator[Registry]:
    """Start a token service and a docker-registry that trusts it; stop both after."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed: run scripts/test-deps.sh"
    signer = _Signer.new()
    bundle = workdir / "token-root.pem"
    bundle.write_bytes(signer.cert.public_bytes(serialization.Encoding.PEM))
    scopes: list[str] = []
    tokens = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(signer, scopes))
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    token_url = f"http://127.0.0.1:{tokens.server_address[1]}/token"
    port = _free_port()
    (workdir / "registry.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir}/data}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: driftless-test-secret}}\n"
        f"auth: {{token: {{realm: {token_url}, service: {SERVICE}, issuer: {ISSUER}, "
        f"rootcertbundle: {bundle}}}}}\n")
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(workdir / "registry.yml")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                "docker-registry did not start: " + (workdir / "registry.log").read_text()
            time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", token_url, signer, scopes)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        tokens.shutdown()
        tokens.server_close()
