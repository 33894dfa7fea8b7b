"""Which certificate authorities mlenv's HTTPS clients trust: the one place that decides.

The default is httpx's: the certifi bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set
(they replace it). ``MLENV_CA_BUNDLE`` names a PEM file of extra CAs *added* to that trust, so
an internal registry or index signed by a site CA is reached without losing the public ones.
Verification is never turned off: there is no switch for it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx

from mlenv.errors import MlenvError
from mlenv.userfiles import read_input

CA_BUNDLE_VARIABLE = "MLENV_CA_BUNDLE"


class TlsConfigError(MlenvError):
    """The extra certificate authorities cannot be loaded."""


def ssl_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The context every mlenv HTTPS client verifies servers with."""
    env = os.environ if environ is None else environ
    context = httpx.create_ssl_context(trust_env=True)
    extra = env.get(CA_BUNDLE_VARIABLE)
    if extra:
        try:  # a FIFO or /dev/zero named here is refused, never read (userfiles)
            context.load_verify_locations(cadata=read_input(Path(extra), "CA bundle").decode())
        except (OSError, ValueError, MlenvError) as error:  # SSLError, UnicodeDecodeError, empty
            message = error.message if isinstance(error, MlenvError) else str(error)
            raise TlsConfigError(
                f"cannot load the certificate authorities: {message}",
                where=f"{CA_BUNDLE_VARIABLE}={extra}",
                hint="point it at a readable PEM file of CA certificates, or unset it",
            ) from None
    return context


def certificate_hint(error: BaseException) -> str | None:
    """The fix for a server whose certificate no trusted CA signed (a site CA), else None."""
    if "CERTIFICATE_VERIFY_FAILED" not in str(error):
        return None
    return (
        "the server's certificate is not signed by a CA mlenv trusts: add the site's CA with "
        f"{CA_BUNDLE_VARIABLE}=/path/to/ca.pem (or replace the trust with SSL_CERT_FILE)"
    )
