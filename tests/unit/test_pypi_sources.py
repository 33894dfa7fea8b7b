"""[pypi] sources: the manifest's reading of them, their place in the inputs hash, and
IndexGroup taking a pinned project from its source alone."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from mlenv.drift import recorded_sources, source_of
from mlenv.errors import ManifestError
from mlenv.index import IndexGroup, MemoryIndex
from mlenv.inputs import toml_inputs
from mlenv.lockfile_fresh import inputs_hash
from mlenv.manifest_read import loads
from tests.support.wheels import build_wheel

CU128 = "https://download.pytorch.org/whl/cu128"
HEAD = '[environment]\nname = "t"\npython = "3.11"\n[pypi]\n'
TORCH = canonicalize_name("torch")
NUMPY = canonicalize_name("numpy")


def _problems(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        loads(HEAD + text)
    found = [f"{p.where} {p.message}" for p in caught.value.problems]
    return "\n".join([str(caught.value), *found])


def test_sources_are_normalised_sorted_and_shown_without_credentials() -> None:
    manifest = loads(
        HEAD + f'sources = {{ TorchVision = "{CU128}", Torch = "https://u:s3cret@x.example/cu" }}\n'
    )
    assert manifest.pypi.sources == (("torch", "https://u:s3cret@x.example/cu"),
                                     ("torchvision", CU128))  # fmt: skip
    shown = manifest.to_dict()["pypi"]["sources"]
    assert shown["torchvision"] == CU128 and "s3cret" not in shown["torch"]


def test_no_sources_leaves_the_inputs_hash_and_to_dict_as_before() -> None:
    manifest = loads(HEAD + 'dependencies = ["torch"]\n')
    assert "sources" not in manifest.to_dict()["pypi"]
    assert loads(HEAD + 'dependencies = ["torch"]\nsources = {}\n').pypi.sources == ()
    assert inputs_hash(loads(HEAD + 'dependencies = ["torch"]\nsources = {}\n')) == inputs_hash(
        manifest
    )


def test_sources_count_in_the_inputs_hash_without_their_secrets() -> None:
    plain = loads(HEAD + f'sources = {{ torch = "{CU128}" }}\n')
    other = loads(HEAD + 'sources = { torch = "https://download.pytorch.org/whl/cu126" }\n')
    renamed = loads(HEAD + f'sources = {{ "Torch" = "{CU128}" }}\n')
    assert inputs_hash(plain) != inputs_hash(loads(HEAD))
    assert inputs_hash(plain) != inputs_hash(other)
    assert inputs_hash(plain) == inputs_hash(renamed)
    one = loads(HEAD + 'sources = { torch = "https://u:one@x.example/cu" }\n')
    two = loads(HEAD + 'sources = { torch = "https://u:two@x.example/cu" }\n')
    assert inputs_hash(one) == inputs_hash(two)


def test_the_fast_path_leaves_sources_to_the_full_reader() -> None:
    assert toml_inputs({"environment": {"name": "t", "python": "3.11"},
                        "pypi": {"sources": {"torch": CU128}}}) is None  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('sources = { torch = "ftp://x" }\n', "[pypi].sources.torch 'ftp://x' is not valid"),
        ('sources = { "torch vision" = "https://x" }\n', "is not a project name"),
        ('sources = { torch = 3 }\n', "expected an index URL string"),
        ('sources = ["torch"]\n', "[pypi].sources expected a table"),
        ('sources = { torch = "https://x", Torch = "https://y" }\n', "more than one source"),
        (f'extra-index-urls = ["{CU128}/"]\nsources = {{ torch = "{CU128}" }}\n',
         "is also in index-url, extra-index-urls or find-links"),
        (f'find-links = ["{CU128}"]\nsources = {{ torch = "{CU128}" }}\n', "or find-links, where"),
        ('dependencies = ["torch @ https://x/t.whl"]\nsources = { torch = "https://x" }\n',
         "[pypi].sources.torch torch is also a direct URL requirement"),
        ('sorces = { torch = "https://x" }\n', 'did you mean "sources"?'),
    ],
)  # fmt: skip
def test_bad_sources_name_their_key(text: str, expected: str) -> None:
    assert expected in _problems(text)


def test_a_bad_url_is_reported_without_its_credentials() -> None:
    found = _problems('sources = { torch = "https://u:s3cret@x .example" }\n')
    assert "[pypi].sources.torch" in found and "s3cret" not in found


def _group(**sources: MemoryIndex) -> tuple[IndexGroup, MemoryIndex, MemoryIndex]:
    pypi = MemoryIndex("memory://pypi", dict([build_wheel("torch", "3.0"),
                                              build_wheel("numpy", "2.0")]))  # fmt: skip
    links = MemoryIndex("memory://links", dict([build_wheel("torch", "4.0")]))
    return IndexGroup([pypi], find_links=[links], sources=sources), pypi, links


def test_a_pinned_project_comes_only_from_its_source() -> None:
    pytorch = MemoryIndex("memory://pytorch", dict([build_wheel("torch", "2.7.0+cu128"),
                                                   build_wheel("numpy", "9.0")]))  # fmt: skip
    group, pypi, links = _group(Torch=pytorch)
    assert [(f.index_url, str(f.version)) for f in group.files(TORCH)] == [
        ("memory://pytorch", "2.7.0+cu128")
    ]
    assert ("files", "torch") not in pypi.calls and ("files", "torch") not in links.calls
    assert [f.index_url for f in group.files(NUMPY)] == ["memory://pypi"]
    assert ("files", "numpy") not in pytorch.calls  # a source is asked about nothing else
    with group.open(group.files(TORCH)[0]) as stream:
        assert stream.read()[:2] == b"PK"
    assert group.knows(TORCH)


def test_a_source_that_lacks_its_project_is_not_backed_by_the_indexes() -> None:
    for strategy in ("first-index", "best-match"):
        empty = MemoryIndex("memory://pytorch", {})
        pypi = MemoryIndex("memory://pypi", dict([build_wheel("torch", "3.0")]))
        group = IndexGroup([pypi], strategy, sources={"torch": empty})
        assert group.files(TORCH) == () and not group.knows(TORCH)
        assert ("files", "torch") not in pypi.calls


def test_the_lock_records_sources_without_credentials_and_reads_them_back() -> None:
    recorded = recorded_sources([("torchvision", CU128 + "/"),
                                 ("torch", "https://u:s3cret@x.example/cu")])  # fmt: skip
    assert recorded == ("torch=https://x.example/cu", f"torchvision={CU128}")
    assert source_of(recorded) == {"torch": "https://x.example/cu", "torchvision": CU128}
    assert source_of(["Torch_Vision=https://x/a=b"]) == {"torch-vision": "https://x/a=b"}
