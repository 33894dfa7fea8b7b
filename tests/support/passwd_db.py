"""mlenv run as a container started with an arbitrary uid runs it: under a passwd database of
the test's and a HOME of its choosing (or none). Tests run as root: the database is a file bound
over /etc/passwd in a private mount namespace (``unshare --mount``), with an nsswitch.conf that
reads files alone (glibc's ``systemd`` module would make up root's entry)."""

from __future__ import annotations

from pathlib import Path

from tests.support.netns import unshare

_NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"


def under_passwd(scratch: Path, home_of_root: str | None, home: str | None) -> list[str]:
    """A ``run_mlenv`` prefix: /etc/passwd lists root with the home ``home_of_root`` (root has
    no entry when None) and nobody; HOME is ``home``, or unset when None. The files are
    written under ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    passwd, nsswitch = scratch / "passwd", scratch / "nsswitch.conf"
    root = "" if home_of_root is None else f"root:x:0:0:root:{home_of_root}:/bin/sh\n"
    passwd.write_text(root + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    nsswitch.write_text(_NSSWITCH)
    script = (
        'mount --bind "$0" /etc/passwd && mount --bind "$1" /etc/nsswitch.conf && shift && '
        'exec env "$@"'
    )
    setting = ["-u", "HOME"] if home is None else [f"HOME={home}"]
    return [unshare(), "--mount", "--", "sh", "-c", script, str(passwd), str(nsswitch), *setting]
