"""Seamless tiled super-resolution with bounded memory, progress and cancel.

The whole photo never goes through the model at once. It is cut into overlapping tiles of one size, which
are run in batches and blended with a raised-cosine window over each overlap, so no seam shows. The
blend weights of a tile grid are separable, so the normalisation needs only two 1-D arrays rather than an
image-sized weight canvas: extra memory is one batch of tiles, whatever the photo size.

The noise of the diffusion prior is drawn once for the whole image (one seeded field) and each tile takes its
slice, so overlapping tiles agree and a seed gives the same photo whatever the tile size, batch or order.

The engine is a generator: :func:`iter_upscale` yields ``(tiles_done, tiles_total)`` between batches and
returns the result; closing it or setting ``cancel`` stops the work within one batch.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from sinsr_gui.errors import Cancelled, Remedy, UserError

TileProgress = tuple[int, int]


class UpscaleCancelled(Cancelled):
    """The user cancelled; nothing was written."""


class OutOfMemory(UserError):
    """Even the smallest tile did not fit in the device's memory."""


class TileModel(Protocol):
    """What the tiler needs from a model (SinSR or the built-in compact model)."""

    scale: int
    device: torch.device

    @property
    def size_multiple(self) -> int: ...

    def noise_field(self, batch: int, height: int, width: int,
                    generator: torch.Generator | None) -> torch.Tensor | None:
        """Noise for a whole (height x width) LR image, or None for a deterministic model."""

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """(B, 3, h, w) in [0, 1] (+ noise slices) -> (B, 3, scale·h, scale·w) in [0, 1], clamped."""

    # A model whose descriptor has ``passes > 1`` (a multi-step sampler) also offers
    # ``iter_run_tiles(tiles, noise)``: a generator yielding after each pass and returning what run_tiles
    # returns, so progress counts passes and a cancel takes effect between them.


def _passes(model: TileModel) -> int:
    descriptor = getattr(model, "descriptor", None)
    passes = getattr(descriptor, "passes", 1)
    return passes if passes > 1 and hasattr(model, "iter_run_tiles") else 1


