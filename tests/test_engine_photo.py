"""The photo use cases (sinsr_gui.engine.photo) on their own, without Qt: the save rule never writes over an
input, a released result is reopened only from a lossless copy, the cancel policy, and PhotoCache's bound."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sinsr_gui.engine.imageio import ImageMeta, ImageWriteError
from sinsr_gui.engine.models import ModelRequest, load_model
from sinsr_gui.engine.options import OutputOptions, RunOptions
from sinsr_gui.engine.photo import (
    PhotoCache,
    PhotoOptions,
    Progress,
    process_file,
    read_photo,
    reopen_saved,
    run_to_result,
    save_result,
    upscale_photo,
)
from sinsr_gui.engine.tiling import UpscaleCancelled
from sinsr_gui.engine.types import Photo
from sinsr_gui.errors import UserError

RUN = RunOptions(tile=64, overlap=8, colour_fix="off")  # a 100 x 90 photo is 2 x 2 tiles


@pytest.fixture(scope="module")
def faithful():
    model, _ = load_model(ModelRequest(model="faithful", device="cpu", dtype="fp32"))
    return model


class CancelOnTile:
    """The real model, setting ``cancel`` while it runs tile number ``at`` (1-based)."""

    def __init__(self, model, cancel: threading.Event, at: int) -> None:
        self._model, self.cancel, self.at, self.tiles = model, cancel, at, 0

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def run_tiles(self, tiles, noise):
        out = self._model.run_tiles(tiles, noise)
        self.tiles += tiles.shape[0]
        if self.tiles >= self.at:
            self.cancel.set()
        return out


def write_photo(path: Path, size: tuple[int, int] = (100, 90), *, alpha: bool = False) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 4 if alpha else 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGBA" if alpha else "RGB").save(path)
    return path


def drain(gen):
    """Run a use case to its end; returns (progress events, result)."""
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return events, stop.value


# ------------------------------------------------------------------------------------ never over an input
def test_save_result_never_writes_over_its_source_even_with_overwrite(faithful, tmp_path):
    source = write_photo(tmp_path / "photo.png")
    before = source.read_bytes()
    result = run_to_result(upscale_photo(faithful, read_photo(source), RUN))
    with pytest.raises(ImageWriteError, match="input"):
        save_result(result, source, OutputOptions(fmt="PNG", overwrite=True))
    assert source.read_bytes() == before
    # Without overwrite the name is taken by the input: the result goes beside it, under a new name.
    written = save_result(result, source, OutputOptions(fmt="PNG"))
    assert written != source and written.parent == source.parent
    assert source.read_bytes() == before


def test_save_result_never_writes_over_a_protected_input(faithful, tmp_path):
    source = write_photo(tmp_path / "a.png")
    other = write_photo(tmp_path / "b.png", (40, 30))
    before = other.read_bytes()
    result = run_to_result(upscale_photo(faithful, read_photo(source), RUN))
    with pytest.raises(ImageWriteError, match="input"):
        save_result(result, other, OutputOptions(fmt="PNG", overwrite=True), protected=(other,))
    assert other.read_bytes() == before


def test_process_file_writes_the_result_and_leaves_the_input(faithful, tmp_path):
    source = write_photo(tmp_path / "in.png")
    before = source.read_bytes()
    events, done = drain(process_file(faithful, source, tmp_path / "out.png",
                                      PhotoOptions(run=RUN, output=OutputOptions(fmt="PNG"))))
    assert events[0] == Progress(0, 4) and events[-1] == Progress(4, 4)
    assert done.output_path == tmp_path / "out.png" and done.output_size == (400, 360)
    assert Image.open(done.output_path).size == (400, 360)
    assert source.read_bytes() == before


# ------------------------------------------------------------------------------- lossless reopen only
def test_reopen_saved_brings_back_the_pixels_of_a_lossless_copy(faithful, tmp_path):
    result = run_to_result(upscale_photo(faithful, read_photo(write_photo(tmp_path / "p.png", alpha=True)), RUN))
    saved = save_result(result, tmp_path / "p_x4.png", OutputOptions(fmt="PNG", bit_depth=16))
    released = type(result)(**{**result.__dict__, "rgb": None, "alpha": None})
    assert released.output_size == result.output_size  # known without the pixels
    again = reopen_saved(released, saved)
    assert np.abs(again.rgb - result.rgb).max() < 1 / 65535 + 1e-6
    assert np.abs(again.alpha - result.alpha).max() < 1 / 65535 + 1e-6
    assert again.meta is result.meta  # the source's metadata, not the saved file's


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_reopen_saved_refuses_a_lossy_copy_and_offers_to_upscale_again(faithful, tmp_path, fmt):
    result = run_to_result(upscale_photo(faithful, read_photo(write_photo(tmp_path / "p.png")), RUN))
    saved = save_result(result, tmp_path / f"p_x4.{fmt.lower()}", OutputOptions(fmt=fmt))
    with pytest.raises(UserError) as caught:
        reopen_saved(result, saved)
    assert caught.value.remedy is not None and caught.value.remedy.action == "upscale_again"


# -------------------------------------------------------------------------------------- cancel policy
def test_cancel_before_the_last_tile_stops_and_writes_nothing(faithful, tmp_path):
    cancel = threading.Event()
    model = CancelOnTile(faithful, cancel, at=1)
    source = write_photo(tmp_path / "in.png")
    with pytest.raises(UpscaleCancelled):
        drain(process_file(model, source, tmp_path / "out.png", PhotoOptions(run=RUN), cancel=cancel))
    assert model.tiles == 1  # stopped within one tile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # nothing partial, no temp file


def test_cancel_during_the_last_tile_keeps_the_finished_photo(faithful, tmp_path):
    cancel = threading.Event()
    model = CancelOnTile(faithful, cancel, at=4)  # the cancel arrives while the last of 4 tiles runs
    source = write_photo(tmp_path / "in.png")
    _, done = drain(process_file(model, source, tmp_path / "out.png", PhotoOptions(run=RUN), cancel=cancel))
    assert cancel.is_set() and model.tiles == 4
    assert done.output_path.is_file()  # the work was done: it is kept and saved


# ------------------------------------------------------------------------------------------ PhotoCache
def _photo(side: int, *, alpha: bool) -> Photo:
    rgb = np.zeros((side, side, 3), np.float32)
    meta = ImageMeta(is_grey=False, bit_depth=8, icc_profile=None, exif=None, dpi=None, source_format="PNG", path=None)
    return Photo(rgb, np.ones((side, side), np.float32) if alpha else None, meta)


def test_photo_cache_bound_counts_alpha(tmp_path):
    with_alpha = _photo(32, alpha=True)  # 12 kB RGB + 4 kB alpha
    cache = PhotoCache(budget_bytes=2 * with_alpha.nbytes + with_alpha.nbytes // 2)
    files = [write_photo(tmp_path / f"{i}.png", (8, 8)) for i in range(3)]
    for path in files:
        cache.put(path, _photo(32, alpha=True))
        assert cache.held_bytes <= cache.budget_bytes
    # Two photos with alpha fit, a third does not (counting RGB only, all three would have been kept).
    assert 3 * with_alpha.rgb.nbytes <= cache.budget_bytes
    assert cache.held_bytes == 2 * with_alpha.nbytes


def test_photo_cache_keeps_the_most_recently_used(tmp_path):
    one = _photo(32, alpha=False)
    cache = PhotoCache(budget_bytes=2 * one.nbytes)
    a, b, c = (write_photo(tmp_path / f"{n}.png", (8, 8)) for n in "abc")
    cache.put(a, read_photo(a))
    cache.put(b, read_photo(b))
    first = cache.get(a)  # a is now the most recent
    cache.put(c, read_photo(c))  # evicts b
    assert cache.get(a) is first
    assert cache.held_bytes <= cache.budget_bytes


def test_photo_cache_refuses_a_photo_larger_than_its_budget(tmp_path):
    big = _photo(64, alpha=True)
    cache = PhotoCache(budget_bytes=big.rgb.nbytes)  # RGB alone would fit; with alpha it does not
    cache.put(write_photo(tmp_path / "big.png", (8, 8)), big)
    assert cache.held_bytes == 0


def test_photo_cache_reads_a_changed_file_again(tmp_path):
    path = write_photo(tmp_path / "p.png", (10, 10))
    cache = PhotoCache()
    first = cache.get(path)
    assert cache.get(path) is first
    write_photo(path, (12, 10))
    assert cache.get(path).size == (12, 10)
