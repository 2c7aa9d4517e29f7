"""Run methods over datasets: classic resamplers, and every model through the engine's use case.

A *method* is a function from an LR input to its x4 output, both ``(H, W, 3)`` uint8 RGB. A model is run
exactly as the app and ``sinsr-upscale`` run it (:func:`sinsr_gui.engine.photo.upscale_photo`: the tiler, the
model's automatic precision and its automatic colour fix) and its result is rounded to 8 bits the way a saved
file is, so the numbers are those of what users get, not of the bare network.

The models:

* the built-ins, loaded by the engine like any other model choice (:func:`engine_model`): Photo, Faithful and
  Most detail (Real-ESRGAN x4plus, the reference Photo is measured against);
* candidate Photo models (:func:`candidate_model`): a ``CompactSRNet`` safetensors file run as the built-in
  Photo model would run it (same precision rule and colour fix), so a candidate is measured as it would ship.
"""

from __future__ import annotations

import copy
import io
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from sinsr_gui.evaluate.metrics import METRICS, SCALE, block_index, cell_pattern, colour_shift, measure
from sinsr_gui.evaluate.protocols import PROTOCOLS, decoded, list_images, load_hr, make_lr

if TYPE_CHECKING:
    from sinsr_gui.engine.descriptor import Upscaler as EngineModel
    from sinsr_gui.engine.options import RunOptions

Method = Callable[[np.ndarray], np.ndarray]  # (h, w, 3) uint8 RGB -> (4h, 4w, 3) uint8 RGB
SPEED_LR_SIZE = (1024, 768)  # (W, H) -> 4096 x 3072 output


# ----------------------------------------------------------------------------------------------- methods
def pil_upscale(lr: np.ndarray, method: Image.Resampling, scale: int = SCALE) -> np.ndarray:
    return np.asarray(Image.fromarray(lr).resize((lr.shape[1] * scale, lr.shape[0] * scale), method))


def classic_upscalers() -> dict[str, Method]:
    return {"bicubic": lambda lr: pil_upscale(lr, Image.Resampling.BICUBIC),
            "lanczos": lambda lr: pil_upscale(lr, Image.Resampling.LANCZOS)}


def engine_upscale(model: EngineModel, lr: np.ndarray, run: RunOptions | None = None) -> np.ndarray:
    """Upscale ``lr`` ((h, w, 3) uint8 RGB) with the engine's use case, as the app does; the 8-bit result."""
    from sinsr_gui.engine import imageio
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import photo_from_pil, run_to_result, upscale_photo

    encoded = getattr(lr, "encoded", None)  # an EncodedLowRes: read as its file would be (a JPEG's coding)
    photo = photo_from_pil(Image.open(io.BytesIO(encoded)) if encoded else Image.fromarray(np.asarray(lr)))
    result = run_to_result(upscale_photo(model, photo, run or RunOptions(scale=SCALE)))
    # The samples a saved 8-bit file holds (the encoder's own rounding).
    return np.asarray(imageio.to_pil(result.rgb, None, alpha=None, bit_depth=8))


def engine_upscalers(models: dict[str, EngineModel], run: RunOptions | None = None) -> dict[str, Method]:
    return {name: (lambda lr, m=m: engine_upscale(m, lr, run)) for name, m in models.items()}


def engine_model(choice: str, dtype: str = "auto") -> EngineModel:
    """A model choice (``photo``, ``faithful``, ``community:NAME``...) loaded on the CPU by the engine."""
    from sinsr_gui.engine.models import ModelRequest, load_model

    model, _ = load_model(ModelRequest(model=choice, device="cpu", dtype=dtype))
    return model


def candidate_model(weights: Path, dtype: str = "auto") -> EngineModel:
    """A candidate Photo model run exactly as the built-in Photo model: the shipped upscaler with its network
    swapped for the candidate's. ``weights``: ``CompactSRNet`` safetensors; its config comes from the card beside
    it (``NAME.json``, ``architecture.config``, like ``resources/models/photo_x4.json``), else from the file's
    metadata, else the default."""
    import json

    from sinsr_gui.nn.compact import CompactConfig, CompactSRNet
    from sinsr_gui.training.photo import load_initial_generator
    from sinsr_gui.weights.checkpoint import load_strict, read_state_dict

    card = Path(weights).with_suffix(".json")
    config = json.loads(card.read_text(encoding="utf-8")).get("architecture", {}).get("config") if card.is_file() \
        else None
    if config:
        network = CompactSRNet.from_config(CompactConfig(**config))
        load_strict(network, read_state_dict(Path(weights)), source=Path(weights).name)
    else:
        network = load_initial_generator(str(weights))
    network.eval()
    model = copy.copy(engine_model("photo", dtype))
    model.network = network.to(model.device)  # type: ignore[attr-defined]
    return model


# ----------------------------------------------------------------------------------------------- evaluation
def evaluate_sets(sets: dict[str, Path], upscalers: dict[str, Method], protocols: Sequence[str] = PROTOCOLS,
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
            for path in list_images(folder):
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


def run_real_photos(paths: Sequence[Path], upscalers: dict[str, Method]) -> list[dict]:
    """Real photos without ground truth: each method on the whole photo (as a user would run it).

    Returns one entry per photo: ``image`` (file name), ``lr`` (the photo), ``outputs`` (method -> uint8 RGB),
    and the measures that need no ground truth: ``block`` (the input enlarged with bicubic under ``"input"``:
    its own grid), ``colour`` (against the input) and ``pattern``.
    """
    entries = []
    for path in paths:
        lr = decoded(path.read_bytes())
        outs = {n: fn(lr) for n, fn in upscalers.items()}
        entries.append({"image": path.name, "lr": lr, "outputs": outs,
                        "block": {"input": block_index(pil_upscale(lr, Image.Resampling.BICUBIC)),
                                  **{n: block_index(o) for n, o in outs.items()}},
                        "colour": {n: colour_shift(o, lr) for n, o in outs.items()},
                        "pattern": {n: cell_pattern(o) for n, o in outs.items()}})
    return entries


# ----------------------------------------------------------------------------------------------- speed
def measure_speed(models: dict[str, torch.nn.Module], repeats: int = 3) -> dict:
    """Seconds for one 1024x768 -> 4096x3072 upscale per network, fp32 and bf16 autocast, whole image.

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
