"""Measure the built-in models against bicubic and Lanczos on Set5 and Set14 (x4), clean and real-world.

    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR [--realset DIR] [--out docs] [--update-cards]
    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR --ablation NAME=WEIGHTS... [--out docs]

Protocols (how the LR input is made from the HR image; all seeded, so every run sees the same inputs):

* ``bicubic``: Pillow ``resize(..., BICUBIC)`` to 1/4 (antialiased, a = -0.5, like MATLAB ``imresize`` but
  not bit-identical to it, so absolute numbers differ slightly from published tables);
* ``real-world``: the bicubic LR plus Gaussian noise of sigma 5/255, rounded to 8 bits, then JPEG q = 75;
* ``jpeg30`` / ``jpeg45`` / ``jpeg50`` / ``jpeg70``: the bicubic LR saved as a JPEG at that quality (Pillow,
  4:2:0), the usual life of a web photo;
* ``second-order``: the training scheme of SinSR (:func:`~sinsr_gui.training.degradations.degrade_real_world`
  with the official numbers: blur, resize, noise, JPEG, twice, then resize + sinc), one seeded draw per image.

Noise is drawn from a ``torch.Generator`` seeded with CRC32 of the file name. Every method's output is
rounded to 8 bits (as a saved image would be), then measured:

* PSNR and SSIM on the ITU-R BT.601 luma ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1]),
  4-pixel border removed; SSIM with the standard 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
  L = 255, over the valid positions;
* **block**: :func:`block_index`, how much of the JPEG 8x8 grid (32 px at x4) is left; the ground truth's own
  value is reported next to it (about 1.0);
* **sharpness**: :func:`sharpness_ratio`, the mean luma gradient against the ground truth's (1.0 = as crisp);
* **colour**: :func:`colour_shift`, the largest per-channel change of the mean colour against the input, in
  8-bit levels;
* **pattern**: :func:`cell_pattern`, a fixed pattern repeated in every 4x4 output cell (the dot grid a GAN can
  teach a pixel-shuffle network), RMS in luma levels; the ground truth's own value (the chance level of the
  average, about 0.3 on Set14) is reported next to it.

Writes ``quality.md``, ``quality.json`` and crops in ``quality/`` under ``--out`` (with ``--ablation``:
``photo_ablation.md`` / ``.json`` instead), and prints the tables. ``--update-cards`` puts the metrics and
speed into the model cards.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

SCALE = 4
BORDER = 4
NOISE_SIGMA = 5.0 / 255.0
JPEG_QUALITY = 75
PROTOCOLS = ("bicubic", "real-world", "jpeg30", "jpeg45", "jpeg50", "jpeg70", "second-order")
ABLATION_PROTOCOLS = ("bicubic", "jpeg45", "second-order")
METRICS = ("psnr", "ssim", "block", "sharpness", "colour", "pattern")
SPEED_LR_SIZE = (1024, 768)  # (W, H) -> 4096 x 3072 output
TARGET = {"set": "Set14", "protocol": "jpeg45", "psnr_gain": 0.3, "block_rel": 0.10, "sharpness": 0.55,
          "colour": 2.0, "mp_per_s": 1.0}

Upscaler = Callable[[np.ndarray], np.ndarray]

# ----------------------------------------------------------------------------------------------- metrics


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in ``[0, 1]`` -> ``(H, W)`` float64 BT.601 luma in ``[16, 235]`` (MATLAB rgb2ycbcr)."""
    img = np.asarray(img, dtype=np.float64)
    return 16.0 + img @ np.array([65.481, 128.553, 24.966])


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two same-shape arrays on a ``data_range`` scale; ``inf`` when they are equal."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of ``(H, W)`` with the 1-D kernel ``g`` along both axes."""
    t = torch.from_numpy(img)[None, None]  # (1, 1, H, W) float64
    k = torch.from_numpy(g)
    t = torch.nn.functional.conv2d(t, k.view(1, 1, -1, 1))
    t = torch.nn.functional.conv2d(t, k.view(1, 1, 1, -1))
    return t[0, 0].numpy()


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two ``(H, W)`` images, 11x11 Gaussian window sigma 1.5, valid region.

    Both sides must be at least 11 pixels. Identical images give exactly 1.0.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    g = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def y_metrics(sr: np.ndarray, hr: np.ndarray, border: int = BORDER) -> tuple[float, float]:
    """(PSNR, SSIM) on Y with ``border`` pixels removed; ``sr``/``hr`` are ``(H, W, 3)`` uint8 RGB."""
    ys = rgb_to_y(sr / 255.0)[border:-border, border:-border]
    yh = rgb_to_y(hr / 255.0)[border:-border, border:-border]
    return psnr(ys, yh), ssim(ys, yh)


