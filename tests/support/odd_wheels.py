"""A valid wheel whose members carry what no writer of layers should copy (setuid and
world-writable modes, MS-DOS members, times past 2038, names past 100 bytes, Turkish i,
NFD, blanks): the byte-identity tests build it under varied conditions."""

from __future__ import annotations

import io
import zipfile

from tests.support.wheels import build_wheel

LONG = "d" * 120 + "/" + "f" * 140 + ".py"
# Member name: (unix mode, zip date_time); None is an MS-DOS member with no unix mode at all.
ODD_MEMBERS: dict[str, tuple[int | None, tuple[int, int, int, int, int, int]]] = {
    "odd/__init__.py": (0o104777, (2107, 12, 31, 23, 59, 58)),  # setuid, world-writable
    "odd/exec.sh": (0o100700, (2038, 1, 19, 3, 14, 8)),
    "odd/noperm.txt": (0o100000, (1999, 9, 9, 9, 9, 9)),
    "odd/dos.txt": (None, (1980, 1, 1, 0, 0, 0)),
    f"odd/{LONG}": (0o100666, (2001, 2, 3, 4, 5, 6)),  # over 100 bytes: PAX
    "odd/\u0130\u0131iI.py": (0o100666, (2001, 2, 3, 4, 5, 6)),  # Turkish dotted and dotless i
    "odd/I.py": (0o100666, (2001, 2, 3, 4, 5, 6)),
    "odd/stra\u00dfe.py": (0o100666, (2001, 2, 3, 4, 5, 6)),
    "odd/u\u0308.txt": (0o100666, (2001, 2, 3, 4, 5, 6)),  # NFD
    "odd/sp ace/x y.txt": (0o100666, (2001, 2, 3, 4, 5, 6)),
}


def odd_wheel() -> tuple[str, bytes]:
    """A valid wheel whose members carry modes, times and names no writer should copy."""
    files = {name: f"V_{i} = {{'a', 'b', 'c'}}\n".encode() for i, name in enumerate(ODD_MEMBERS)}
    filename, data = build_wheel("odd", "1.0", files=files)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            mode, when = ODD_MEMBERS.get(info.filename, (0o100666, (1999, 9, 9, 9, 9, 9)))
            member = zipfile.ZipInfo(info.filename, date_time=when)
            member.compress_type = zipfile.ZIP_DEFLATED
            if mode is None:
                member.create_system, member.external_attr = 0, 0x21  # read-only, archive
            else:
                member.external_attr = mode << 16
            dst.writestr(member, src.read(info))
    return filename, out.getvalue()
