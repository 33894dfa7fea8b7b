"""`tls.ssl_context`, the one place that decides which CAs mlenv's HTTPS clients trust."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mlenv.net.tls import CA_BUNDLE_VARIABLE, TlsConfigError, ssl_context
from tests.support.siteca import make_ca


def subjects(certs: Sequence[Mapping[str, object]]) -> set[str]:
    return {str(c.get("subject")) for c in certs}


def test_the_site_ca_is_added_to_the_default_trust(tmp_path: Path) -> None:
    """Guards MLENV_CA_BUNDLE's meaning: the site CA is trusted *in addition* to the public
    CAs (an internal registry and PyPI both verify), and only when set."""
    ca = make_ca(tmp_path, name="Site CA for mlenv")
    default = ssl_context({})
    extended = ssl_context({CA_BUNDLE_VARIABLE: str(ca.ca)})
    added = subjects(extended.get_ca_certs()) - subjects(default.get_ca_certs())
    assert len(added) == 1 and "Site CA for mlenv" in added.pop()
    assert len(extended.get_ca_certs()) == len(default.get_ca_certs()) + 1
    assert default.verify_mode.name == extended.verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize("content", [None, b"", b"-----BEGIN CERTIFICATE-----\nnope\n"])
def test_a_bundle_that_cannot_be_loaded_is_an_error(tmp_path: Path, content: bytes | None) -> None:
    """Guards against a silent fall back to the default trust when the variable is wrong."""
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TlsConfigError) as error:
        ssl_context({CA_BUNDLE_VARIABLE: str(path)})
    assert error.value.where == f"{CA_BUNDLE_VARIABLE}={path}" and error.value.hint
