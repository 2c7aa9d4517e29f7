"""Tiled inference: seamless blending, one noise field, batching, progress, cancel and OOM fallback."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sinsr_gui.engine.tiling import (
    OutOfMemory,
    TilingOptions,
    UpscaleCancelled,
    _blend_into,
    _normalise,
    _ramp,
    axis_tiles,
    iter_upscale,
    plan_tiles,
    run_to_completion,
)


class LocalModel:
    """A stand-in model with a known, small receptive field and a visible dependence on the noise.

    Output = bicubic x4 of a (2·RADIUS+1)² box blur of the reflect-padded tile + 0.05 · (noise at the same LR
    position). So a tile's output equals the untiled output except within RADIUS+2 LR px of its own edges,
    and any misalignment of the noise between tiles shows as a 0.05-sized disagreement.
    """

    scale = 4
    size_multiple = 16
    device = torch.device("cpu")
    RADIUS = 2

    def __init__(self):
        self.calls = []

    def noise_field(self, batch, height, width, generator):
        hp, wp = -(-height // 16) * 16, -(-width // 16) * 16
        return torch.randn((batch, 1, hp, wp), generator=generator)

    def run_tiles(self, tiles, noise):
        self.calls.append(tiles.shape[0])
        _, _, h, w = tiles.shape
        r = self.RADIUS
        x = F.pad(tiles, (r, r, r, r), mode="reflect")
        x = F.avg_pool2d(x, 2 * r + 1, stride=1)
        up = F.interpolate(x, scale_factor=4, mode="bicubic")
        n = F.interpolate(noise[:, :, :h, :w], scale_factor=4, mode="nearest")
        return (up + 0.05 * n).clamp(0, 1)


def smooth_image(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack(
        [0.5 + 0.3 * np.sin(xx / 25), 0.5 + 0.3 * np.cos(yy / 30), 0.45 + 0.2 * np.sin((xx + yy) / 40)], -1
    ).astype(np.float32)


def upscale(model, img, seed=7, **opts):
    return run_to_completion(iter_upscale(model, img, TilingOptions(**opts), generator=torch.Generator().manual_seed(seed)))


def test_axis_tiles_cover_the_axis_with_the_requested_overlap():
    for length, tile, overlap, multiple in ((300, 128, 16, 1), (1000, 256, 32, 1), (129, 128, 16, 1),
                                            (64, 128, 16, 1), (1000, 256, 32, 64), (1024, 512, 36, 1),
                                            (513, 512, 36, 4), (4000, 192, 12, 1)):
        size, starts = axis_tiles(length, tile, overlap, multiple)
        assert size <= tile and (size == length or size % multiple == 0)
        assert starts[0] == 0 and starts[-1] + size == length
        assert all(size - (b - a) >= overlap for a, b in zip(starts, starts[1:]))  # the overlap asked for


def test_axis_tiles_take_the_fewest_tiles_and_the_smallest_size_that_cover_the_axis():
    """No tile count is wasted (one tile fewer of the largest size could not cover the axis), and no pixel is
    computed twice beyond the overlap (one size unit less would leave a gap or a thinner overlap)."""
    for length, tile, overlap, multiple in ((300, 128, 16, 1), (1000, 256, 32, 1), (1024, 512, 36, 1),
                                            (644, 512, 36, 1), (1000, 256, 32, 64), (4000, 192, 12, 1)):
        size, starts = axis_tiles(length, tile, overlap, multiple)
        count = len(starts)
        assert (count - 1) * tile - (count - 2) * overlap < length  # count - 1 tiles of ``tile`` fall short
        smaller = size - multiple
        assert count * smaller - (count - 1) * overlap < length  # so does this count of a smaller size
    assert axis_tiles(1024, 512, 36) == (366, [0, 329, 658])
    assert axis_tiles(300, 256, 16, 64) == (192, [0, 108])


def test_ramps_of_neighbours_sum_to_one():
    r = _ramp(64)
    assert np.allclose(r + r[::-1], 1.0, atol=1e-6)
    assert r[0] < 0.001 and r[-1] > 0.999


@pytest.mark.parametrize("neighbours", [False, True])
def test_blending_a_tile_adds_it_times_its_window(neighbours):
    """The in-place blend equals the product then the sum, bit for bit, with ramps and with a window of ones."""
    rng = np.random.default_rng(3)
    canvas = rng.random((40, 56, 3), dtype=np.float32)
    tile = rng.random((32, 48, 3), dtype=np.float32)
    wy, wx = np.ones(32, np.float32), np.ones(48, np.float32)
    if neighbours:
        wy[:8], wx[-12:] = _ramp(8), _ramp(12)[::-1]
    expected = canvas.copy()
    expected[4:36, 8:56] += tile * (wy[:, None, None] * wx[None, :, None])
    _blend_into(canvas[4:36, 8:56], tile, wy, wx)
    assert np.array_equal(canvas, expected)


def test_normalising_divides_exactly_where_the_window_sums_are_not_one():
    rng = np.random.default_rng(4)
    out = rng.random((300, 20, 3), dtype=np.float32)
    norm_y, norm_x = np.ones(300, np.float32), np.ones(20, np.float32)
    norm_y[[0, 150, 299]] = 0.5, 0.75, 0.25
    norm_x[[3, 19]] = 0.8, 0.6
    expected = out / norm_y[:, None, None] / norm_x[None, :, None]
    ones = out.copy()
    _normalise(ones, np.ones(300, np.float32), np.ones(20, np.float32))
    assert np.array_equal(ones, out)  # sums of one leave every value as it was
    _normalise(out, norm_y, norm_x)
    assert np.array_equal(out, expected)


def seam_bound(model, img, tile, overlap):
    """Justified bound: a tile differs from the untiled result only within (RADIUS+2)·4 output px of its
    inner edges (its receptive field meets the padding there). The blend gives those pixels at most the ramp
    weight at that depth, relative to a neighbour that is exact there. So the error is bounded by
    ramp(depth) times the worst disagreement E of any single tile with the untiled output."""
    full = upscale(model, img, tile=4096)
    worst = 0.0
    for t in plan_tiles(*img.shape[:2], tile, overlap, model.size_multiple):
        crop = img[t.y0:t.y0 + t.height, t.x0:t.x0 + t.width]
        noise = model.noise_field(1, *img.shape[:2], torch.Generator().manual_seed(7))
        one = model.run_tiles(torch.from_numpy(crop).permute(2, 0, 1)[None],
                              noise[:, :, t.y0:t.y0 + 64, t.x0:t.x0 + 64])[0].permute(1, 2, 0).numpy()
        ref = full[t.y0 * 4:(t.y0 + t.height) * 4, t.x0 * 4:(t.x0 + t.width) * 4]
        worst = max(worst, float(np.abs(one - ref).max()))
    depth = (model.RADIUS + 2) * 4
    return full, worst, float(_ramp(overlap * 4)[depth])


@pytest.mark.parametrize("tile,overlap", [(32, 16), (48, 16), (64, 32)])
def test_tiled_equals_untiled_within_the_seam_bound(tile, overlap):
    model = LocalModel()
    img = smooth_image(90, 150)
    full, worst, weight = seam_bound(model, img, tile, overlap)
    tiled = upscale(model, img, tile=tile, overlap=overlap)
    assert tiled.shape == (360, 600, 3)
    diff = np.abs(tiled - full).max()
    assert worst > 0.01  # single tiles really are wrong at their edges, so the blend has work to do
    assert diff <= worst * weight + 1e-5
    assert diff < 0.01


def test_uniform_averaging_would_show_a_seam():
    """The bound above is tight enough to catch the official uniform average: with flat weights the error at
    tile edges is about half a tile's edge error, far above the bound."""
    import sinsr_gui.engine.tiling as tiling

    model = LocalModel()
    img = smooth_image(90, 150)
    full, worst, weight = seam_bound(model, img, 48, 16)
    original = tiling._ramp
    try:
        tiling._ramp = lambda n: np.full(n, 0.5, dtype=np.float32)
        flat = upscale(model, img, tile=48, overlap=16)
    finally:
        tiling._ramp = original
    assert np.abs(flat - full).max() > 2 * worst * weight + 1e-3


