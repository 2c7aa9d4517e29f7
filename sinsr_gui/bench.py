"""Benchmark of the single SinSR step: ``python -m sinsr_gui.bench [--tiles 64 128] [--teacher] [--json out.json]``
(``--e2e``: every model end to end, file to file: :mod:`sinsr_gui.bench_e2e`).

Builds the full-size SinSR v1 architecture with untrained weights (the speed does not depend on the weight
values) and, for each precision/layout variant available on the device, times warm runs of each stage and of
the whole tile, counts FLOPs with ``torch.utils.flop_counter``, measures the peak memory and, in the same run,
the peak of a large matmul in the same dtype. Every fast variant is checked against the float32 reference
on the same input (max abs diff, PSNR, codebook-index agreement). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.devices import device_label, resolve_device
from sinsr_gui.engine.pipeline import SinSRPipeline
from sinsr_gui.process_memory import PeakRSS

OFFICIAL_CPU_SECONDS_128 = 50.1  # official code, fp32, this 2-core CPU (reference perf_full_size.json)


@dataclass
class Variant:
    name: str
    dtype: str | torch.dtype  # passed to SinSRPipeline
    channels_last: bool = False
    compile: bool = False


def variants_for(device: torch.device, compile_: bool = False) -> list[Variant]:
    if device.type == "cuda":
        out = [Variant("fp32", torch.float32), Variant("tf32", torch.float32, True),
               Variant("fp16", torch.float16, True), Variant("bf16", torch.bfloat16, True),
               Variant("auto", "auto", True)]
        if compile_:
            out += [Variant("fp16+compile", torch.float16, True, True),
                    Variant("fp16+graphs", torch.float16, True, True)]
        return out
    out = [Variant("fp32", torch.float32), Variant("fp32-cl", torch.float32, True)]
    out += [Variant("bf16-cl", torch.bfloat16, True), Variant("auto", "auto", True)]
    return out


# ------------------------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or the process's peak RSS on Linux
    (:class:`~sinsr_gui.process_memory.PeakRSS`), reported as the rise above the level at the start."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes: int | None = None
        self._rss = PeakRSS()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._rss.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._rss.__exit__(*exc)
            self.peak_bytes = self._rss.peak_bytes


# ------------------------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(fn: Callable[[], object], device: torch.device, runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int | None = None, runs: int = 3) -> float:
    """FLOP/s of a large square matmul in ``dtype`` on ``device`` (the practical peak for that dtype)."""
    n = n or (8192 if device.type == "cuda" else 4096)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = time_runs(lambda: a @ b, device, runs=runs, warmup=1)
    return 2 * n**3 / min(times)


def count_flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.float() - b.float()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


# ------------------------------------------------------------------------------------------- stages


@dataclass
class StageInputs:
    lq: torch.Tensor
    noise: torch.Tensor


def make_inputs(tile: int, device: torch.device, seed: int = 0) -> StageInputs:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, tile), torch.linspace(0, 1, tile), indexing="ij")
    img = torch.stack([0.5 + 0.4 * torch.sin(6 * xx), 0.5 + 0.4 * torch.cos(5 * yy), xx * yy])[None]
    img = (img + 0.05 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    noise = torch.randn((1, 3, tile, tile), generator=g)
    return StageInputs(((img - 0.5) / 0.5).to(device), noise.to(device))


def stage_functions(pipe: SinSRPipeline, inputs: StageInputs) -> dict[str, Callable[[], object]]:
    """Callables for each stage, fed with tensors precomputed from the previous stage."""
    ae, unet, sched = pipe.autoencoder, pipe.unet, pipe.schedule
    enc_dtype = ae.quant_conv.weight.dtype
    dec_dtype = ae.post_quant_conv.weight.dtype
    lq, noise = inputs.lq, inputs.noise
    with torch.inference_mode():
        z_y = ae.encode(F.interpolate(lq, scale_factor=4, mode="bicubic").to(enc_dtype)).float()
        x_in = (z_y + sched.prior_noise_scale(14).to(lq.device) * noise) / sched.input_scale(14).to(lq.device)
        t = torch.full((1,), 14, dtype=torch.long, device=lq.device)
        pred = unet(x_in, t, lq).float()
        quantized, _ = ae.quantize(pred)
        quantized = quantized.to(dec_dtype)

    def encoder() -> object:
        return ae.encode(F.interpolate(lq, scale_factor=4, mode="bicubic").to(enc_dtype))

    return {
        "encoder": encoder,
        "unet": lambda: unet(x_in, t, lq),
        "quantizer": lambda: ae.quantize(pred),
        "decoder": lambda: ae.decode_quantized(quantized),
        "tile": lambda: pipe.run_padded(lq, noise),
    }


def _modules(config: SinSRConfig):
    """Fresh seeded modules (untrained weights), the same in every variant."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return SinSRPipeline.build_modules(config)


