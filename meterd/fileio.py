"""Writing files so that a failure never leaves half a file: a temporary file beside the target, renamed
over it only when everything was written. Secrets are created readable by their owner alone."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from meterd.errors import MeterdError


class OutputError(MeterdError):
    code = "bad_output"


def check_target(path: Path) -> None:
    """Refuse a target that is a folder or lies in a folder that does not exist."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder; name a file")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")


@contextlib.contextmanager
def atomic_text(
    path: str | os.PathLike[str], *, mode: int = 0o644, newline: str | None = None, encoding: str = "utf-8"
) -> Iterator[IO[str]]:
    """Open a text stream whose content replaces `path` only if the block ends without an exception."""
    target = Path(path)
    check_target(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {target}: {e.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write a secret file atomically with mode 0600."""
    with atomic_text(path, mode=0o600) as f:
        f.write(text)


def private_dir(path: Path) -> None:
    """Create a folder for the store and secrets as 0700 (an existing folder is left as it is)."""
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=0o700)
        except OSError as e:
            raise OutputError(f"cannot create {path}: {e.strerror}") from None
    elif not path.is_dir():
        raise OutputError(f"{path} is not a folder")


class InsecureFile(MeterdError):
    code = "insecure_file"


def check_permissions(path: Path, what: str = "key file", hint: str = " or pass --insecure-keys") -> None:
    """Refuse a secret file that group or others may read (nothing is read from it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise OutputError(f"cannot read {what} {path}: no such file") from None
    except OSError as e:
        raise OutputError(f"cannot read {what} {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureFile(
            f"{what} {path} is readable by group or others (mode {stat.S_IMODE(mode):o}); run 'chmod 600 {path}'{hint}"
        )
