"""Output names: folder, pattern and format suffix; bad patterns are refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinsr_gui.engine.imageio import normalize_format
from sinsr_gui.engine.naming import output_path_for


def test_output_path_for() -> None:
    src = Path("/photos/trip/IMG_1.jpeg")
    assert output_path_for(src, None, fmt="png") == Path("/photos/trip/IMG_1_x4.png")
    assert output_path_for(src, Path("/out"), fmt="jpg", pattern="{stem}-up{scale}", scale=2) == Path(
        "/out/IMG_1-up2.jpg"
    )
    assert output_path_for(src, None, fmt="TIFF").suffix == ".tif"
    assert normalize_format(".webp") == "WEBP"
    for bad in ("{name}", "../{stem}", ""):
        with pytest.raises(ValueError):
            output_path_for(src, None, fmt="png", pattern=bad)
    with pytest.raises(ValueError):
        normalize_format("gif")


def test_output_folder_mirrors_the_sub_folder_below_the_dropped_root(tmp_path):
    from sinsr_gui.engine.naming import output_folder_for

    root, out = tmp_path / "in", tmp_path / "out"
    assert output_folder_for(root / "a" / "b" / "p.jpg", root, out) == out / "a" / "b"
    assert output_folder_for(root / "p.jpg", root, out) == out
    assert output_folder_for(tmp_path / "elsewhere" / "p.jpg", root, out) == out  # not below the root
    assert output_folder_for(root / "a" / "p.jpg", root, None) is None  # beside the input
