"""A certificate authority made by the test, and a server certificate for 127.0.0.1 it signs,
with the openssl command line: what a site's internal CA gives its registry."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"


@dataclass(frozen=True)
class SiteCA:
    ca: Path  # the CA certificate (PEM): what a client must trust
    certificate: Path  # the server's certificate for 127.0.0.1, signed by the CA
    key: Path  # the server's private key


def make_ca(
    directory: Path, name: str = "mlenv test CA", dns_names: tuple[str, ...] = ()
) -> SiteCA:
    """A fresh CA and a 127.0.0.1 server certificate under ``directory``; ``dns_names`` are
    host names the certificate is valid for too (one reached through a test's proxy)."""
    alt = ",".join(("IP:127.0.0.1", *(f"DNS:{n}" for n in dns_names)))
    program = shutil.which("openssl")
    assert program, "openssl is missing: apt-get install -y openssl"
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName={alt}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", _DAYS, "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", _DAYS, "-extfile", extensions],
    ):  # fmt: skip
        done = subprocess.run(
            [program, *map(str, command)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"openssl {command[0]} failed:\n{done.stderr}"
    return SiteCA(ca, cert, key)
