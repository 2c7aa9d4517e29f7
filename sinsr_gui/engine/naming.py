"""Output file naming: where the result of an input goes, from the output folder and a name pattern.

Only the name is decided here; a clash with an existing file is resolved when saving
(``imageio.save_image`` picks a " (1)" style name with ``imageio.unique_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

from sinsr_gui.engine.imageio.formats import OUTPUT_SUFFIXES, normalize_format
from sinsr_gui.engine.options import resolve_format


def output_path_for(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    *,
    fmt: str,
    pattern: str = "{stem}_x{scale}",
    scale: int = 4,
) -> Path:
    """Where the result of ``input_path`` goes: ``out_dir`` (default: beside the input) / pattern + suffix.

    ``pattern`` may use {stem} (input name without suffix) and {scale}. Clashes are resolved at save time.
    """
    input_path = Path(input_path)
    try:
        name = pattern.format(stem=input_path.stem, scale=scale)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"The name pattern {pattern!r} is invalid; use {{stem}} and {{scale}}.") from exc
    if not name.strip() or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"The name pattern {pattern!r} gives an unusable file name {name!r}.")
    folder = Path(out_dir) if out_dir is not None else input_path.parent
    return folder / (name + OUTPUT_SUFFIXES[normalize_format(resolve_format(fmt, input_path.name))])


def output_folder_for(input_path: str | os.PathLike[str], root: str | os.PathLike[str] | None,
                      out_dir: str | os.PathLike[str] | None) -> Path | None:
    """The folder an input's result goes to: ``out_dir`` plus the input's sub-folder below ``root``.

    A folder given as input keeps its structure under ``out_dir`` (``root/a/b.jpg`` -> ``out_dir/a/``). No
    ``out_dir``: None, meaning "beside the input". An input outside ``root`` goes straight into ``out_dir``.
    """
    if out_dir is None:
        return None
    parent = Path(input_path).parent
    if root is not None and parent.is_relative_to(root):
        return Path(out_dir) / parent.relative_to(root)
    return Path(out_dir)
