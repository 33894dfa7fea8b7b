"""The manifest: every table and key, defaults, the example, and exact messages for bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlenv.errors import ManifestError
from mlenv.lockfile_fresh import inputs_hash
from mlenv.manifest import Build, Conda, Cuda, Environment, PyPI
from mlenv.manifest_read import loads, parse
from tests.support.manifests import BAD_MANIFESTS, MINIMAL

ROOT = Path(__file__).resolve().parents[2]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        loads(textwrap.dedent(text), source="m.toml")
    return [p.render() for p in info.value.problems]


def test_defaults_fill_every_optional_key() -> None:
    manifest = loads(MINIMAL)
    assert manifest.environment == Environment(
        name="demo",
        python="3.11",
        platforms=("linux-64",),
        glibc="2.28",
        prefix="/opt/mlenv/demo",
        interpreter=None,
    )
    assert manifest.cuda is None
    assert manifest.conda == Conda((), ())
    assert manifest.pypi == PyPI("https://pypi.org/simple", (), (), (), "first-index")
    assert manifest.build == Build(("oci", "conda-pack"), None, "gzip")


def test_every_key_is_read() -> None:
    manifest = loads(
        textwrap.dedent(
            """
            [environment]
            name = "detector"
            python = "3.12"
            platforms = ["linux-64", "linux-aarch64"]
            glibc = "2.31"
            prefix = "/srv/env/"
            interpreter = "/usr/local/bin/python3.12"
            [cuda]
            version = "12.4"
            driver-floor = "550.54.14"
            archs = ["sm_80", "sm_90a"]
            [conda]
            channels = ["conda-forge", "file:///srv/channel"]
            dependencies = ["python 3.12.*", "libgomp"]
            [pypi]
            index-url = "https://mirror.example/simple"
            extra-index-urls = ["https://download.pytorch.org/whl/cu124"]
            find-links = ["./wheels", "https://example.org/links.html"]
            dependencies = ["torch==2.6.0+cu124", "numpy>=1.26,<2; python_version >= '3.10'"]
            index-strategy = "best-match"
            [build]
            outputs = ["oci"]
            base-image = "build/base"
            compression = "zstd"
            layers = "auto"
            """
        )
    )
    assert manifest.environment == Environment(
        "detector",
        "3.12",
        ("linux-64", "linux-aarch64"),
        "2.31",
        "/srv/env",
        "/usr/local/bin/python3.12",
    )
    assert manifest.cuda == Cuda("12.4", "550.54.14", ("sm_80", "sm_90a"))
    assert manifest.conda == Conda(
        ("conda-forge", "file:///srv/channel"), ("python 3.12.*", "libgomp")
    )
    assert manifest.pypi == PyPI(
        "https://mirror.example/simple",
        ("https://download.pytorch.org/whl/cu124",),
        ("./wheels", "https://example.org/links.html"),
        ("torch==2.6.0+cu124", "numpy>=1.26,<2; python_version >= '3.10'"),
        "best-match",
    )
    assert [str(r.specifier) for r in manifest.pypi.requirements()] == [
        "==2.6.0+cu124",
        "<2,>=1.26",
    ]
    assert manifest.build == Build(("oci",), "build/base", "zstd", "auto")


def test_example_round_trips_through_to_dict() -> None:
    manifest = loads((ROOT / "mlenv.toml.example").read_text(), "mlenv.toml.example")
    again = parse(manifest.to_dict(), "mlenv.toml.example")
    assert again == manifest
    assert manifest.cuda == Cuda("12.4", "550.54.15", ())
    assert "nvidia-cuda-runtime-cu12==12.4.127" in manifest.pypi.dependencies


@pytest.mark.parametrize("layers", ['"auto"', "1", "12", "125"])
def test_layers_round_trip_through_to_dict(layers: str) -> None:
    manifest = loads(MINIMAL + f"[build]\nlayers = {layers}\n")
    assert manifest.build.layers == (layers.strip('"') if layers == '"auto"' else int(layers))
    assert manifest.to_dict()["build"]["layers"] == manifest.build.layers
    assert parse(manifest.to_dict()) == manifest


@pytest.mark.parametrize(("text", "expected"), [("", True), ("image-tar = true\n", True),
                                                 ("image-tar = false\n", False)])  # fmt: skip
def test_image_tar_defaults_to_true_and_round_trips(text: str, expected: bool) -> None:
    """Guards [build] image-tar: absent means the image.tar every earlier build wrote."""
    manifest = loads(MINIMAL + "[build]\n" + text)
    assert manifest.build.image_tar is expected
    assert manifest.to_dict()["build"]["image-tar"] is expected
    assert parse(manifest.to_dict()) == manifest


@pytest.mark.parametrize("value", ['"false"', "0", "[]"])
def test_a_bad_image_tar_is_located(value: str) -> None:
    """Guards the reader: a string or number is not taken for a boolean, and the error names
    the key."""
    problems = problems_of(MINIMAL + f"[build]\nimage-tar = {value}\n")
    assert len(problems) == 1
    assert problems[0].startswith("m.toml: [build].image-tar: expected true or false, got ")


@pytest.mark.parametrize("path", sorted((ROOT / "fixtures" / "manifests").glob("*.toml")))
def test_fixture_manifests_parse(path: Path) -> None:
    assert loads(path.read_text(), str(path)).environment.name


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, e) for _, t, e in BAD_MANIFESTS if e],
    ids=[n for n, _, e in BAD_MANIFESTS if e],
)
def test_bad_manifest_message(text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


def test_string_where_a_table_belongs_inside_a_table_is_an_unknown_key() -> None:
    assert problems_of(MINIMAL + 'build = "fast"\n') == [
        "m.toml: [environment].build: unknown key\n"
        "  hint: build is a table of its own: write a [build] table"
    ]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ManifestError) as info:
        loads(
            '[environment]\nname = "x"\npython = "2.7"\n[cuda]\nversion = "x"\n'
            'driver-floor = "y"\n[build]\ncompression = "lz4"\n',
            source="m.toml",
        )
    error = info.value
    assert error.message == "m.toml: 4 problems in the manifest"
    assert [p.where for p in error.problems] == [
        "m.toml: [environment].python",
        "m.toml: [cuda].version",
        "m.toml: [cuda].driver-floor",
        "m.toml: [build].compression",
    ]


def test_error_renders_summary_then_each_problem() -> None:
    with pytest.raises(ManifestError) as info:
        loads("[environment]\n", source="m.toml")
    assert str(info.value).splitlines() == [
        "m.toml: 2 problems in the manifest",
        "m.toml: [environment].name: missing required key",
        '  hint: name the environment, e.g. name = "detector"',
        "m.toml: [environment].python: missing required key",
        '  hint: set the target CPython minor version, e.g. python = "3.11"',
    ]


def test_cuda_unverified_names_are_normalised_and_sorted() -> None:
    """[cuda] unverified compares PEP 503 names, as the lock and verify do."""
    manifest = loads(
        MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '550.54.14'\n"
        "unverified = ['XFormers', 'flash_attn']\n"
    )
    assert manifest.cuda is not None
    assert manifest.cuda.unverified == ("flash-attn", "xformers")


def test_cuda_unverified_changes_the_inputs_hash_only_when_set() -> None:
    """Listing a package changes what gets locked; an empty list leaves old locks fresh."""
    base = MINIMAL + "[cuda]\nversion = '12.4'\ndriver-floor = '550.54.14'\n"
    plain = inputs_hash(loads(base))
    assert inputs_hash(loads(base + "unverified = []\n")) == plain
    assert inputs_hash(loads(base + "unverified = ['xformers']\n")) != plain


_UNFETCHABLE = [
    ("https:///user:S3CRET@h.example/simple", "names no host"),
    ("https://user:S3CRET@/simple", "names no host"),
    ("http://:8080/simple", "names no host"),
    ("https://h.example:abc/simple", "port is not a number"),
    ("https://h.example:99999/simple", "port is not a number"),
]
_KEYS = [
    ("[pypi]", "index-url = {url!r}"),
    ("[pypi]", "extra-index-urls = [{url!r}]"),
    ("[pypi]", "find-links = [{url!r}]"),
    ("[conda]", "channels = [{url!r}]"),
]


@pytest.mark.parametrize(("url", "why"), _UNFETCHABLE)
@pytest.mark.parametrize(("table", "line"), _KEYS)
def test_a_web_url_no_client_can_fetch_is_refused_where_it_is_typed(
    url: str, why: str, table: str, line: str
) -> None:
    """A URL with no host or a bad port is named with its key when the manifest is read (before:
    `show` accepted it and `lock` failed at the first fetch); its password stays hidden."""
    text = f"{MINIMAL}{table}\n{line.format(url=url)}\n"
    if table == "[conda]":
        text += 'dependencies = ["numpy"]\n'
    problems = problems_of(text)
    (problem,) = [p for p in problems if why in p]  # conda's: also "no channel is" usable
    assert line.split(" =")[0] in problem
    assert "S3CRET" not in "".join(problems)


@pytest.mark.parametrize(
    "url",
    ["https://h.example:8443/simple", "http://[::1]:8080/simple", "https://bücher.example/simple"],
)
def test_web_urls_with_a_host_and_port_are_accepted(url: str) -> None:
    manifest = loads(f'{MINIMAL}[pypi]\nindex-url = "{url}"\n', source="m.toml")
    assert manifest.pypi.index_url == url
