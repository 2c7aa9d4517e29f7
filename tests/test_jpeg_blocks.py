"""Removing a JPEG's block edges (sinsr_gui.engine.imageio.jpeg_blocks) and where the engine applies it.

The rule under test: the result must still be a picture the same file could have come from (every block's DCT
coefficients inside the file's quantisation intervals), with smaller steps across the 8-px grid, and the
engine applies it only where the run and the model ask for it.
"""

from __future__ import annotations

import io
import types

import numpy as np
import pytest
from PIL import Image

from sinsr_gui.cli import upscale as cli
from sinsr_gui.engine.imageio import read_image, read_image_from_pil, remove_blocks
from sinsr_gui.engine.imageio.exif import apply_orientation
from sinsr_gui.engine.imageio.jpeg_blocks import JpegCoding, automatic_strength, grid_step_ratio
from sinsr_gui.engine.models.builtin import FAITHFUL, PHOTO
from sinsr_gui.engine.options import RunOptions
from sinsr_gui.engine.photo import network_input
from sinsr_gui.engine.types import Photo
from sinsr_gui.settings import Settings


def _smooth_picture(w: int = 96, h: int = 64) -> np.ndarray:
    """A soft colour picture (gradients and a blob): heavy JPEG turns it into visible 8x8 tiles."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 0.5 + 0.4 * np.sin(x / 23.0) * np.cos(y / 17.0)
    g = 0.3 + 0.5 * x / w
    b = 0.6 * np.exp(-((x - 40) ** 2 + (y - 30) ** 2) / 600.0) + 0.2
    return (np.clip(np.dstack([r, g, b]), 0, 1) * 255 + 0.5).astype(np.uint8)


def _textured_picture(w: int = 96, h: int = 64) -> np.ndarray:
    """The soft picture with strong grain (seeded): a heavy JPEG of it shows blocks, but not only blocks."""
    grain = np.random.default_rng(7).normal(0, 28, (h, w, 1))
    return np.clip(_smooth_picture(w, h) + grain, 0, 255).astype(np.uint8)


def _jpeg(pixels: np.ndarray, quality: int, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, **save)
    return buf.getvalue()


def _read(data: bytes):
    return read_image_from_pil(Image.open(io.BytesIO(data)))


def _dct_blocks(plane: np.ndarray) -> np.ndarray:
    k = np.arange(8)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * 0.5
    m[0] /= np.sqrt(2.0)
    h, w = plane.shape
    return m @ plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3) @ m.T


@pytest.mark.parametrize("quality", [10, 20, 30, 45, 70, 90])
def test_the_quality_read_from_the_file_is_the_one_it_was_saved_with(quality):
    coding = _read(_jpeg(_smooth_picture(), quality)).jpeg
    assert coding is not None and abs(coding.quality - quality) <= 1
    assert coding.components == ((2, 2, 0), (1, 1, 1), (1, 1, 1))  # Pillow's default 4:2:0


def test_only_jpegs_have_a_coding(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(_smooth_picture()).save(png)
    assert read_image(png).jpeg is None
    cmyk = io.BytesIO()
    Image.fromarray(_smooth_picture()).convert("CMYK").save(cmyk, format="JPEG", quality=20)
    assert read_image_from_pil(Image.open(io.BytesIO(cmyk.getvalue()))).jpeg is None


def _hard_edges(w: int = 96, h: int = 64) -> np.ndarray:
    """Dark and light bars whose edges sit on the 8-px grid: real edges the file keeps, not block edges."""
    x = np.arange(w)
    return np.tile(np.where((x // 8) % 2 == 0, 40, 210).astype(np.uint8), (h, 1))


@pytest.mark.parametrize(("grey", "quality"), [(_smooth_picture()[..., 1], 12), (_hard_edges(), 50)])
def test_the_result_is_a_picture_the_same_file_could_have_come_from(grey, quality):
    loaded = _read(_jpeg(grey, quality))
    table = np.asarray(loaded.jpeg.tables[0], dtype=np.float64).reshape(8, 8)
    out = remove_blocks(loaded.rgb, loaded.jpeg)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])  # stays grey
    before, after = loaded.rgb[..., 0] * 255.0, out[..., 0].astype(np.float64) * 255.0
    # Every coefficient of every block is still one the file allows (half a step, plus 8-bit rounding).
    drift = np.abs(_dct_blocks(after - 128) - _dct_blocks(before - 128))
    assert np.all(drift <= table / 2 + 0.51)
    if quality == 50:  # the file pins the bars' edges: they stay sharp
        assert np.abs(after - grey).max() < 12


def test_a_grey_jpeg_loses_its_grid():
    grey = _smooth_picture()[..., 1]
    loaded = _read(_jpeg(grey, 12))
    out = remove_blocks(loaded.rgb, loaded.jpeg)
    before, after = loaded.rgb[..., 0] * 255.0, out[..., 0].astype(np.float64) * 255.0
    assert grid_step_ratio(before) > 1.5
    assert grid_step_ratio(after) < 0.8 * grid_step_ratio(before)
    # ... and it is closer to the picture that was compressed, not only smoother.
    truth = grey.astype(np.float64)
    assert np.abs(after - truth).mean() < np.abs(before - truth).mean()


def test_colour_jpeg_gets_smaller_grid_steps_and_a_truer_picture():
    pixels = _smooth_picture()
    loaded = _read(_jpeg(pixels, 12))
    out = remove_blocks(loaded.rgb, loaded.jpeg)
    assert out.shape == loaded.rgb.shape and out.dtype == np.float32
    luma = np.array([0.299, 0.587, 0.114])
    assert grid_step_ratio(out @ luma) < 0.8 * grid_step_ratio(loaded.rgb @ luma)
    truth = pixels / 255.0
    assert np.abs(out - truth).mean() < np.abs(loaded.rgb - truth).mean()


def test_strength_mixes_the_decoded_picture_and_the_smooth_one():
    loaded = _read(_jpeg(_smooth_picture(), 15))
    assert np.array_equal(remove_blocks(loaded.rgb, loaded.jpeg, strength=0.0), loaded.rgb)
    full = remove_blocks(loaded.rgb, loaded.jpeg, strength=1.0).astype(np.float64)
    half = remove_blocks(loaded.rgb, loaded.jpeg, strength=0.5).astype(np.float64)
    assert np.allclose(half, (full + loaded.rgb) / 2, atol=1e-6)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_upright_photo_is_worked_on_the_file_s_own_grid(orientation):
    """The block grid is the stored picture's: an EXIF-turned photo gives the turned result of the stored one."""
    stored = _read(_jpeg(_smooth_picture(100, 60), 15))  # sides not multiples of 8: a turn moves the grid
    turned = JpegCoding(stored.jpeg.tables, stored.jpeg.components, orientation=orientation)
    expected = apply_orientation(remove_blocks(stored.rgb, stored.jpeg), orientation)
    assert np.allclose(remove_blocks(apply_orientation(stored.rgb, orientation), turned), expected, atol=1e-6)