def _gradients(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute horizontal ``(H, W-1)`` and vertical ``(H-1, W)`` neighbour differences of a 2-D image."""
    y = np.asarray(y, np.float64)
    return np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))


def block_index(img: np.ndarray, grid: int = SCALE * 8) -> float:
    """How visible a JPEG block grid is: mean luma step across the ``grid`` lines / mean step elsewhere.

    ``img``: ``(H, W, 3)`` uint8 RGB, an x4 output whose input was a JPEG (8x8 blocks -> 32-px grid). The
    steps between pixels ``32k - 1`` and ``32k`` (horizontally and vertically) are compared with all other
    neighbour steps; the two ratios are averaged. A photo without blocks gives about 1.0; a visible grid > 1.
    """
    dx, dy = _gradients(rgb_to_y(img / 255.0))
    on_x = (np.arange(dx.shape[1]) + 1) % grid == 0
    on_y = (np.arange(dy.shape[0]) + 1) % grid == 0
    rx = dx[:, on_x].mean() / dx[:, ~on_x].mean()
    ry = dy[on_y, :].mean() / dy[~on_y, :].mean()
    return float(0.5 * (rx + ry))


def mean_gradient(img: np.ndarray) -> float:
    """Mean luma gradient magnitude ``sqrt(dx² + dy²)`` (forward differences) of ``(H, W, 3)`` uint8 RGB."""
    dx, dy = _gradients(rgb_to_y(img / 255.0))
    return float(np.sqrt(dx[:-1, :] ** 2 + dy[:, :-1] ** 2).mean())


def sharpness_ratio(sr: np.ndarray, hr: np.ndarray) -> float:
    """``mean_gradient(sr) / mean_gradient(hr)``: 1.0 is as crisp as the ground truth, bicubic about 0.4."""
    return mean_gradient(sr) / mean_gradient(hr)


def colour_shift(sr: np.ndarray, lr: np.ndarray) -> float:
    """Largest per-channel difference of the mean colour (8-bit levels) between output and input."""
    return float(np.abs(sr.reshape(-1, 3).mean(0) - lr.reshape(-1, 3).mean(0)).max())


def cell_pattern(img: np.ndarray, cell: int = SCALE) -> float:
    """How strong a pattern repeated in every ``cell`` x ``cell`` output cell is, in 8-bit luma levels (RMS).

    The luma's :func:`~sinsr_gui.training.losses.mean_cell_pattern` (the cells' position-by-position average
    after removing each cell's mean: what the training's pattern loss penalises), as an RMS. ``img`` is
    ``(H, W, 3)`` uint8 RGB; an image without such a pattern gives only the chance level of the average
    (smaller for larger images).
    """
    from sinsr_gui.training.losses import mean_cell_pattern

    pattern = mean_cell_pattern(torch.from_numpy(rgb_to_y(img / 255.0)), cell)  # float64, like the other measures
    return float(pattern.square().mean().sqrt())


def measure(sr: np.ndarray, hr: np.ndarray, lr: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one output (all ``(H, W, 3)`` uint8 RGB; ``lr`` is the input)."""
    p, s = y_metrics(sr, hr)
    return {"psnr": p, "ssim": s, "block": block_index(sr), "sharpness": sharpness_ratio(sr, hr),
            "colour": colour_shift(sr, lr), "pattern": cell_pattern(sr)}


