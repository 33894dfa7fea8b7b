"""What ``wheelmeta.metadata_member``'s zipfile path answers for a wheel's bytes: the yardstick
the fast central directory reader is held to."""

from __future__ import annotations

import io
import zipfile

from mlenv.index.plain_zip import MAX_METADATA_BYTES, dist_info_name


def zipfile_metadata(data: bytes, project: str | None = None) -> bytes | None:
    """The METADATA zipfile's path picks (``project``'s own dist-info first when given); None
    when there is none or zipfile refuses the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            found = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            chosen = [i for i in found if dist_info_name(i.filename) == project] or found
            if not chosen or chosen[0].file_size > MAX_METADATA_BYTES:
                return None
            return archive.read(chosen[0])
    except Exception:  # any refusal by zipfile is an answer of "none"
        return None
