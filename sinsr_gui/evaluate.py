"""Measure the built-in compact model against bicubic and Lanczos upscaling on Set5 and Set14 (x4).

    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR [--out docs] [--card resources/models/compact_x4.json]

Protocol (the usual one for x4 SR papers, with Pillow instead of MATLAB for the downscale):

* HR: the image as RGB (grey images are repeated to 3 channels), cropped at the bottom/right to a multiple
  of 4.
* LR "bicubic": Pillow ``resize(..., BICUBIC)`` to 1/4 size (antialiased, a = -0.5, like MATLAB ``imresize``
  but not bit-identical to it, so absolute numbers differ slightly from published tables).
* LR "real-world": the bicubic LR plus Gaussian noise of sigma 5/255 (one ``torch.Generator`` per image,
  seeded with CRC32 of the file name), rounded to 8 bits, then JPEG q=75 with Pillow (4:2:0).
* Every method's output is rounded to 8 bits (as a saved image would be), then compared on the ITU-R BT.601
  luma ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1]; Y in [16, 235]) with a 4-pixel
  border removed. SSIM uses the standard 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255,
  averaged over the valid (unpadded) positions.

Writes ``quality.md``, ``quality.json`` and side-by-side crops (bicubic | compact | ground truth) in
``quality/`` under ``--out``, and prints the table. With ``--card`` the metrics and speed go into the card.
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
DEGRADATIONS = ("bicubic", "real-world")
METHODS = ("bicubic", "lanczos", "compact", "compact_bf16")
SPEED_LR_SIZE = (1024, 768)  # (W, H) -> 4096 x 3072 output

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


# ----------------------------------------------------------------------------------------------- data


def load_hr(path: Path, scale: int = SCALE) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB, cropped at the bottom/right so both sides are multiples of ``scale``."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    h, w = arr.shape[0] - arr.shape[0] % scale, arr.shape[1] - arr.shape[1] % scale
    return np.ascontiguousarray(arr[:h, :w])


def make_lr(hr: np.ndarray, degradation: str, name: str, scale: int = SCALE) -> np.ndarray:
    """The LR input for ``hr`` (uint8 RGB) under ``degradation`` (see the module docstring)."""
    img = Image.fromarray(hr).resize((hr.shape[1] // scale, hr.shape[0] // scale), Image.Resampling.BICUBIC)
    if degradation == "bicubic":
        return np.asarray(img)
    if degradation != "real-world":
        raise ValueError(f"unknown degradation {degradation!r}")
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    x = x + NOISE_SIGMA * torch.randn(x.shape, generator=gen)
    noisy = Image.fromarray((x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy())
    buf = io.BytesIO()
    noisy.save(buf, format="JPEG", quality=JPEG_QUALITY)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.asarray(out.convert("RGB"))


def pil_upscale(lr: np.ndarray, method: Image.Resampling, scale: int = SCALE) -> np.ndarray:
    return np.asarray(Image.fromarray(lr).resize((lr.shape[1] * scale, lr.shape[0] * scale), method))


def model_upscale(model: torch.nn.Module, lr: np.ndarray, bf16: bool = False) -> np.ndarray:
    """Run ``model`` on ``(h, w, 3)`` uint8 RGB; returns ``(4h, 4w, 3)`` uint8 (clamped and rounded)."""
    x = torch.from_numpy(np.array(lr, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]  # (1, 3, h, w)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = model(x)
    return (y[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def list_pngs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".bmp", ".jpg"})


# ----------------------------------------------------------------------------------------------- evaluation


def evaluate_sets(
    sets: dict[str, Path], model: torch.nn.Module
) -> tuple[dict, dict[tuple[str, str, str], dict[str, np.ndarray]]]:
    """Per-image and mean (PSNR, SSIM) for every set x degradation x method.

    Returns ``(results, images)``: ``results[set][degradation]["mean"|"images"]...`` and, for the crops,
    ``images[(set, degradation, name)] = {"lr", "bicubic", "compact", "hr"}`` uint8 arrays.
    """
    upscalers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "bicubic": lambda lr: pil_upscale(lr, Image.Resampling.BICUBIC),
        "lanczos": lambda lr: pil_upscale(lr, Image.Resampling.LANCZOS),
        "compact": lambda lr: model_upscale(model, lr),
        # What the app runs on CPUs with native bf16: shows what autocast costs in quality.
        "compact_bf16": lambda lr: model_upscale(model, lr, bf16=True),
    }
    results: dict = {}
    images: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    for set_name, folder in sets.items():
        results[set_name] = {}
        for deg in DEGRADATIONS:
            per_image: dict[str, dict[str, dict[str, float]]] = {}
            for path in list_pngs(folder):
                hr = load_hr(path)
                lr = make_lr(hr, deg, path.name)
                outs = {m: fn(lr) for m, fn in upscalers.items()}
                per_image[path.stem] = {
                    m: dict(zip(("psnr", "ssim"), y_metrics(out, hr), strict=True)) for m, out in outs.items()
                }
                images[(set_name, deg, path.stem)] = {"lr": lr, "bicubic": outs["bicubic"],
                                                      "compact": outs["compact"], "hr": hr}
            mean = {
                m: {k: statistics.fmean(v[m][k] for v in per_image.values()) for k in ("psnr", "ssim")}
                for m in METHODS
            }
            results[set_name][deg] = {"mean": mean, "images": per_image}
    return results, images


def measure_speed(model: torch.nn.Module, repeats: int = 2) -> dict:
    """Seconds for one 1024x768 -> 4096x3072 upscale, fp32 and bf16 autocast, whole image, best of ``repeats``."""
    w, h = SPEED_LR_SIZE
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    out: dict = {"input": f"{w}x{h}", "output": f"{w * SCALE}x{h * SCALE}", "threads": torch.get_num_threads(),
                 "device": _cpu_name(), "torch": torch.__version__, "tiling": "none (whole image)"}
    for name, bf16 in (("fp32_s", False), ("bf16_autocast_s", True)):
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(x[..., :64, :64])  # warm-up: oneDNN picks its kernels on the first call
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x).float().clamp_(0, 1)
                times.append(time.perf_counter() - t0)
        out[name] = round(min(times), 2)
    # The CPU may be shared: the load average says how busy it was while timing.
    out["load_average_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------------------------- reports


CROPS = (  # (set, degradation, image, (top, left) of the HR crop, size)
    ("Set5", "bicubic", "butterfly", (64, 64), 128),
    ("Set14", "bicubic", "zebra", (96, 180), 128),
    ("Set14", "real-world", "comic", (100, 60), 128),
)


def save_crop(pics: dict[str, np.ndarray], top: int, left: int, size: int, path: Path) -> None:
    """Save ``bicubic | compact | ground truth`` crops side by side, each shown at 2x with nearest neighbour."""
    zoom, gap, label_h = 2, 6, 18
    tiles = [("bicubic", pics["bicubic"]), ("compact", pics["compact"]), ("ground truth", pics["hr"])]
    width = len(tiles) * size * zoom + (len(tiles) - 1) * gap
    sheet = Image.new("RGB", (width, size * zoom + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, img) in enumerate(tiles):
        crop = Image.fromarray(img[top : top + size, left : left + size])
        x0 = i * (size * zoom + gap)
        sheet.paste(crop.resize((size * zoom, size * zoom), Image.Resampling.NEAREST), (x0, label_h))
        draw.text((x0 + 4, 3), label, fill="black")
    sheet.save(path)


def format_table(results: dict) -> str:
    lines = ["| set | degradation | bicubic PSNR / SSIM | Lanczos PSNR / SSIM | compact PSNR / SSIM | "
             "compact bf16 PSNR / SSIM | compact − bicubic (dB) |", "|---|---|---|---|---|---|---|"]
    for set_name, by_deg in results.items():
        for deg, res in by_deg.items():
            m = res["mean"]
            cells = [f"{m[k]['psnr']:.2f} / {m[k]['ssim']:.4f}" for k in METHODS]
            gain = m["compact"]["psnr"] - m["bicubic"]["psnr"]
            lines.append(f"| {set_name} | {deg} | " + " | ".join(cells) + f" | {gain:+.2f} |")
    return "\n".join(lines)


def write_reports(results: dict, images: dict, speed: dict, card: dict, out: Path) -> None:
    crop_dir = out / "quality"
    crop_dir.mkdir(parents=True, exist_ok=True)
    crop_files = []
    for set_name, deg, name, (top, left), size in CROPS:
        key = (set_name, deg, name)
        if key not in images:
            continue
        fname = f"{set_name.lower()}_{name}_{deg.replace('-', '')}.png"
        save_crop(images[key], top, left, size, crop_dir / fname)
        crop_files.append((fname, set_name, deg, name, top, left, size))
    table = format_table(results)
    arch = card.get("architecture", {})
    train = card.get("training", {})
    md = [
        "# Quality of the built-in compact x4 model",
        "",
        f"Model: `{card.get('display_name', 'Compact (built-in)')}`, {arch.get('class', 'CompactSRNet')} "
        f"{arch.get('config')}, {arch.get('parameters', 0):,} parameters, trained {train.get('steps')} steps "
        "on T91 + BSD200 (see `resources/models/compact_x4.json`).",
        "Generated by `python -m sinsr_gui.evaluate`; numbers are means over each set.",
        "",
        "## Protocol",
        "",
        "- x4. HR cropped at the bottom/right to a multiple of 4; grey images (Set14 `bridge`) used as RGB.",
        "- **bicubic** LR: Pillow `resize(BICUBIC)` to 1/4 (antialiased; close to MATLAB `imresize`, not "
        "bit-identical, so absolute values differ slightly from published tables).",
        f"- **real-world** LR: the bicubic LR + Gaussian noise σ = {NOISE_SIGMA * 255:.0f}/255 (torch.Generator "
        f"seeded with CRC32 of the file name), rounded to 8 bits, then Pillow JPEG q = {JPEG_QUALITY}.",
        "- Outputs rounded to 8 bits. PSNR and SSIM on BT.601 Y (16–235, as MATLAB `rgb2ycbcr`), 4-px border "
        "removed; SSIM with an 11×11 Gaussian window, σ = 1.5, valid region.",
        "- bicubic / Lanczos upscaling: Pillow `resize(BICUBIC / LANCZOS)`. compact: fp32, clamped to [0, 1]; "
        "compact bf16: the same weights under CPU bf16 autocast (what the app uses on CPUs with bf16 units).",
        "",
        "## Results (PSNR dB / SSIM, Y channel)",
        "",
        table,
        "",
        "## Speed",
        "",
        f"One {speed['input']} → {speed['output']} upscale, whole image, `torch.inference_mode`, best of 2, "
        f"on {speed['device']} ({speed['threads']} threads, torch {speed['torch']}; 1-min load average "
        f"{speed.get('load_average_1min')} at the end, from other jobs on the same CPU):",
        "",
        f"- fp32: **{speed['fp32_s']} s**",
        f"- bf16 autocast: **{speed['bf16_autocast_s']} s**",
        "",
        "## Crops (bicubic | compact | ground truth, shown at 2× nearest-neighbour)",
        "",
    ]
    for fname, set_name, deg, name, top, left, size in crop_files:
        md += [f"{set_name} `{name}`, {deg} LR, HR crop {size}×{size} at (top {top}, left {left}):", "",
               f"![{name}](quality/{fname})", ""]
    (out / "quality.md").write_text("\n".join(md), encoding="utf-8")
    (out / "quality.json").write_text(json.dumps({"results": results, "speed": speed}, indent=2) + "\n",
                                      encoding="utf-8")


def update_card(card_path: Path, results: dict, speed: dict) -> None:
    """Put the mean metrics and the speed into the model card (the weight file and its hash are unchanged)."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["metrics"] = {
        "protocol": "x4, Y channel (BT.601), 4-px border, Pillow bicubic LR; see docs/quality.md",
        **{s: {d: r["mean"] for d, r in by.items()} for s, by in results.items()},
    }
    card["speed"] = speed
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--set5", type=Path, required=True)
    p.add_argument("--set14", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs"), help="folder for quality.md/json and crops")
    p.add_argument("--card", type=Path, help="model card to update with metrics and speed")
    p.add_argument("--weights", type=Path,
                   help="evaluate these CompactSRNet safetensors (default config) instead of the built-in model")
    p.add_argument("--no-speed", action="store_true", help="skip the 1024x768 timing")
    args = p.parse_args(argv)

    from sinsr_gui.weights.builtin import load_builtin_card, load_builtin_model

    if args.weights:
        from sinsr_gui.nn.compact import CompactConfig, CompactSRNet
        from sinsr_gui.weights.checkpoint import load_checkpoint_into

        model = CompactSRNet.from_config(CompactConfig.default()).eval()
        load_checkpoint_into(model, args.weights)
        card: dict = {}
    else:
        model, card = load_builtin_model(), load_builtin_card()
    results, images = evaluate_sets({"Set5": args.set5, "Set14": args.set14}, model)
    print(format_table(results))
    speed = measure_speed(model) if not args.no_speed else {}
    if speed:
        print(f"speed {speed['input']} -> {speed['output']}: fp32 {speed['fp32_s']} s, "
              f"bf16 autocast {speed['bf16_autocast_s']} s ({speed['device']}, {speed['threads']} threads)")
        write_reports(results, images, speed, card, args.out)
        if args.card:
            update_card(args.card, results, speed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