def test_fresh_noise_per_tile_would_break_the_bound():
    model = LocalModel()
    img = smooth_image(64, 96)
    full = upscale(model, img, tile=4096)
    # Give each tile unrelated noise (what the official code does): the overlaps disagree visibly.
    gen = iter_upscale(model, img, TilingOptions(tile=32, overlap=16),
                       noise=torch.randn(1, 1, 64, 96, generator=torch.Generator().manual_seed(99)))
    other = run_to_completion(gen)
    assert np.abs(other - full).max() > 0.05


def test_tile_size_and_batch_size_do_not_change_the_result():
    model = LocalModel()
    img = smooth_image(70, 100)
    a = upscale(model, img, tile=32, overlap=16, batch_size=1)
    b = upscale(model, img, tile=32, overlap=16, batch_size=4)
    c = upscale(model, img, tile=48, overlap=16, batch_size=3)
    assert np.abs(a - b).max() < 1e-6
    assert np.abs(a - c).max() < 0.01
    assert 4 in model.calls


def test_the_tiler_computes_little_more_than_the_photo_and_its_overlaps():
    """The tiles sent to the model are sized to the photo: for 150 x 300 in tiles of 128 (overlap 16, sizes in
    steps of the model's 16), two rows of three 96 x 112 tiles (1.4x the photo's pixels), not of 128 x 128
    (2.2x)."""
    shapes = []

    class Recording(LocalModel):
        def run_tiles(self, tiles, noise):
            shapes.append(tuple(tiles.shape[2:]))
            return super().run_tiles(tiles, noise)

    upscale(Recording(), smooth_image(150, 300), tile=128, overlap=16)
    assert set(shapes) == {(96, 112)} and len(shapes) == 6
    assert sum(h * w for h, w in shapes) < 1.5 * 150 * 300


