"""Finding the images among dropped or named paths: supported suffixes, hidden files skipped, natural order."""

from __future__ import annotations

from pathlib import Path

from sinsr_gui.engine.discovery import find_images


def test_find_images(tmp_path: Path) -> None:
    root = tmp_path / "shoot"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    for name in ("b10.png", "b2.JPG", "a.txt", ".hidden.png", "._b2.jpg", "sub/c.webp", ".git/d.png"):
        (root / name).write_bytes(b"x")
    loose = tmp_path / "loose.bmp"
    loose.write_bytes(b"x")

    found = find_images([root, loose, root])
    assert found == [
        (root / "b2.JPG", root),
        (root / "b10.png", root),
        (root / "sub/c.webp", root),
        (loose, tmp_path),
    ]
    assert [f for f, _ in find_images([root], recursive=False)] == [root / "b2.JPG", root / "b10.png"]