# ----------------------------------------------------------------------------------------------- data


def load_hr(path: Path, scale: int = SCALE) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB, cropped at the bottom/right so both sides are multiples of ``scale``."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    h, w = arr.shape[0] - arr.shape[0] % scale, arr.shape[1] - arr.shape[1] % scale
    return np.ascontiguousarray(arr[:h, :w])


def _jpeg(arr: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.asarray(out.convert("RGB"))


def make_lr(hr: np.ndarray, protocol: str, name: str, scale: int = SCALE) -> np.ndarray:
    """The LR input for ``hr`` (uint8 RGB) under ``protocol`` (see the module docstring)."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    if protocol == "second-order":
        from sinsr_gui.training.degradations import RealWorldDegradation, degrade_real_world, to_uint8_hwc

        x = torch.from_numpy(hr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        return to_uint8_hwc(degrade_real_world(x, RealWorldDegradation.sinsr(), gen))
    img = Image.fromarray(hr).resize((hr.shape[1] // scale, hr.shape[0] // scale), Image.Resampling.BICUBIC)
    lr = np.asarray(img)
    if protocol == "bicubic":
        return lr
    if protocol.startswith("jpeg") and protocol[4:].isdigit():
        return _jpeg(lr, int(protocol[4:]))
    if protocol != "real-world":
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    x = torch.from_numpy(lr.astype(np.float32) / 255.0)
    x = x + NOISE_SIGMA * torch.randn(x.shape, generator=gen)
    return _jpeg((x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy(), JPEG_QUALITY)


def pil_upscale(lr: np.ndarray, method: Image.Resampling, scale: int = SCALE) -> np.ndarray:
    return np.asarray(Image.fromarray(lr).resize((lr.shape[1] * scale, lr.shape[0] * scale), method))


def model_upscale(model: torch.nn.Module, lr: np.ndarray, bf16: bool = False) -> np.ndarray:
    """Run ``model`` on ``(h, w, 3)`` uint8 RGB; returns ``(4h, 4w, 3)`` uint8 (clamped and rounded)."""
    x = torch.from_numpy(np.array(lr, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]  # (1, 3, h, w)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = model(x)
    return (y[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def list_pngs(folder: Path) -> list[Path]:
    exts = {".png", ".bmp", ".jpg", ".jpeg"}
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)


def classic_upscalers() -> dict[str, Upscaler]:
    return {"bicubic": lambda lr: pil_upscale(lr, Image.Resampling.BICUBIC),
            "lanczos": lambda lr: pil_upscale(lr, Image.Resampling.LANCZOS)}


def model_upscalers(models: dict[str, torch.nn.Module]) -> dict[str, Upscaler]:
    return {name: (lambda lr, m=m: model_upscale(m, lr)) for name, m in models.items()}


# ----------------------------------------------------------------------------------------------- evaluation


def evaluate_sets(sets: dict[str, Path], upscalers: dict[str, Upscaler], protocols: Sequence[str] = PROTOCOLS,
                  keep: Callable[[str, str, str], bool] = lambda *_: False) -> tuple[dict, dict]:
    """Every metric for every set x protocol x method.

    Returns ``(results, images)``. ``results[set][protocol]`` has ``"mean"[method][metric]``,
    ``"images"[name][method][metric]``, ``"gt_block"`` and ``"gt_pattern"`` (the ground truth's means).
    ``images[(set, protocol, name)]`` holds ``{"lr", "hr", method...}`` uint8 arrays for the ``(set, protocol,
    name)`` triples that ``keep`` accepts (for the crops).
    """
    results: dict = {}
    images: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    for set_name, folder in sets.items():
        results[set_name] = {}
        for protocol in protocols:
            per_image: dict[str, dict[str, dict[str, float]]] = {}
            gt_blocks, gt_patterns = [], []
            for path in list_pngs(folder):
                hr = load_hr(path)
                lr = make_lr(hr, protocol, path.name)
                outs = {m: fn(lr) for m, fn in upscalers.items()}
                per_image[path.stem] = {m: measure(out, hr, lr) for m, out in outs.items()}
                gt_blocks.append(block_index(hr))
                gt_patterns.append(cell_pattern(hr))
                if keep(set_name, protocol, path.stem):
                    images[(set_name, protocol, path.stem)] = {"lr": lr, "hr": hr, **outs}
            mean = {m: {k: statistics.fmean(v[m][k] for v in per_image.values()) for k in METRICS}
                    for m in upscalers}
            results[set_name][protocol] = {"mean": mean, "images": per_image,
                                           "gt_block": statistics.fmean(gt_blocks),
                                           "gt_pattern": statistics.fmean(gt_patterns)}
    return results, images


def check_targets(results: dict, method: str, speed: dict | None = None) -> dict:
    """The issue's targets for ``method`` on Set14 x4 bicubic + JPEG q45 (and speed, if measured)."""
    res = results[TARGET["set"]][TARGET["protocol"]]
    m, b = res["mean"][method], res["mean"]["bicubic"]
    gain = m["psnr"] - b["psnr"]
    block_rel = abs(m["block"] - res["gt_block"]) / res["gt_block"]
    out = {
        "psnr_gain_db": {"value": gain, "target": f">= {TARGET['psnr_gain']}", "met": gain >= TARGET["psnr_gain"]},
        "block_vs_gt": {"value": block_rel, "gt": res["gt_block"], "model": m["block"],
                        "target": f"<= {TARGET['block_rel']:.0%}", "met": block_rel <= TARGET["block_rel"]},
        "sharpness": {"value": m["sharpness"], "bicubic": b["sharpness"], "target": f">= {TARGET['sharpness']}",
                      "met": m["sharpness"] >= TARGET["sharpness"]},
        "colour_levels": {"value": m["colour"], "target": f"<= {TARGET['colour']}",
                          "met": m["colour"] <= TARGET["colour"]},
    }
    if speed and method in speed.get("models", {}):
        mps = speed["models"][method]["best_mp_per_s"]
        out["output_mp_per_s"] = {"value": mps, "target": f">= {TARGET['mp_per_s']}",
                                  "met": mps >= TARGET["mp_per_s"]}
    return out


def measure_speed(models: dict[str, torch.nn.Module], repeats: int = 3) -> dict:
    """Seconds for one 1024x768 -> 4096x3072 upscale per model, fp32 and bf16 autocast, whole image.

    The median of ``repeats`` runs after a warm-up; every model is timed in the same run, one after another.
    """
    w, h = SPEED_LR_SIZE
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    out: dict = {"input": f"{w}x{h}", "output": f"{w * SCALE}x{h * SCALE}", "threads": torch.get_num_threads(),
                 "device": cpu_name(), "torch": torch.__version__, "tiling": "none (whole image)",
                 "statistic": f"median of {repeats}", "models": {}}
    megapixels = w * h * SCALE * SCALE / 1e6
    for name, model in models.items():
        row = {}
        for key, bf16 in (("fp32_s", False), ("bf16_autocast_s", True)):
            times = []
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(x[..., :64, :64])  # warm-up: oneDNN picks its kernels on the first call
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    model(x).float().clamp_(0, 1)
                    times.append(time.perf_counter() - t0)
            row[key] = round(statistics.median(times), 2)
        row["best_mp_per_s"] = round(megapixels / min(row.values()), 2)
        out["models"][name] = row
    # The CPU may be shared: the load average says how busy it was while timing.
    out["load_average_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------------------------- pictures

LABELS = {"bicubic": "bicubic", "lanczos": "Lanczos", "faithful": "Faithful", "photo": "Photo", "hr": "ground truth",
          "input": "input (bicubic x4)"}
CROPS = (  # (set, protocol, image, (top, left) of the HR crop, size)
    ("Set14", "jpeg45", "comic", (100, 60), 128),
    ("Set14", "jpeg45", "zebra", (96, 180), 128),
    ("Set14", "second-order", "baboon", (200, 200), 128),
    ("Set5", "bicubic", "butterfly", (64, 64), 128),
)


def contact_sheet(tiles: Sequence[tuple[str, np.ndarray]], zoom: int, path: Path) -> None:
    """Save same-size ``(label, uint8 RGB)`` tiles side by side, each shown at ``zoom`` x nearest-neighbour."""
    gap, label_h = 6, 18
    h, w = tiles[0][1].shape[:2]
    sheet = Image.new("RGB", (len(tiles) * w * zoom + (len(tiles) - 1) * gap, h * zoom + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, img) in enumerate(tiles):
        x0 = i * (w * zoom + gap)
        sheet.paste(Image.fromarray(img).resize((w * zoom, h * zoom), Image.Resampling.NEAREST), (x0, label_h))
        draw.text((x0 + 4, 3), label, fill="black")
    sheet.save(path)


def busiest_window(img: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the ``size`` x ``size`` window with the most luma gradient (a deterministic crop choice)."""
    dx, dy = _gradients(rgb_to_y(img / 255.0))
    g = dx[:-1, :] + dy[:, :-1]
    h, w = g.shape
    if h < size or w < size:
        return 0, 0
    integral = np.pad(g.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    step = max(1, size // 8)
    sub = sums[::step, ::step]
    top, left = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return int(top * step), int(left * step)


def realset_crops(folder: Path, models: dict[str, torch.nn.Module], out: Path, size: int = 48) -> list[dict]:
    """Before/after crops of real photos without ground truth: input (bicubic x4) | each model.

    The crop is the ``size`` x ``size`` LR window with the most detail; shown at x4 (the output size).
    """
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for path in list_pngs(folder):
        with Image.open(path) as im:
            lr = np.asarray(im.convert("RGB"))
        top, left = busiest_window(lr, size)
        pad = 20  # run the model on a margin around the crop, as the tiler would
        t0, l0 = max(0, top - pad), max(0, left - pad)
        window = lr[t0 : top + size + pad, l0 : left + size + pad]
        tiles = [(LABELS["input"], pil_upscale(window, Image.Resampling.BICUBIC))]
        tiles += [(LABELS.get(n, n), model_upscale(m, window)) for n, m in models.items()]
        r, c = (top - t0) * SCALE, (left - l0) * SCALE
        tiles = [(lab, img[r : r + size * SCALE, c : c + size * SCALE]) for lab, img in tiles]
        fname = f"real_{path.stem.lower()}.png"
        contact_sheet(tiles, 1, out / fname)
        outs = {n: model_upscale(m, lr) for n, m in models.items()}
        entries.append({"file": fname, "image": path.name, "lr_size": f"{lr.shape[1]}x{lr.shape[0]}",
                        "crop": {"top": top, "left": left, "size": size},
                        "block": {"input": block_index(pil_upscale(lr, Image.Resampling.BICUBIC)),
                                  **{n: block_index(o) for n, o in outs.items()}},
                        "colour": {n: colour_shift(o, lr) for n, o in outs.items()},
                        "pattern": {n: cell_pattern(o) for n, o in outs.items()}})
    return entries


# ----------------------------------------------------------------------------------------------- reports


def _fmt(metric: str, v: float) -> str:
    return {"psnr": f"{v:.2f}", "ssim": f"{v:.4f}", "block": f"{v:.3f}", "sharpness": f"{v:.3f}",
            "colour": f"{v:.2f}", "pattern": f"{v:.2f}"}[metric]


def format_tables(results: dict, methods: Sequence[str]) -> str:
    """One markdown table per set: a row per protocol x method, a column per metric."""
    parts = []
    for set_name, by_protocol in results.items():
        lines = [f"### {set_name}", "", "| protocol | method | PSNR-Y dB | SSIM | block (GT) | sharpness | colour "
                 "shift | 4-px pattern (GT) | PSNR vs bicubic |", "|---|---|---|---|---|---|---|---|---|"]
        for protocol, res in by_protocol.items():
            base = res["mean"]["bicubic"]["psnr"]
            for m in methods:
                r = res["mean"][m]
                cells = [_fmt(k, r[k]) for k in METRICS]
                cells[2] += f" ({res['gt_block']:.3f})"
                if "gt_pattern" in res:
                    cells[5] += f" ({res['gt_pattern']:.2f})"
                lines.append(f"| {protocol} | {LABELS.get(m, m)} | " + " | ".join(cells)
                             + f" | {r['psnr'] - base:+.2f} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def format_targets(targets: dict) -> str:
    names = {"psnr_gain_db": "PSNR-Y gain over bicubic (dB)", "block_vs_gt": "block index, distance from GT's",
             "sharpness": "sharpness (gradient / GT's)", "colour_levels": "colour shift (8-bit levels)",
             "output_mp_per_s": "speed (output MP/s, this CPU)"}
    lines = ["| target | Photo | goal | met |", "|---|---|---|---|"]
    for key, t in targets.items():
        v = f"{t['value']:.1%}" if key == "block_vs_gt" else f"{t['value']:.2f}"
        if key == "block_vs_gt":
            v += f" ({t['model']:.3f} vs {t['gt']:.3f})"
        if key == "sharpness":
            v += f" (bicubic {t['bicubic']:.2f})"
        lines.append(f"| {names[key]} | {v} | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


PROTOCOL_DOC = [
    "- x4. HR cropped at the bottom/right to a multiple of 4; grey images (Set14 `bridge`) used as RGB.",
    "- **bicubic**: Pillow `resize(BICUBIC)` to 1/4 (antialiased; close to MATLAB `imresize`, not bit-identical).",
    f"- **real-world**: bicubic + Gaussian noise σ = {NOISE_SIGMA * 255:.0f}/255, then JPEG q = {JPEG_QUALITY}.",
    "- **jpegQ**: bicubic, then Pillow JPEG at quality Q (4:2:0).",
    "- **second-order**: SinSR's training degradation (official numbers: blur, resize, noise, JPEG, twice; "
    "then resize + sinc), one seeded draw per image.",
    "- Seeds: CRC32 of the file name. Outputs rounded to 8 bits. PSNR/SSIM on BT.601 Y, 4-px border; SSIM "
    "11×11 Gaussian σ 1.5.",
    "- **block**: mean luma step across the 32-px output grid (the input's 8×8 JPEG blocks) over the mean step "
    "elsewhere, horizontal and vertical averaged; the ground truth's own value in brackets.",
    "- **sharpness**: mean luma gradient magnitude (forward differences) over the ground truth's.",
    "- **colour shift**: largest per-channel difference of the mean colour against the input, 8-bit levels.",
    "- **4-px pattern**: a pattern repeated in every 4×4 output cell (a GAN's dot grid): each cell's mean removed, "
    "the cells averaged position by position, RMS in luma levels; the ground truth's value (chance level) in "
    "brackets.",
]


def write_quality_report(results: dict, images: dict, speed: dict, cards: dict[str, dict],
                         real: list[dict], targets: dict, out: Path) -> None:
    crop_dir = out / "quality"
    crop_dir.mkdir(parents=True, exist_ok=True)
    methods = ["bicubic", "lanczos", *cards]
    crop_md = []
    for set_name, protocol, name, (top, left), size in CROPS:
        pics = images.get((set_name, protocol, name))
        if pics is None:
            continue
        fname = f"{set_name.lower()}_{name}_{protocol.replace('-', '')}.png"
        tiles = [(LABELS.get(k, k), pics[k][top : top + size, left : left + size])
                 for k in ("bicubic", *cards, "hr")]
        contact_sheet(tiles, 2, crop_dir / fname)
        crop_md += [f"Set `{set_name}` `{name}`, {protocol} input, HR crop {size}×{size} at (top {top}, left "
                    f"{left}), shown at 2×:", "", f"![{name}](quality/{fname})", ""]
    md = ["# Quality of the built-in models", "",
          "Generated by `python -m sinsr_gui.evaluate` (numbers are means over each set). The models:", ""]
    for key, card in cards.items():
        arch, train = card.get("architecture", {}), card.get("training", {})
        md.append(f"- **{card.get('display_name', key)}** (`resources/models/{card.get('name', key)}.json`): "
                  f"{arch.get('parameters', 0):,} parameters, {train.get('steps')} training steps; "
                  f"{card.get('description', '')}")
    md += ["", "## Protocol", "", *PROTOCOL_DOC, "",
           "## Targets (Photo, Set14, x4 bicubic + JPEG q45)", "", format_targets(targets), "",
           "## Results", "", format_tables(results, methods), "", "## Speed", "",
           f"One {speed.get('input')} → {speed.get('output')} upscale, whole image, `torch.inference_mode`, "
           f"{speed.get('statistic')}, all models in one run, on {speed.get('device')} ({speed.get('threads')} "
           f"threads, torch {speed.get('torch')}; 1-min load average {speed.get('load_average_1min')} at the end):",
           "", "| model | fp32 s | bf16 autocast s | output MP/s (best) |", "|---|---|---|---|"]
    for name, row in speed.get("models", {}).items():
        md.append(f"| {LABELS.get(name, name)} | {row['fp32_s']} | {row['bf16_autocast_s']} | "
                  f"{row['best_mp_per_s']} |")
    md += ["", "## Real photos (RealSet65, no ground truth)", "",
           "The 48×48 LR window with the most detail of each photo, shown at the output size: the input enlarged "
           "with bicubic, then each model. Block index of the whole output (input enlarged: its own grid), "
           "colour shift against the input and the 4-px pattern of the whole output.", ""]
    for e in real:
        blocks = ", ".join(f"{LABELS.get(k, k)} {v:.2f}" for k, v in e["block"].items())
        colours = ", ".join(f"{LABELS.get(k, k)} {v:.2f}" for k, v in e["colour"].items())
        patterns = ", ".join(f"{LABELS.get(k, k)} {v:.2f}" for k, v in e.get("pattern", {}).items())
        md += [f"`{e['image']}` ({e['lr_size']}), crop at (top {e['crop']['top']}, left {e['crop']['left']}); "
               f"block: {blocks}; colour shift: {colours}; 4-px pattern: {patterns}", "",
               f"![{e['image']}](quality/{e['file']})", ""]
    md += ["## Crops with ground truth", "", *crop_md,
           "How the Photo model was trained and what each loss brought: [photo_training.md](photo_training.md)."]
    (out / "quality.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    payload = {"results": results, "speed": speed, "targets": targets, "real_photos": real}
    (out / "quality.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def write_ablation_report(results: dict, names: Sequence[str], specs: dict[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    md = ["# What each loss brings to the Photo model", "",
          "Short fine-tunes from one starting generator, each with one loss mix, on the same data stream (seed 0) "
          "and the same number of steps (`bash scripts/photo_ablation.sh INIT`), measured with "
          "`python -m sinsr_gui.evaluate --ablation`; Faithful is listed for reference.", "",
          "| run | weights |", "|---|---|", *[f"| {n} | `{specs.get(n, '')}` |" for n in names], "",
          "## Protocol", "", *PROTOCOL_DOC, "", format_tables(results, ["bicubic", "faithful", *names])]
    (out / "photo_ablation.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (out / "photo_ablation.json").write_text(json.dumps({"results": results, "runs": specs}, indent=2) + "\n",
                                             encoding="utf-8")


def update_cards(results: dict, speed: dict, targets: dict, names: dict[str, str]) -> None:
    """Put each model's mean metrics and speed into its card (the weight file and its hash are unchanged)."""
    from sinsr_gui.weights.builtin import builtin_card_path

    for method, builtin in names.items():
        path = builtin_card_path(builtin)
        card = json.loads(path.read_text(encoding="utf-8"))
        card["metrics"] = {
            "protocol": "x4, Y channel (BT.601), 4-px border; protocols and metrics in docs/quality.md",
            **{s: {p: {"model": r["mean"][method], "bicubic": r["mean"]["bicubic"], "gt_block": r["gt_block"]}
                   for p, r in by.items()} for s, by in results.items()},
        }
        if method == "photo":
            card["metrics"]["targets"] = targets
        card["speed"] = {k: v for k, v in speed.items() if k != "models"} | speed["models"].get(method, {})
        path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def _load_weights(path: Path) -> torch.nn.Module:
    from sinsr_gui.training.photo import load_initial_generator

    return load_initial_generator(str(path)).eval()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--set5", type=Path, required=True)
    p.add_argument("--set14", type=Path, required=True)
    p.add_argument("--realset", type=Path, help="folder of real photos without ground truth (crops only)")
    p.add_argument("--out", type=Path, default=Path("docs"), help="folder for the reports and crops")
    p.add_argument("--update-cards", action="store_true", help="write metrics and speed into the model cards")
    p.add_argument("--ablation", nargs="+", metavar="NAME=WEIGHTS",
                   help="compare these CompactSRNet safetensors files (and Faithful) instead")
    p.add_argument("--no-speed", action="store_true", help="skip the 1024x768 timing")
    args = p.parse_args(argv)

    from sinsr_gui.weights.builtin import FAITHFUL, PHOTO, load_builtin_card, load_builtin_model

    sets = {"Set5": args.set5, "Set14": args.set14}
    if args.ablation:
        specs = dict(item.split("=", 1) for item in args.ablation)
        models = {"faithful": load_builtin_model(name=FAITHFUL)} | {n: _load_weights(Path(w))
                                                                    for n, w in specs.items()}
        results, _ = evaluate_sets(sets, classic_upscalers() | model_upscalers(models), ABLATION_PROTOCOLS)
        print(format_tables(results, ["bicubic", *models]))
        write_ablation_report(results, list(specs), {n: _train_spec(Path(w)) for n, w in specs.items()}, args.out)
        return 0
    builtins = {"photo": PHOTO, "faithful": FAITHFUL}
    models = {k: load_builtin_model(name=v) for k, v in builtins.items()}
    cards = {k: load_builtin_card(v) for k, v in builtins.items()}
    keep = {(s, pr, n) for s, pr, n, _, _ in CROPS}
    results, images = evaluate_sets(sets, classic_upscalers() | model_upscalers(models),
                                    keep=lambda *k: k in keep)
    print(format_tables(results, ["bicubic", "lanczos", *models]))
    speed = {} if args.no_speed else measure_speed(models)
    targets = check_targets(results, "photo", speed)
    print(format_targets(targets))
    real = realset_crops(args.realset, models, args.out / "quality") if args.realset else []
    write_quality_report(results, images, speed, cards, real, targets, args.out)
    if args.update_cards and speed:
        update_cards(results, speed, targets, builtins)
    return 0


def _train_spec(weights: Path) -> str:
    """The loss weights a run was trained with, from its ``config.json`` (for the ablation table)."""
    cfg = weights.parent / "config.json"
    if not cfg.is_file():
        return ""
    meta = json.loads(cfg.read_text(encoding="utf-8"))
    loss = meta["train"]["loss"]
    return (f"pixel {loss['pixel']}{' (USM target)' if loss['usm_target'] else ''}, frequency {loss['frequency']}, "
            f"adversarial {loss['adversarial']}; {meta['step']} steps, batch {meta['train']['batch']}")


if __name__ == "__main__":
    raise SystemExit(main())
