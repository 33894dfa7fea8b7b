"""Attack 144: the last hour's merges (conda channels fetched by mlenv's own client, the image
asking the GA driver, machine-gated CPU fallbacks, closed stdout, grouped warnings)."""

from __future__ import annotations

import io

import zstandard

from mlenv.conda.mirror import Mirrored, _copy


def test_a_tenth_channel_copy_is_not_named_as_the_first_channel_plus_a_digit() -> None:
    """With eleven or more channels the private copies are ``…/1`` and ``…/10``: rattler's
    message naming the eleventh copy read ``https://h/one0/linux-64`` (the first channel's URL
    and the leftover digit), a channel nobody wrote. Each copy is named whole or not at all."""
    root = "file:///tmp/mlenv-channels-x"
    first = Mirrored(f"{root}/1", "https://h/one")
    eleventh = Mirrored(f"{root}/10", "https://h/ten")
    said = f"cannot read {root}/10/linux-64/repodata.json and /tmp/mlenv-channels-x/10/noarch"
    for copy in (first, eleventh):  # the order solve applies them in
        said = copy.shown(said)
    assert "one0" not in said
    assert said == "cannot read https://h/ten/linux-64/repodata.json and https://h/ten/noarch"


def test_a_channel_token_never_enters_rattlers_message() -> None:
    """A channel ``https://conda.anaconda.org/t/<token>/private`` keeps its token in the URL
    mlenv fetches; the message shown for rattler's error must name the channel without it."""
    copy = Mirrored("file:///tmp/mlenv-channels-y/0", "https://conda.anaconda.org/t/s3cr3t-tk/priv")
    said = copy.shown("no repodata in file:///tmp/mlenv-channels-y/0/linux-64")
    assert "s3cr3t-tk" not in said
    assert "https://conda.anaconda.org/priv/linux-64" in said


def test_a_multi_frame_repodata_zst_is_read_whole() -> None:
    """``pzstd`` and concatenated ``zstd`` output hold several frames, all of one stream as
    ``zstd -d`` reads it: only the first frame was copied, a truncated repodata.json."""
    whole = b'{"packages": {}, ' + b'"packages.conda": {}}'
    packer = zstandard.ZstdCompressor()
    packed = packer.compress(whole[:10]) + packer.compress(whole[10:])
    out = io.BytesIO()
    _copy(io.BytesIO(packed), out, "https://h/c/linux-64/repodata.json.zst", True)
    assert out.getvalue() == whole
