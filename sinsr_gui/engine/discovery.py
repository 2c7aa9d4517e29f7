"""Folder discovery: which files among the paths a user dropped or named are images to upscale.

A folder contributes the files whose suffix a decoder here can read (``SUPPORTED_INPUT_SUFFIXES``: the
formats Pillow always has, plus AVIF/HEIC when their optional plugins are installed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from sinsr_gui.engine.imageio.formats import SUPPORTED_INPUT_SUFFIXES

__all__ = ["SUPPORTED_INPUT_SUFFIXES", "find_images"]


def find_images(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[tuple[Path, Path]]:
    """(file, root it was found under) for every image among ``paths``.

    Files named explicitly are kept whatever their suffix (reading will say if they are not images), with
    their folder as root. Folders contribute files with a supported suffix, skipping hidden files and
    folders (temp ".part" files, macOS "._x.jpg" companions), in natural order ("2" before "10").
    Each file is listed once.
    """
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(file: Path, root: Path) -> None:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            found.append((file, root))

    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            add(path, path.parent)
            continue
        hits: list[Path] = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
            hits += [
                Path(folder, f)
                for f in files
                if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED_INPUT_SUFFIXES
            ]
        for file in sorted(hits, key=lambda f: _natural_key(f.relative_to(path))):
            add(file, path)
    return found


def _natural_key(rel: Path) -> list[list[object]]:
    return [[int(t) if t.isdigit() else t for t in re.split(r"(\d+)", part.casefold())] for part in rel.parts]
