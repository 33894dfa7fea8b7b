"""schemas/mlenv.schema.json and the parser must agree: editors and mlenv judge alike."""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlenv.errors import ManifestError
from mlenv.manifest_read import parse
from tests.support.manifests import BAD_MANIFESTS, MINIMAL

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "mlenv.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# Rules a JSON Schema cannot state: PEP 508 grammar, a URL requirement, a cross-table rule.
BEYOND_SCHEMA = {
    "requirement-invalid",
    "requirement-direct-url",
    "conda-deps-without-channel",
    "driver-floor-below-toolkit",
    "cuda-unknown-release",
    "cuda-driver-unconfirmed",
    "unverified-same-name-two-spellings",
}


def schema_accepts(data: dict[str, Any]) -> bool:
    return not list(VALIDATOR.iter_errors(data))


def parser_accepts(data: dict[str, Any]) -> bool:
    try:
        parse(data)
    except ManifestError:
        return False
    return True


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    "path",
    [ROOT / "mlenv.toml.example", *sorted((ROOT / "fixtures" / "manifests").glob("*.toml"))],
    ids=lambda p: p.name,
)
def test_example_and_fixtures_validate(path: Path) -> None:
    data = tomllib.loads(path.read_text())
    assert schema_accepts(data), [e.message for e in VALIDATOR.iter_errors(data)]
    assert parser_accepts(data)


CASES = [(name, text) for name, text, _ in BAD_MANIFESTS if name != "toml-syntax"]


@pytest.mark.parametrize(("name", "text"), CASES, ids=[n for n, _ in CASES])
def test_schema_and_parser_agree_on_bad_manifests(name: str, text: str) -> None:
    data = tomllib.loads(textwrap.dedent(text))
    assert not parser_accepts(data)
    assert schema_accepts(data) is (name in BEYOND_SCHEMA)


GOOD_VARIATIONS = [
    MINIMAL + 'platforms = ["linux-aarch64", "linux-64"]\nglibc = "2.17"\n',
    MINIMAL + 'interpreter = "/usr/bin/python3.11"\n',
    MINIMAL + '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\narchs = ["sm_100a"]\n',
    MINIMAL + '[pypi]\nindex-strategy = "best-match"\nfind-links = ["wheels"]\n',
    MINIMAL + '[build]\noutputs = ["oci"]\ncompression = "none"\n',
    MINIMAL + '[build]\nlayers = "auto"\n',
    MINIMAL + "[build]\nlayers = 125\n",
    MINIMAL + '[cache]\nregistry = "oci://registry.internal:5000/mlenv/cache"\n',
    MINIMAL + '[conda]\nchannels = ["conda-forge"]\ndependencies = ["cuda-version 12.4.*"]\n',
]


@pytest.mark.parametrize("text", GOOD_VARIATIONS)
def test_schema_and_parser_agree_on_good_manifests(text: str) -> None:
    data = tomllib.loads(text)
    assert schema_accepts(data)
    assert parser_accepts(data)
