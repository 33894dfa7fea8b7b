"""Attack 191: what an error echoes of a bad value.

Found: a credential with no scheme before it (``user:token@host/x``, ``https//u:pw@host``,
``user:pw@10.0.0.1:8080/simple``, ``token@pypi.example.com``, ``__token__:pypi-...@host``)
given as an index, a find-links location, a source, a channel or any other string was echoed
whole in "is not valid" (the manifest, the importers' ``--index-url``) in text and in
``--log-format json``: the redactor reads userinfo after a ``://`` only. A value of any size
was echoed whole (a 128 KiB ``python`` printed to stderr). Now every shown problem passes
``mlenv.echoed.shown``: bare userinfo hidden, each quoted value and each line cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.echoed import LINE_LIMIT, shown
from mlenv.errors import MlenvError
from tests.support.cli import run_in_process

HEAD = '[environment]\nname = "demo"\npython = "3.11"\n'
# every string the manifest takes, as (table, key, whether it is an array's item)
STRING_KEYS = [
    ("environment", "name", False),
    ("environment", "python", False),
    ("environment", "platforms", True),
    ("environment", "glibc", False),
    ("environment", "prefix", False),
    ("environment", "interpreter", False),
    ("cuda", "version", False),
    ("cuda", "driver-floor", False),
    ("cuda", "archs", True),
    ("cuda", "unverified", True),
    ("conda", "channels", True),
    ("conda", "dependencies", True),
    ("pypi", "index-url", False),
    ("pypi", "extra-index-urls", True),
    ("pypi", "find-links", True),
    ("pypi", "dependencies", True),
    ("pypi", "constraints", True),
    ("pypi", "overrides", True),
    ("pypi", "index-strategy", False),
    ("pypi", "prerelease", False),
    ("pypi", "exclude-newer", False),
    ("build", "outputs", True),
    ("build", "base-image", False),
    ("build", "compression", False),
    ("build", "image-tar", False),
    ("cache", "registry", False),
]
_TOKEN = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=12)
_SECRET = _TOKEN.map(lambda text: f"S3cr{text}")  # a letter and a digit: token-shaped
_HOST = st.sampled_from(["host", "10.0.0.1:8080", "pypi.example.com", "h.io:443"])
_PATH = st.sampled_from(["", "/x", "/simple", "/conda-forge"])


@st.composite
def secret_values(draw: st.DrawFn) -> tuple[str, str]:
    """A credential-bearing value no scheme marks as a URL, and the secret in it."""
    secret, host, path = draw(_SECRET), draw(_HOST), draw(_PATH)
    user = draw(st.sampled_from(["user", "__token__", "ci"]))
    shapes = [
        f"{user}:{secret}@{host}{path}",
        f"https//{user}:{secret}@{host}{path}",
        f"http:{user}:{secret}@{host}{path}",
        f"{secret}@{host}{path}",
        f"{user}:{secret}@{host}{path} trailing",
    ]
    return draw(st.sampled_from(shapes)), secret


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable text is a TOML basic string


def _manifest(table: str, key: str, listed: bool, value: str) -> str:
    written = f"[{_toml(value)}]" if listed else _toml(value)
    if table == "environment":
        head = HEAD.replace(f"{key} = ", "old = ") if f"\n{key} = " in HEAD else HEAD
        head = head.replace('old = "demo"\n', "").replace('old = "3.11"\n', "")
        return head + f"{key} = {written}\n"
    extra = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n' if table == "cuda" else ""
    text = HEAD + extra
    if table == "cuda":
        text = text.replace(f'{key} = "12.4"\n', "").replace(f'{key} = "550.54.14"\n', "")
    return text + (f"{key} = {written}\n" if table == "cuda" else f"[{table}]\n{key} = {written}\n")


# A bare ``user:pw@host`` is a valid name for these (a channel's name, a relative directory,
# an image reference): they may be taken, and then are not echoed either.
MAY_TAKE = {"channels", "find-links", "base-image"}


def _run(tmp: Path, args: list[str], codes: tuple[int, ...] = (1,)) -> tuple[str, str]:
    """stdout and stderr, in text and in JSON; each exits with one of ``codes``, no traceback."""
    said = []
    for log in (["--log-format", "human"], ["--log-format", "json"]):
        code, out, err = run_in_process([*log, *args], tmp)
        assert code in codes, (args, out, err)
        assert "Traceback" not in err + out
        said.append(out + err)
    return said[0], said[1]


def _clean(texts: tuple[str, str], secret: str) -> None:
    for text in texts:
        assert secret not in text
        assert secret[:12] not in text
        assert all(len(line) <= LINE_LIMIT + 400 for line in text.split("\n")), len(text)


_SETTINGS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize(("table", "key", "listed"), STRING_KEYS)
@_SETTINGS
@given(value=secret_values())
def test_manifest_string_keys_hide_bare_credentials(
    tmp_path: Path, table: str, key: str, listed: bool, value: tuple[str, str]
) -> None:
    (tmp_path / "m.toml").write_text(_manifest(table, key, listed, value[0]))
    codes = (0, 1) if key in MAY_TAKE else (1,)
    _clean(_run(tmp_path, ["-m", "m.toml", "show"], codes), value[1])


@_SETTINGS
@given(value=secret_values())
def test_source_values_hide_bare_credentials(tmp_path: Path, value: tuple[str, str]) -> None:
    (tmp_path / "m.toml").write_text(HEAD + f"[pypi]\nsources = {{torch = {_toml(value[0])}}}\n")
    _clean(_run(tmp_path, ["-m", "m.toml", "show"]), value[1])


@pytest.mark.parametrize(("table", "key", "listed"), STRING_KEYS)
def test_manifest_values_of_128_kib_are_cut(
    tmp_path: Path, table: str, key: str, listed: bool
) -> None:
    value = ("3.11" if key == "python" else "") + "9" * 131072 + " !?"  # valid for no key
    (tmp_path / "m.toml").write_text(_manifest(table, key, listed, value))
    human, as_json = _run(tmp_path, ["-m", "m.toml", "show"])
    for text in (human, as_json):
        assert "9" * 1000 not in text
        assert max(map(len, text.split("\n"))) <= LINE_LIMIT + 400
    if key == "python":  # the value is echoed, cut, its full length said
        assert "(131,079 characters)" in human


@pytest.mark.parametrize("option", ["--index-url", "--extra-index-url", "-i", "--find-links", "-f"])
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=secret_values())
def test_requirements_options_hide_bare_credentials(
    tmp_path: Path, option: str, value: tuple[str, str]
) -> None:
    (tmp_path / "requirements.txt").write_text(f"{option} {value[0]}\nnumpy\n")
    (tmp_path / "mlenv.toml").unlink(missing_ok=True)
    human, as_json = (
        run_in_process([*log, "init", "--from", "requirements.txt"], tmp_path)
        for log in (["--log-format", "human"], ["--log-format", "json"])
    )
    for _code, out, err in (human, as_json):
        assert "Traceback" not in out + err
        _clean((out + err, ""), value[1])
        (tmp_path / "mlenv.toml").unlink(missing_ok=True)


def _env_readers() -> dict[str, Callable[[str], object]]:
    from mlenv.cache import layers
    from mlenv.conda import repodata
    from mlenv.host_text import parse_compute_cap_override, parse_driver_override
    from mlenv.limits import floor_seconds

    return {
        "MLENV_DRIVER_VERSION": parse_driver_override,
        "MLENV_GPU_COMPUTE_CAP": parse_compute_cap_override,
        "MLENV_DOWNLOAD_SECONDS": lambda text: floor_seconds({"MLENV_DOWNLOAD_SECONDS": text}),
        "MLENV_LAYER_CACHE_MAX": lambda text: layers.max_size({"MLENV_LAYER_CACHE_MAX": text}),
        "MLENV_REPODATA_CACHE_MAX": lambda text: repodata.max_size(
            {"MLENV_REPODATA_CACHE_MAX": text}
        ),
    }


@pytest.mark.parametrize("variable", sorted(_env_readers()))
@settings(max_examples=10, deadline=None)
@given(value=secret_values(), big=st.booleans())
def test_environment_variables_hide_bare_credentials(
    variable: str, value: tuple[str, str], big: bool
) -> None:
    text = value[0] + "9" * 131072 if big else value[0]
    with pytest.raises(MlenvError) as caught:
        _env_readers()[variable](text)
    said = caught.value.render()
    _clean((said, ""), value[1])
    assert "9" * 1000 not in said


@pytest.mark.parametrize(
    "kept",
    [
        "'numpy>=1.26' is not valid",
        "'git@github.com:org/repo' is not valid",
        "'me@example.com' is not valid",
        "'torch@https://download.pytorch.org/whl/torch.whl' is not valid",
        "'nvidia/cuda:12.4.1-base@sha256:" + "ab" * 32 + "' is not valid",
        "'https://***@host/x' is not valid",
    ],
)
def test_ordinary_values_are_not_hidden(kept: str) -> None:
    assert shown(kept) == kept


def test_a_cut_value_says_its_length() -> None:
    said = shown(repr("x" * 131072) + " is not valid")
    assert said.endswith("… (131,072 characters) is not valid")
    assert len(said) < 300