@dataclass
class Result:
    variant: str
    tile: int
    precision: str
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    tile_seconds: dict[str, float] = field(default_factory=dict)
    output_megapixels_per_s: float = 0.0
    flops: int = 0
    achieved_flops_per_s: float = 0.0
    matmul_peak_flops_per_s: float = 0.0
    fraction_of_peak: float = 0.0
    peak_memory_bytes: int | None = None
    check: dict[str, float] = field(default_factory=dict)
    compile_seconds: float | None = None


def summarise(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": len(times)}


def bench_variant(config: SinSRConfig, variant: Variant, tile: int, device: torch.device, runs: int,
                  reference: dict[int, tuple[torch.Tensor, torch.Tensor]], flops_by_tile: dict[int, int],
                  peaks: dict[str, float]) -> Result:
    if device.type == "cuda":
        # True float32 for the reference; TF32 (10-bit mantissa tensor cores) only in the "tf32" variant.
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = variant.name == "tf32"
    pipe = SinSRPipeline(config, *_modules(config), device=device, dtype=variant.dtype,
                         channels_last=variant.channels_last)
    inputs = make_inputs(tile, device)
    compile_seconds = None
    if variant.compile:
        # "+graphs" also captures CUDA graphs (mode reduce-overhead): small tiles are launch-bound.
        pipe.compile(mode="reduce-overhead") if variant.name.endswith("+graphs") else pipe.compile()
        start = time.perf_counter()
        with torch.inference_mode():
            pipe.run_padded(inputs.lq, inputs.noise)
        _sync(device)
        compile_seconds = time.perf_counter() - start
    if tile not in flops_by_tile:
        with torch.inference_mode():
            flops_by_tile[tile] = count_flops(lambda: pipe.run_padded(inputs.lq, inputs.noise))
    result = Result(variant=variant.name, tile=tile, precision=pipe.precision.label, flops=flops_by_tile[tile],
                    compile_seconds=compile_seconds)
    fns = stage_functions(pipe, inputs)
    with torch.inference_mode():
        for name in ("encoder", "unet", "quantizer", "decoder"):
            result.stages[name] = summarise(time_runs(fns[name], device, runs))
        with PeakMemory(device) as mem:
            out = pipe.run_padded(inputs.lq, inputs.noise, stages := {})
        result.peak_memory_bytes = mem.peak_bytes
        result.tile_seconds = summarise(time_runs(fns["tile"], device, runs, warmup=0))
    median = result.tile_seconds["median_s"]
    result.output_megapixels_per_s = (4 * tile) ** 2 / 1e6 / median
    result.achieved_flops_per_s = result.flops / median
    key = str(pipe.precision.decoder if variant.dtype == "auto" else pipe.precision.encoder)
    if key not in peaks:
        peaks[key] = matmul_peak(device, pipe.precision.decoder if variant.dtype == "auto" else pipe.precision.encoder)
    result.matmul_peak_flops_per_s = peaks[key]
    result.fraction_of_peak = result.achieved_flops_per_s / peaks[key]
    final = (out.clamp(-1, 1) * 0.5 + 0.5).float().cpu()
    indices = stages["codebook_indices"].cpu()
    if variant.name == "fp32":
        reference[tile] = (final, indices, stages["pred_xstart"].float().cpu())
    if tile in reference:
        ref_final, ref_idx, ref_latent = reference[tile]
        codebook = pipe.autoencoder.quantize.embedding.weight.float().cpu()
        result.check = {"max_abs_diff": (final - ref_final).abs().max().item(), "psnr_db": psnr(final, ref_final),
                        "codebook_agreement": (indices == ref_idx).float().mean().item(),
                        "codebook_flips_beyond_tolerance": flips_beyond_tolerance(ref_latent, ref_idx, indices,
                                                                                   codebook)}
    return result


# The golden data's tolerance on the quantiser's input (tests/fixtures/case_a/README.md: unet_output atol 1e-4,
# 10-30x the float32 spread between thread counts and summation orders).
LATENT_ATOL = 1e-4


def flips_beyond_tolerance(latent: torch.Tensor, ref_idx: torch.Tensor, idx: torch.Tensor,
                           codebook: torch.Tensor, atol: float = LATENT_ATOL) -> int:
    """Codebook choices that differ from the reference where a latent error within ``atol`` could not flip them.

    latent: (1, D, h, w) float32, the reference's quantiser input; indices (h·w,) in (b, h, w) order; codebook
    (n_embed, D). Moving z by at most ``atol`` per channel changes the gap |z-e_a|² - |z-e_b|² by at most
    2·atol·|e_a - e_b|₁, so a flip from a to b is rounding only where the reference's gap is below that bound.
    The golden case picks its noise so that no gap is that small; a benchmark input does not, and on a busy
    machine float32 summation order changes (thread scheduling) flip one of 4,096 such near-ties.
    """
    flat = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1]).double()
    cb = codebook.double()
    changed = (idx != ref_idx).nonzero().flatten()
    if changed.numel() == 0:
        return 0
    z, a, b = flat[changed], cb[ref_idx[changed]], cb[idx[changed]]
    gap = ((z - b) ** 2).sum(1) - ((z - a) ** 2).sum(1)
    bound = 2 * atol * (a - b).abs().sum(1)
    return int((gap > bound).sum())


