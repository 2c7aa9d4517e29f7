"""One prepared GPU measurement (issue 21, item 5): every model end to end, SinSR's tile, memory caps. One JSON.

On the lent GPU (torch with CUDA, numpy, pillow; platformdirs and safetensors travel as wheels in ``.whl/``,
made here with ``pip download --only-binary=:all: --no-deps --python-version 3.12 -d .whl safetensors==0.8.0
platformdirs==4.14.9``), run from the repository root with ``carry: [".whl"]``::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
    PYTHONPATH=/tmp/site:. python3 scripts/gpu_perf.py --out "$OUT/gpu_perf.json"

and on a CPU, tiny sizes, to check the script itself: ``python scripts/gpu_perf.py --dry-run --out /tmp/x.json``.

What it measures (designed to take under 150 s on an H200; ``--budget`` skips what is left after that long,
and says so in the JSON):

1. **End to end**: the built-in Photo, Faithful and Most detail models and SinSR (full-size v1 architecture,
   seeded random weights) through :func:`sinsr_gui.engine.photo.upscale_photo` (the app's and the command line's use case:
   tiler, blend, colour fix) on the bundled sample photo, at 3 tile sizes, in fp16 and bf16; a cold and a warm
   run, and the peak CUDA memory of each tile size.
2. **SinSR's tile**: :func:`sinsr_gui.bench.bench_variant` at LR 64, 128, 256 (output 256-1024) in fp16, bf16
   and auto: latency per stage and per tile, FLOPs, the share of the same-dtype matmul peak, peak memory;
   ``--compile`` adds fp16 with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs) at 64 (compile time
   reported; off by default, it can take a minute).
3. **Memory caps** (laptop GPUs): for 4, 6 and 8 GB, the tile the automatic choice
   (:func:`sinsr_gui.engine.memory.auto_tile_size`) picks for that much free memory, a run under
   ``torch.cuda.set_per_process_memory_fraction`` at that cap, its peak, and the largest difference from the
   uncapped run at the same tile (0 expected: memory must not change the result).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

GB = 1024**3


class Budget:
    def __init__(self, seconds: float) -> None:
        self.start, self.seconds = time.perf_counter(), seconds

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> bool:
        return self.elapsed < self.seconds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_since(device: torch.device, base: int) -> int | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def build(name: str, device: torch.device, dtype: str, config):
    from sinsr_gui.engine.models import descriptor_for
    from sinsr_gui.engine.models.builtin import BuiltinUpscaler
    from sinsr_gui.engine.pipeline import SinSRPipeline

    if name == "sinsr":
        return SinSRPipeline.from_config(config, device=device, dtype=dtype, seed=0)
    return BuiltinUpscaler(descriptor_for(name), device, dtype)  # photo, faithful, detail


def upscale(model, photo, tile: int, colour_fix: str = "auto") -> tuple[np.ndarray, float]:
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import run_to_result, upscale_photo

    start = time.perf_counter()
    result = run_to_result(upscale_photo(model, photo, RunOptions(tile=tile, colour_fix=colour_fix)))
    sync(model.device)
    return result.rgb, time.perf_counter() - start


def end_to_end(models: dict[str, list[int]], dtypes: list[str], photo, device, config, budget: Budget) -> list[dict]:
    rows = []
    for name, tiles in models.items():
        for dtype in dtypes:
            if not budget.left():
                rows.append({"model": name, "dtype": dtype, "skipped": "time budget"})
                continue
            model = build(name, device, dtype, config)
            for tile in tiles:
                base = reset_peak(device)
                _, cold = upscale(model, photo, tile)
                _, warm = upscale(model, photo, tile)
                w, h = photo.size
                rows.append({"model": name, "dtype": dtype, "precision": model.precision_label, "tile": tile,
                             "lr_size": [w, h], "cold_s": cold, "warm_s": warm,
                             "output_mp_per_s_warm": 16 * w * h / 1e6 / warm,
                             "peak_bytes": peak_since(device, base)})
                print(f"e2e {name} {dtype} tile {tile}: cold {cold:.3f} s, warm {warm:.3f} s", flush=True)
            del model
    return rows


def sinsr_tiles(config, device, tiles: list[int], variants: list[str], compile_: bool, budget: Budget) -> dict:
    from sinsr_gui import bench

    all_variants = {v.name: v for v in bench.variants_for(device, compile_)}
    all_variants.setdefault("fp32", bench.Variant("fp32", torch.float32))
    chosen = [all_variants[n] for n in variants if n in all_variants]
    reference: dict = {}
    flops: dict = {}
    peaks: dict = {}
    rows = []
    for tile in tiles:
        for variant in chosen:
            if not budget.left():
                rows.append({"variant": variant.name, "tile": tile, "skipped": "time budget"})
                continue
            r = bench.bench_variant(config, variant, tile, device, 3 if device.type == "cpu" else 7, reference,
                                    flops, peaks)
            rows.append(r.__dict__)
            print(f"sinsr tile {tile} {variant.name}: {1000 * r.tile_seconds['median_s']:.1f} ms, "
                  f"{r.fraction_of_peak:.1%} of the {r.precision} matmul peak", flush=True)
    return {"results": rows, "matmul_peak_flops_per_s": peaks}


def caps(photo, device, config, caps_gb: list[float], dtype: str, budget: Budget) -> list[dict]:
    """The automatic tile for each memory cap, a run under the cap, and its result against the uncapped one."""
    from sinsr_gui.engine.memory import auto_tile_size

    rows = []
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    for name in ("sinsr", "photo"):
        model = build(name, device, dtype, config)
        for cap in caps_gb:
            if not budget.left():
                rows.append({"model": name, "cap_gb": cap, "skipped": "time budget"})
                continue
            used = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
            tile = auto_tile_size(device, model.descriptor, free_bytes=int(cap * GB) - used)
            row = {"model": name, "precision": model.precision_label, "cap_gb": cap, "auto_tile": tile}
            uncapped, _ = upscale(model, photo, tile)
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.set_per_process_memory_fraction(min(1.0, cap * GB / total), device)
            try:
                base = reset_peak(device)
                capped, seconds = upscale(model, photo, tile)
                row.update(seconds=seconds, peak_bytes=peak_since(device, base),
                           max_abs_diff_vs_uncapped=float(np.abs(capped - uncapped).max()),
                           equal=bool(np.array_equal(capped, uncapped)))
            except Exception as exc:  # noqa: BLE001 - recorded: an OOM under the cap is a result
                row["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                if device.type == "cuda":
                    torch.cuda.set_per_process_memory_fraction(1.0, device)
            rows.append(row)
            print(f"cap {cap} GB {name}: auto tile {tile}, {row.get('max_abs_diff_vs_uncapped', row.get('error'))}",
                  flush=True)
        del model
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the JSON to write")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check that the script runs")
    p.add_argument("--compile", action="store_true", help="also fp16 with CUDA graphs (torch.compile)")
    p.add_argument("--budget", type=float, default=140.0, help="seconds; later parts are skipped after it")
    args = p.parse_args(argv)
    from sinsr_gui.engine.config import SinSRConfig
    from sinsr_gui.engine.devices import device_label
    from sinsr_gui.engine.photo import read_photo

    budget = Budget(args.budget)
    photo = read_photo(ROOT / "resources" / "samples" / "sample.png")  # 192x128
    if args.dry_run:
        device = torch.device("cpu")
        config = SinSRConfig.from_json(ROOT / "tests" / "fixtures" / "case_a" / "config.json")
        photo.rgb = np.ascontiguousarray(photo.rgb[:40, :64])
        dtypes, sinsr_variants = ["bf16", "fp32"], ["fp32", "auto"]
        models = {"photo": [32, 64], "faithful": [64], "detail": [32], "sinsr": [64]}
        tiles, caps_gb = [64], [0.05, 4]
        budget.seconds = float("inf")  # a check of the script: every part runs
    else:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = False  # the same algorithms capped and uncapped
        config = SinSRConfig.sinsr_v1()
        dtypes, sinsr_variants = ["fp16", "bf16"], ["fp32", "fp16", "bf16", "auto"]
        models = {"photo": [64, 128, 192], "faithful": [64, 128, 192], "detail": [64, 128, 192],
                  "sinsr": [64, 128, 192]}
        tiles, caps_gb = [64, 128, 256], [4, 6, 8]
        if args.compile:
            sinsr_variants.append("fp16+graphs")
    report: dict = {"device": device_label(device), "torch": torch.__version__, "cuda": torch.version.cuda,
                    "python": platform.python_version(), "dry_run": args.dry_run, "photo_lr_size": list(photo.size)}
    parts = {
        "end_to_end": lambda: end_to_end(models, dtypes, photo, device, config, budget),
        "sinsr_tile": lambda: sinsr_tiles(config, device, tiles, sinsr_variants, args.compile, budget),
        "memory_caps": lambda: caps(photo, device, config, caps_gb, "auto", budget),
    }
    for key, run in parts.items():
        try:
            report[key] = run()
        except Exception:  # noqa: BLE001 - one failing part must not lose the others' numbers
            report[key] = {"error": traceback.format_exc()}
            print(report[key]["error"], file=sys.stderr, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**report, "elapsed_s": budget.elapsed}, indent=1, default=str) + "\n")
    print(f"wrote {args.out} after {budget.elapsed:.1f} s")
    return 0 if not any(isinstance(report[k], dict) and "error" in report[k] for k in parts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
