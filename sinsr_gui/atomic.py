"""The one place that writes a file atomically: a temp file beside the destination, fsync, one rename.

Readers (and a crash, or a full disk) never see a half-written file: either the old file stays as it was or
the new one is complete. Everything that writes a file the user or the app relies on uses this module:
saved photos, settings, the weights index and licence consents, imported and downloaded weights, training
checkpoints and exported models.

Errors are plain ``OSError``s (or whatever the ``write`` callback raises); callers turn them into messages in
their own terms. The temp file is removed on any failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".part"


@functools.lru_cache(maxsize=1)
def default_file_mode() -> int:
    """0o666 minus the process umask, read without changing it where the OS allows (umask is global)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (POSIX); a no-op where directories cannot be opened."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``dest`` to write to (for writers that want a path, e.g. ``torch.save``).

    When the block ends without an error the file is fsynced, given ``mode`` (default: what a new file
    would get under the umask; temp files start 0600) and renamed over ``dest``. On an error it is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:32]}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if os.name != "nt":
            os.chmod(tmp, default_file_mode() if mode is None else mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(dest.parent)


def atomic_write(dest: str | os.PathLike[str], write: Callable[[BinaryIO], None], *, mode: int | None = None
                 ) -> Path:
    """Call ``write(fh)`` on a temp file beside ``dest``, then rename it into place; returns ``dest``."""
    with atomic_path(dest, mode=mode) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
    return Path(dest)


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> Path:
    return atomic_write(dest, lambda fh: fh.write(data), mode=mode)


def atomic_write_text(dest: str | os.PathLike[str], text: str, *, mode: int | None = None) -> Path:
    return atomic_write_bytes(dest, text.encode("utf-8"), mode=mode)


def install_file(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Move a finished, already-verified file (on the same file system) into place with one rename."""
    src, dest = Path(src), Path(dest)
    with open(src, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(src, dest)
    fsync_dir(dest.parent)
    return dest