def test_automatic_strength_grows_as_the_quality_falls_and_the_blocks_show():
    strengths = []
    for q in (10, 15, 20, 30, 75):
        loaded = _read(_jpeg(_textured_picture(), q))
        strengths.append(automatic_strength(loaded.rgb, loaded.jpeg))
    assert 1 > strengths[0] > strengths[1] > strengths[2] > 0
    assert strengths[3] == strengths[4] == 0
    flat = _read(_jpeg(np.full((64, 96, 3), 128, np.uint8), 10))  # nothing to show blocks on
    assert automatic_strength(flat.rgb, flat.jpeg) == 0


def test_grid_step_ratio_sees_an_8_px_grid_and_nothing_else():
    tiles = np.kron(np.arange(48).reshape(6, 8) % 5, np.ones((8, 8))).astype(np.float64)
    ramp = np.add.outer(np.arange(48.0), np.arange(64.0))
    assert grid_step_ratio(tiles) == float("inf") and grid_step_ratio(tiles + ramp) > 2
    assert grid_step_ratio(ramp) == pytest.approx(1.0)
    assert grid_step_ratio(np.ones((5, 5))) == 1.0


def _photo(quality: int) -> Photo:
    loaded = _read(_jpeg(_textured_picture(), quality))
    return Photo(loaded.rgb, loaded.alpha, loaded.meta)


def test_the_engine_deblocks_only_where_the_run_and_the_model_ask():
    photo_model = types.SimpleNamespace(descriptor=PHOTO)
    faithful_model = types.SimpleNamespace(descriptor=FAITHFUL)
    heavy, light = _photo(12), _photo(90)
    auto, on, off = RunOptions(), RunOptions(deblock="on"), RunOptions(deblock="off")
    assert network_input(photo_model, light, auto) is light.rgb  # a good JPEG is left as it is
    assert network_input(faithful_model, heavy, auto) is heavy.rgb  # "Faithful" never deblocks on its own
    assert network_input(photo_model, heavy, off) is heavy.rgb
    partly = network_input(photo_model, heavy, auto)
    assert not np.array_equal(partly, heavy.rgb)
    assert network_input(photo_model, heavy, auto) is partly  # made once, kept with the photo ...
    assert heavy.nbytes == heavy.rgb.nbytes + partly.nbytes  # ... and counted in what the photo holds
    fully = network_input(faithful_model, heavy, on)  # "on" is full strength, for any model
    assert np.abs(fully - heavy.rgb).mean() > np.abs(partly - heavy.rgb).mean()
    assert not np.array_equal(network_input(photo_model, light, on), light.rgb)
    png = Photo(heavy.rgb, None, heavy.meta.__class__(**{**vars(heavy.meta), "jpeg": None}))
    assert network_input(photo_model, png, on) is png.rgb  # nothing to go by: not a JPEG


def test_the_choice_reaches_the_run_from_the_settings_and_the_command_line(tmp_path):
    assert Settings(deblock="off").to_options().run.deblock == "off"
    assert Settings().to_options().run.deblock == "auto"
    src = tmp_path / "p.jpg"
    src.write_bytes(_jpeg(_smooth_picture(48, 32), 12))
    outs = {}
    for choice in ("off", "on"):
        out = tmp_path / choice
        assert cli.main([str(src), "-o", str(out), "--model", "faithful", "--jpeg-deblock", choice,
                         "--format", "png", "--no-progress"]) == 0
        outs[choice] = np.asarray(Image.open(out / "p_x4.png"))
    assert outs["on"].shape == (128, 192, 3) and not np.array_equal(outs["on"], outs["off"])
    with pytest.raises(SystemExit):
        cli.main([str(src), "--jpeg-deblock", "maybe"])
    with pytest.raises(ValueError, match="deblock"):
        RunOptions(deblock="maybe")
