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