def bench_photo(config: SinSRConfig, device: torch.device, dtype: str, tile: int, size=(384, 512)) -> dict:
    """A whole 512x384 LR photo through the tiler (default options)."""
    from sinsr_gui.engine.tiling import TilingOptions, iter_upscale, run_to_completion

    pipe = SinSRPipeline(config, *_modules(config), device=device, dtype=dtype)
    h, w = size
    img = make_inputs(max(h, w), torch.device("cpu")).lq[0, :, :h, :w].permute(1, 2, 0).numpy() * 0.5 + 0.5
    opts = TilingOptions(tile=tile, overlap=max(16, tile // 8), batch_size=1)
    start = time.perf_counter()
    run_to_completion(iter_upscale(pipe, img, opts, generator=torch.Generator().manual_seed(0)))
    _sync(device)
    seconds = time.perf_counter() - start
    return {"lr_size": [w, h], "tile": tile, "precision": pipe.precision.label, "seconds": seconds,
            "output_megapixels_per_s": 16 * h * w / 1e6 / seconds}


def bench_teacher(config: SinSRConfig, device: torch.device, tile: int, runs: int, dtype: str = "auto") -> dict:
    """Seconds per LR tile of the 15-step ResShift teacher (both samplers) next to SinSR's single step, with the
    same seeded modules, input and precision, in the same run (the ratio is what the user waits extra)."""
    from sinsr_gui.engine.resshift import ResShiftPipeline

    inputs = make_inputs(tile, device)
    img = (inputs.lq * 0.5 + 0.5).cpu()
    row: dict = {"tile": tile, "dtype": dtype}
    sinsr = SinSRPipeline(config, *_modules(config), device=device, dtype=dtype)
    noise = sinsr.noise_field(1, tile, tile, torch.Generator().manual_seed(0))
    with torch.inference_mode():
        row["sinsr_s"] = summarise(time_runs(lambda: sinsr.run_tiles(img, noise), device, runs))
    teacher = ResShiftPipeline(config, *_modules(config), device=device, dtype=dtype)
    for sampler in ("stochastic", "deterministic"):
        teacher.sampler = sampler
        field_ = teacher.noise_field(1, tile, tile, torch.Generator().manual_seed(0))
        with torch.inference_mode():
            row[f"resshift_{sampler}_s"] = summarise(time_runs(lambda f=field_: teacher.run_tiles(img, f), device,
                                                               max(1, runs - 1)))
        row[f"{sampler}_over_sinsr"] = row[f"resshift_{sampler}_s"]["median_s"] / row["sinsr_s"]["median_s"]
    return row


def memory_table(config: SinSRConfig, device: torch.device, tiles: list[int], variants: list[Variant]) -> list[dict]:
    """Peak memory of one whole-tile run per (variant, tile): what docs/memory.md tabulates."""
    rows = []
    for variant in variants:
        pipe = SinSRPipeline(config, *_modules(config), device=device, dtype=variant.dtype,
                             channels_last=variant.channels_last)
        for tile in tiles:
            inputs = make_inputs(tile, device)
            with torch.inference_mode(), PeakMemory(device) as mem:
                start = time.perf_counter()
                pipe.run_padded(inputs.lq, inputs.noise)
                _sync(device)
            rows.append({"variant": variant.name, "precision": pipe.precision.label, "tile": tile,
                         "peak_bytes": mem.peak_bytes, "seconds": time.perf_counter() - start})
            print(f"  memory {variant.name} tile {tile}: {mem.peak_bytes / 1e9:.2f} GB "
                  f"({rows[-1]['seconds']:.1f} s)", flush=True)
    return rows


def print_table(results: list[Result]) -> None:
    head = (f"{'variant':<9}{'tile':>5} {'enc s':>7}{'unet s':>8}{'vq s':>7}{'dec s':>7}{'tile s':>8}"
            f"{'spread':>8}{'MP/s':>7}{'TFLOP/s':>8}{'peak':>7}{'mem GB':>7}{'PSNR':>7}{'codes':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        s = r.stages
        spread = r.tile_seconds["max_s"] - r.tile_seconds["min_s"]
        mem = f"{r.peak_memory_bytes / 1e9:.2f}" if r.peak_memory_bytes is not None else "n/a"
        psnr_s = f"{r.check.get('psnr_db', math.nan):.1f}" if r.check else "ref"
        codes = f"{r.check.get('codebook_agreement', math.nan):.4f}" if r.check else "ref"
        print(f"{r.variant:<9}{r.tile:>5} {s['encoder']['median_s']:>7.3f}{s['unet']['median_s']:>8.3f}"
              f"{s['quantizer']['median_s']:>7.3f}{s['decoder']['median_s']:>7.3f}{r.tile_seconds['median_s']:>8.3f}"
              f"{spread:>8.3f}{r.output_megapixels_per_s:>7.3f}{r.achieved_flops_per_s / 1e12:>8.3f}"
              f"{r.fraction_of_peak:>7.0%}{mem:>7}{psnr_s:>7}{codes:>7}")


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if "--e2e" in args_in:  # the end-to-end benchmark: every model, file to file (sinsr_gui.bench_e2e)
        from sinsr_gui import bench_e2e

        return bench_e2e.main([a for a in args_in if a != "--e2e"])
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.bench", description=__doc__.splitlines()[0],
                                epilog="--e2e: the end-to-end benchmark instead (python -m sinsr_gui.bench --e2e -h)")
    p.add_argument("--device", default="auto")
    p.add_argument("--tiles", type=int, nargs="+", default=None, help="LR tile sizes (default: 64 128 on CPU, "
                   "64 128 256 on GPU)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median reported)")
    p.add_argument("--variants", nargs="+", default=None, help="subset of variant names")
    p.add_argument("--photo", action="store_true", help="also time a 512x384 LR photo through the tiler")
    p.add_argument("--compile", action="store_true", help="add torch.compile variants (GPU; compile time reported)")
    p.add_argument("--json", type=Path, default=Path("bench_results.json"))
    p.add_argument("--config", type=Path, default=None, help="model config JSON (default: the full SinSR v1)")
    p.add_argument("--teacher", action="store_true",
                   help="also time the 15-step ResShift teacher per tile next to SinSR (auto precision)")
    p.add_argument("--memory-only", action="store_true",
                   help="only the peak memory of one run per tile size and variant (docs/memory.md)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    tiles = args.tiles or ([64, 128, 256] if device.type == "cuda" else [64, 128])
    variants = [v for v in variants_for(device, args.compile) if not args.variants or v.name in args.variants]
    if variants[0].name != "fp32":
        variants.insert(0, Variant("fp32", torch.float32))
    config = SinSRConfig.from_json(args.config) if args.config else SinSRConfig.sinsr_v1()
    print(f"SinSR single-step benchmark ({'v1' if not args.config else args.config.name}) on {device_label(device)}; torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    if args.memory_only:
        rows = memory_table(config, device, tiles, variants)
        args.json.write_text(json.dumps({"device": device_label(device), "torch": torch.__version__,
                                         "memory": rows}, indent=1))
        print(f"wrote {args.json}")
        return 0
    results: list[Result] = []
    reference: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    flops_by_tile: dict[int, int] = {}
    peaks: dict[str, float] = {}
    for tile in tiles:
        for variant in variants:
            r = bench_variant(config, variant, tile, device, args.runs, reference, flops_by_tile, peaks)
            results.append(r)
            print(f"  {variant.name} tile {tile}: {r.tile_seconds['median_s']:.3f} s", file=sys.stderr, flush=True)
    print_table(results)
    speedups = {}
    for tile in tiles:
        base = next(r for r in results if r.tile == tile and r.variant == "fp32").tile_seconds["median_s"]
        for r in results:
            if r.tile == tile:
                speedups[f"{r.variant}@{tile}"] = base / r.tile_seconds["median_s"]
    print("speed-up over fp32 (same run):", ", ".join(f"{k} {v:.2f}x" for k, v in speedups.items()))
    photo = bench_photo(config, device, "auto", tile=max(tiles)) if args.photo else None
    if photo:
        print(f"photo {photo['lr_size'][0]}x{photo['lr_size'][1]} LR -> x4: {photo['seconds']:.2f} s "
              f"({photo['output_megapixels_per_s']:.3f} output MP/s, tile {photo['tile']}, {photo['precision']})")
    teacher = [bench_teacher(config, device, tile, args.runs) for tile in tiles] if args.teacher else None
    for row in teacher or []:
        print(f"teacher tile {row['tile']} ({row['dtype']}): SinSR {row['sinsr_s']['median_s']:.2f} s, ResShift "
              f"stochastic {row['resshift_stochastic_s']['median_s']:.2f} s ({row['stochastic_over_sinsr']:.1f}x), "
              f"deterministic {row['resshift_deterministic_s']['median_s']:.2f} s "
              f"({row['deterministic_over_sinsr']:.1f}x)")
    payload = {
        "device": device_label(device), "torch": torch.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "command": " ".join(["python -m sinsr_gui.bench", *(argv or sys.argv[1:])]),
        "official_cpu_seconds_lr128_fp32": OFFICIAL_CPU_SECONDS_128,
        "matmul_peak_flops_per_s": peaks, "results": [r.__dict__ for r in results], "speedup_vs_fp32": speedups,
        "photo": photo, "teacher": teacher,
    }
    args.json.write_text(json.dumps(payload, indent=1, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