@dataclass(frozen=True)
class Tile:
    """A tile in LR pixels: rows ``y0:y0+height``, columns ``x0:x0+width``."""

    y0: int
    x0: int
    height: int
    width: int


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """The tile size and the evenly spread tile starts along one axis; neighbours overlap by at least ``overlap``.

    The count is the fewest tiles of at most ``tile`` pixels that cover the axis with that overlap, and the
    size the smallest that lets this count do it (rounded up to ``multiple``, the model's padding unit).
    Keeping the size at ``tile`` whatever the length computed far more pixels than the photo has: a 1024 x 644
    photo in tiles of 512 (overlap 36) took six tiles of 512 x 512, 2.4 times its pixels; it now takes six of
    366 x 340, 1.1 times.
    """
    if length <= tile:
        return length, [0]
    count = math.ceil((length - tile) / (tile - overlap)) + 1
    size = math.ceil((length + (count - 1) * overlap) / count)
    size = min(tile, -(-size // multiple) * multiple)
    return size, [round(i * (length - size) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> list[Tile]:
    """Row-major list of tiles covering an LR image, all of one size (so oneDNN and cuDNN build their
    kernels once per photo), at most ``tile`` on a side; see ``axis_tiles``."""
    if overlap >= tile:
        raise ValueError("the tile overlap must be smaller than the tile")
    th, ys = axis_tiles(height, tile, overlap, multiple)
    tw, xs = axis_tiles(width, tile, overlap, multiple)
    return [Tile(y, x, th, tw) for y in ys for x in xs]


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine ramp rising from near 0 to near 1 over ``n`` samples; ``ramp + ramp[::-1] == 1``."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def axis_weights(starts: list[int], size: int, scale: int) -> list[np.ndarray]:
    """Per-tile 1-D blend windows in output pixels: 1 inside, raised-cosine over each overlap with a neighbour."""
    weights = []
    for i, start in enumerate(starts):
        w = np.ones(size * scale, dtype=np.float32)
        if i > 0:
            n = (starts[i - 1] + size - start) * scale
            w[:n] = _ramp(n)
        if i + 1 < len(starts):
            n = (start + size - starts[i + 1]) * scale
            w[size * scale - n:] *= _ramp(n)[::-1]
        weights.append(w)
    return weights


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


@dataclass
class TilingOptions:
    tile: int = 128  # LR pixels; a multiple of the model's size multiple
    overlap: int = 16  # LR pixels
    batch_size: int = 1
    min_tile: int = 64  # the floor when halving after an out-of-memory error


def iter_upscale(
    model: TileModel,
    lr: np.ndarray | torch.Tensor,
    options: TilingOptions | None = None,
    *,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    cancel: threading.Event | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> Generator[TileProgress, None, np.ndarray]:
    """Upscale one LR image tile by tile, or only the part of it that ``region`` needs.

    Args:
        lr: (H, W, 3) float32 numpy array or (1, 3, H, W) tensor, RGB in [0, 1].
        noise: optional (1, C, Hn, Wn) noise field covering the image (Hn >= H, Wn >= W, rounded up to the
            size multiple); by default it is drawn from ``generator``.
        region: optional ``(x0, y0, x1, y1)`` in LR pixels. Only the tiles of the whole-image plan that touch
            it are run, with their slices of the whole-image noise field and the same blend, so the region
            comes out exactly as it does in a whole-image run (the preview promise).
    Yields:
        ``(done, total)`` after each batch (and ``(0, total)`` first), in tiles; for a multi-pass model in
        tile passes (tiles x passes), after every pass.
    Returns:
        (scale·H, scale·W, 3) float32 numpy array in [0, 1]; with ``region``, only that region
        (scale·(y1-y0), scale·(x1-x0), 3).
    """
    opts = options or TilingOptions()
    image = torch.as_tensor(lr)
    if image.ndim == 3:
        image = image.permute(2, 0, 1)[None]
    image = image.float()
    _, _, height, width = image.shape
    if noise is None:
        noise = model.noise_field(1, height, width, generator)
    scale = model.scale
    multiple = model.size_multiple
    tile = max(multiple, opts.tile // multiple * multiple)  # interior tiles then need no padding
    tiles = plan_tiles(height, width, tile, min(opts.overlap, tile // 2), multiple)
    th, tw = tiles[0].height, tiles[0].width
    all_ys = sorted({t.y0 for t in tiles})
    all_xs = sorted({t.x0 for t in tiles})
    # The blend windows come from the whole-image grid, whether or not a region is asked for.
    wy = dict(zip(all_ys, axis_weights(all_ys, th, scale)))
    wx = dict(zip(all_xs, axis_weights(all_xs, tw, scale)))
    rx0, ry0, rx1, ry1 = _check_region(region, width, height)
    # The tiles that touch the region form a sub-grid; every tile covering a region pixel is among them.
    tiles = [t for t in tiles if t.x0 < rx1 and t.x0 + tw > rx0 and t.y0 < ry1 and t.y0 + th > ry0]
    ys = sorted({t.y0 for t in tiles})
    xs = sorted({t.x0 for t in tiles})
    oy, ox = ys[0], xs[0]  # the canvas covers the chosen tiles only (LR origin)
    canvas_h, canvas_w = ys[-1] + th - oy, xs[-1] + tw - ox
    out = np.zeros((canvas_h * scale, canvas_w * scale, 3), dtype=np.float32)
    total = len(tiles)
    passes = _passes(model)
    yield 0, total * passes
    done = 0
    batch_size = max(1, opts.batch_size)
    while done < total:
        if cancel is not None and cancel.is_set():
            raise UpscaleCancelled("Cancelled.")
        batch = tiles[done:done + batch_size]
        steps = _run_with_fallback(model, image, noise, batch, opts)
        finished = 0
        try:
            while True:
                next(steps)
                finished += 1
                if finished < passes:  # between passes of a multi-step model: report, and stop if asked
                    if cancel is not None and cancel.is_set():
                        raise UpscaleCancelled("Cancelled.")
                    yield done * passes + finished * len(batch), total * passes
        except StopIteration as stop:
            results = stop.value
        finally:
            steps.close()
        for t, res in zip(batch, results):
            y, x = t.y0 - oy, t.x0 - ox
            _blend_into(out[y * scale:(y + th) * scale, x * scale:(x + tw) * scale], res, wy[t.y0], wx[t.x0])
        done += len(batch)
        yield done * passes, total * passes
    # Normalise by the (separable) sum of the windows; it is exactly 1 wherever two ramps meet.
    norm_y = np.zeros(canvas_h * scale, dtype=np.float32)
    norm_x = np.zeros(canvas_w * scale, dtype=np.float32)
    for y in ys:
        norm_y[(y - oy) * scale:(y - oy + th) * scale] += wy[y]
    for x in xs:
        norm_x[(x - ox) * scale:(x - ox + tw) * scale] += wx[x]
    if region is not None:  # crop first: the canvas edges outside the region lack some neighbours' weight
        out = out[(ry0 - oy) * scale:(ry1 - oy) * scale, (rx0 - ox) * scale:(rx1 - ox) * scale]
        norm_y = norm_y[(ry0 - oy) * scale:(ry1 - oy) * scale]
        norm_x = norm_x[(rx0 - ox) * scale:(rx1 - ox) * scale]
    _normalise(out, norm_y, norm_x)
    torch.from_numpy(out).clamp_(0.0, 1.0)  # in place, on every core
    return np.ascontiguousarray(out) if region is not None else out


def _blend_into(dest: np.ndarray, tile: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> None:
    """``dest += tile · (wy ⊗ wx)`` in place, on every core; a window of ones (a tile without neighbours, e.g.
    the whole photo in one tile) skips the product. The same rounding as the product then the sum."""
    target, source = torch.from_numpy(dest), torch.from_numpy(tile)
    if wy.min() == 1.0 and wx.min() == 1.0:
        target.add_(source)
    else:
        target.add_(source * torch.from_numpy(wy[:, None, None] * wx[None, :, None]))


def _normalise(out: np.ndarray, norm_y: np.ndarray, norm_x: np.ndarray) -> None:
    """Divide ``out`` by the window sums, only the rows and columns where a sum is not exactly 1 (ramps that meet
    sum to 1, so that is usually none: dividing by 1 would change nothing, and costs passes over the result)."""
    rows = np.flatnonzero(norm_y != 1.0)
    for i in range(0, len(rows), 256):  # in bands, to avoid a full-size temporary
        sel = rows[i:i + 256]
        out[sel] /= norm_y[sel, None, None]
    cols = np.flatnonzero(norm_x != 1.0)
    if len(cols):
        for row0 in range(0, out.shape[0], 256):
            band = out[row0:row0 + 256]
            band[:, cols] /= norm_x[None, cols, None]


def _check_region(region: tuple[int, int, int, int] | None, width: int, height: int) -> tuple[int, int, int, int]:
    if region is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = (int(v) for v in region)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"region {region} is not inside the {width}x{height} image")
    return x0, y0, x1, y1


def _slice_noise(noise: torch.Tensor | None, t: Tile, model: TileModel) -> torch.Tensor | None:
    if noise is None:
        return None
    m = model.size_multiple
    hp, wp = -(-t.height // m) * m, -(-t.width // m) * m
    return noise[:, :, t.y0:t.y0 + hp, t.x0:t.x0 + wp]


BatchSteps = Generator[None, None, list[np.ndarray]]


def _run_batch(model: TileModel, image: torch.Tensor, noise: torch.Tensor | None, batch: list[Tile]) -> BatchSteps:
    """Run one batch of tiles; a generator yielding after each pass of a multi-pass model (once otherwise)."""
    crops = torch.cat([image[:, :, t.y0:t.y0 + t.height, t.x0:t.x0 + t.width] for t in batch])
    noises = None if noise is None else torch.cat([_slice_noise(noise, t, model) for t in batch])
    if _passes(model) == 1:
        with torch.inference_mode():
            hr = model.run_tiles(crops, noises)
        yield
    else:
        steps = model.iter_run_tiles(crops, noises)
        while True:
            with torch.inference_mode():  # per step: the caller's code between steps keeps its own mode
                try:
                    next(steps)
                except StopIteration as stop:
                    hr = stop.value
                    break
            yield
    return list(hr.float().permute(0, 2, 3, 1).cpu().numpy())


def _run_with_fallback(model: TileModel, image: torch.Tensor, noise: torch.Tensor | None, batch: list[Tile],
                       opts: TilingOptions) -> BatchSteps:
    """Run a batch; on out-of-memory retry one tile at a time, then split the tile into half-size tiles."""
    try:
        return (yield from _run_batch(model, image, noise, batch))
    except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
        if not _is_oom(exc):
            raise
        _empty_cache(model.device)
    if len(batch) > 1:
        results: list[np.ndarray] = []
        for t in batch:
            results += yield from _run_with_fallback(model, image, noise, [t], opts)
        return results
    t = batch[0]
    half = max(model.size_multiple, (max(t.height, t.width) // 2) // model.size_multiple * model.size_multiple)
    if half < opts.min_tile or half >= max(t.height, t.width):
        raise OutOfMemory(
            f"Not enough {model.device.type.upper()} memory even for a {max(t.height, t.width)} px tile.",
            Remedy("smaller_tile", model.device.type),
        )
    sub_image = image[:, :, t.y0:t.y0 + t.height, t.x0:t.x0 + t.width]
    sub_noise = _slice_noise(noise, t, model)
    sub_opts = TilingOptions(tile=half, overlap=min(opts.overlap, half // 4), batch_size=1, min_tile=opts.min_tile)
    return [run_to_completion(iter_upscale(model, sub_image, sub_opts, noise=sub_noise))]


def run_to_completion(gen: Generator[TileProgress, None, np.ndarray]) -> np.ndarray:
    """Drain an :func:`iter_upscale` generator and return its result (for callers that need no progress)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value
