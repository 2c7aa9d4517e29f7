"""How the evaluation makes its LR inputs: seeded, really degraded, JPEG at the protocol's quality."""

from __future__ import annotations

import numpy as np
import pytest

from sinsr_gui.evaluate import protocols
from tests.evaluate_support import jpeg_roundtrip, texture


def test_make_lr_protocols_are_seeded_and_really_degrade():
    hr = texture(128, 96)
    bicubic = protocols.make_lr(hr, "bicubic", "a.png")
    assert bicubic.shape == (32, 24, 3)
    jpeg = protocols.make_lr(hr, "jpeg30", "a.png")
    assert jpeg.shape == bicubic.shape and not np.array_equal(jpeg, bicubic)
    assert np.array_equal(jpeg, jpeg_roundtrip(bicubic, 30))  # a real JPEG at that quality
    noisy = protocols.make_lr(hr, "real-world", "a.png")
    assert np.array_equal(noisy, protocols.make_lr(hr, "real-world", "a.png"))  # seeded by the name
    assert not np.array_equal(noisy, protocols.make_lr(hr, "real-world", "b.png"))
    with pytest.raises(ValueError, match="unknown protocol"):
        protocols.make_lr(hr, "jpegX", "a.png")


def test_jpeg20_is_the_bicubic_input_saved_at_quality_20_and_worse_than_q45():
    assert "jpeg20" in protocols.PROTOCOLS
    hr = texture(128, 128)
    bicubic = protocols.make_lr(hr, "bicubic", "a.png")
    q20 = protocols.make_lr(hr, "jpeg20", "a.png")
    assert np.array_equal(q20, jpeg_roundtrip(bicubic, 20))
    err = {q: np.abs(protocols.make_lr(hr, q, "a.png").astype(float) - bicubic).mean() for q in ("jpeg20", "jpeg45")}
    assert err["jpeg20"] > err["jpeg45"] > 0


def test_load_hr_crops_to_a_multiple_of_the_scale(tmp_path):
    from PIL import Image

    Image.fromarray(texture(66, 71)).save(tmp_path / "x.png")
    (tmp_path / "notes.md").write_text("not an image")
    assert protocols.list_images(tmp_path) == [tmp_path / "x.png"]
    assert protocols.load_hr(tmp_path / "x.png").shape == (64, 68, 3)