def test_progress_is_reported_between_tiles():
    model = LocalModel()
    steps = list(iter_upscale(model, smooth_image(64, 64), TilingOptions(tile=32, overlap=16, batch_size=2)))
    total = len(plan_tiles(64, 64, 32, 16, model.size_multiple))
    assert steps[0] == (0, total) and steps[-1] == (total, total)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)


def test_cancel_flag_stops_within_one_batch():
    model = LocalModel()
    cancel = threading.Event()
    gen = iter_upscale(model, smooth_image(96, 96), TilingOptions(tile=32, overlap=16), cancel=cancel,
                       generator=torch.Generator().manual_seed(0))
    next(gen)
    next(gen)  # one tile done
    cancel.set()
    with pytest.raises(UpscaleCancelled):
        next(gen)
    assert len(model.calls) == 1


def test_closing_the_generator_stops_the_work():
    model = LocalModel()
    gen = iter_upscale(model, smooth_image(96, 96), TilingOptions(tile=32, overlap=16),
                       generator=torch.Generator().manual_seed(0))
    next(gen)
    next(gen)
    gen.close()
    assert len(model.calls) == 1


class OomModel(LocalModel):
    """Raises a CUDA-style out-of-memory error for tiles larger than ``limit`` LR px or batches above 1."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def run_tiles(self, tiles, noise):
        if tiles.shape[0] > 1 or max(tiles.shape[2:]) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().run_tiles(tiles, noise)


def test_out_of_memory_halves_the_tile_and_retries():
    img = smooth_image(64, 64)
    expected = upscale(LocalModel(), img, tile=64, overlap=16)
    model = OomModel(limit=32)
    out = upscale(model, img, tile=64, overlap=16, batch_size=2, min_tile=16)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() < 0.01  # the half-size sub-tiles are blended seamlessly too


def test_out_of_memory_below_the_floor_fails_clearly():
    model = OomModel(limit=8)
    with pytest.raises(OutOfMemory, match="memory"):
        upscale(model, smooth_image(64, 64), tile=64, overlap=16, min_tile=32)


def test_sinsr_single_tile_equals_untiled_and_batches_agree(tiny_pipeline):
    img = smooth_image(40, 56)
    lr = torch.from_numpy(img).permute(2, 0, 1)[None]
    untiled = tiny_pipeline.upscale(lr, generator=torch.Generator().manual_seed(3))[0].permute(1, 2, 0).numpy()
    single = upscale(tiny_pipeline, img, seed=3, tile=64)
    assert np.array_equal(single, untiled)
    one = upscale(tiny_pipeline, img, seed=3, tile=32, overlap=16, batch_size=1)
    many = upscale(tiny_pipeline, img, seed=3, tile=32, overlap=16, batch_size=4)
    assert one.shape == (160, 224, 3)
    # Batching changes only float rounding; a rounding-level change may flip a codebook choice in a random
    # model, so compare the bulk of the pixels.
    assert np.mean(np.abs(one - many) < 1e-4) > 0.99


def test_the_tile_benchmark_measures_both_plans_against_the_whole_photo(tmp_path):
    """scripts/bench_tiles.py on two small photos with the built-in Photo model and tiles of 64: both plans
    and the sweep are measured and the fitted plan's result is compared with the whole photo."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    root = Path(__file__).resolve().parent.parent
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(("a.png", "b.png")):
        Image.fromarray((smooth_image(70 + 10 * i, 100) * 255).astype(np.uint8)).save(photos / name)
    out = tmp_path / "tiles.json"
    proc = subprocess.run([sys.executable, str(root / "scripts" / "bench_tiles.py"), "--photos", str(photos),
                           "--models", "photo", "--tiles", "64", "--tile", "64", "--runs", "1", "--no-mosaic",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["photo"] for r in rows] == ["a.png", "b.png"] and all(r["auto_tile"] == 64 for r in rows)
    for r in rows:
        assert r["fixed_s"] > 0 and r["fitted_s"] > 0 and set(r["sweep_s"]) == {"64"}
        # the blend hides the tile edges either way: at most rounding from the whole photo
        assert r["fitted_vs_whole"]["max_levels"] <= 2 and r["fixed_vs_whole"]["max_levels"] <= 2
    assert "| fixed tiles (before) |" in proc.stdout
