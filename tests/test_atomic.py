"""The atomic-write helper on real files: content, failures that keep the old file, modes, installs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PIL import Image

from sinsr_gui import atomic


def _others(folder: Path, *keep: str) -> list[str]:
    """Names in ``folder`` besides ``keep``: a leftover temp file would show here."""
    return sorted(name for name in os.listdir(folder) if name not in keep)


def test_bytes_and_text_are_written_whole(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "folder" / "data.bin"  # missing folders are created
    assert atomic.atomic_write_bytes(dest, b"\x00\x01payload") == dest
    assert dest.read_bytes() == b"\x00\x01payload"
    assert atomic.atomic_write_text(dest, "überschrieben\n") == dest  # replaces, UTF-8
    assert dest.read_text(encoding="utf-8") == "überschrieben\n"
    assert _others(dest.parent, "data.bin") == []


def test_the_temp_file_is_hidden_beside_the_destination(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(fh: object) -> None:
        seen.extend(_others(tmp_path))

    atomic.atomic_write(tmp_path / "photo.png", write)
    # same folder (so the rename is atomic), hidden (so folder scans and find_images skip it)
    assert len(seen) == 1 and seen[0].startswith(".photo.png.") and seen[0].endswith(atomic.TEMP_SUFFIX)


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "settings.json"
    dest.write_text('{"old": true}', encoding="utf-8")

    def write_half_then_fail(fh: object) -> None:
        fh.write(b'{"new": ')  # type: ignore[attr-defined]
        raise RuntimeError("encoder gave up")

    with pytest.raises(RuntimeError, match="encoder gave up"):  # the caller's error, unchanged
        atomic.atomic_write(dest, write_half_then_fail)
    assert dest.read_text(encoding="utf-8") == '{"old": true}'
    assert _others(tmp_path, "settings.json") == []


def test_a_failing_rename_raises_oserror_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "inside").write_text("x")  # a non-empty folder cannot be replaced by a file, not even by root
    with pytest.raises(OSError):
        atomic.atomic_write_text(dest, "text")
    assert _others(tmp_path, "taken") == [] and (dest / "inside").is_file()


def test_a_read_only_folder_raises_oserror_and_leaves_no_temp(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "keep.txt").write_text("old")
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permission bits do not stop root from writing, so the folder "
                        "cannot be made read-only here (tests/test_imageio.py simulates the refusal instead)")
        with pytest.raises(PermissionError):
            atomic.atomic_write_text(folder / "keep.txt", "new")
        assert os.listdir(folder) == ["keep.txt"] and (folder / "keep.txt").read_text() == "old"
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    atomic.default_file_mode.cache_clear()  # it reads the umask once per process
    try:
        dest = atomic.atomic_write_bytes(tmp_path / "f", b"x")
        assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask  # not the temp file's 0600
        assert stat.S_IMODE(atomic.atomic_write_bytes(tmp_path / "g", b"x", mode=0o640).stat().st_mode) == 0o640
    finally:
        os.umask(old)
        atomic.default_file_mode.cache_clear()


def test_atomic_path_serves_a_writer_that_wants_a_path(tmp_path: Path) -> None:
    dest = tmp_path / "out.png"
    with atomic.atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp != dest and not dest.exists()
        Image.new("RGB", (3, 2), (10, 20, 30)).save(tmp, format="PNG")  # opens the path by name
    with Image.open(dest) as img:
        assert img.size == (3, 2) and img.getpixel((0, 0)) == (10, 20, 30)

    with pytest.raises(ValueError, match="verification failed"), atomic.atomic_path(dest) as tmp:
        tmp.write_bytes(b"not a png")
        raise ValueError("verification failed")  # e.g. a check of the written file, before the rename
    with Image.open(dest) as img:
        assert img.size == (3, 2)
    assert _others(tmp_path, "out.png") == []


def test_install_file_moves_a_finished_file_into_place(tmp_path: Path) -> None:
    part = tmp_path / "weights.pth.part"
    part.write_bytes(b"verified bytes")
    dest = tmp_path / "weights.pth"
    dest.write_bytes(b"an older install")
    assert atomic.install_file(part, dest) == dest
    assert dest.read_bytes() == b"verified bytes" and not part.exists()
    assert _others(tmp_path, "weights.pth") == []
