"""``sinsr-upscale``: the batch command line over the engine (no Qt).

    sinsr-upscale PHOTO_OR_FOLDER... [-o OUTDIR] [options]
    sinsr-upscale weights list|download|import|verify|remove|path ...
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sinsr_gui import __version__

if TYPE_CHECKING:
    from sinsr_gui.engine.tiling import TilingOptions

log = logging.getLogger("sinsr_gui.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sinsr-upscale",
        description="Make photos 4x larger and sharper with SinSR (or the built-in compact model). "
        "Weights: `sinsr-upscale weights --help`.",
    )
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder (default: next to each input); folder structure is mirrored")
    p.add_argument("--model", choices=("auto", "sinsr", "compact"), default="auto",
                   help="auto: SinSR if installed, else the built-in compact model")
    p.add_argument("--unet", type=Path, help="SinSR denoiser checkpoint (instead of the installed one)")
    p.add_argument("--autoencoder", type=Path, help="VQ-f4 autoencoder checkpoint (with --unet)")
    p.add_argument("--config", type=Path, help="model config JSON (the reference config.json format)")
    p.add_argument("--weights-dir", type=Path, help="where installed weights live (default: user data folder)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=4, help="output scale (default 4)")
    p.add_argument("--tile", default="auto", help="LR tile size in pixels, or auto (from free memory)")
    p.add_argument("--overlap", type=int, default=None, help="tile overlap in LR pixels (default: per model)")
    p.add_argument("--batch", type=int, default=1, help="tiles per batch (default 1)")
    p.add_argument("--seed", type=int, default=12345, help="noise seed (same seed, same result)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16")
    p.add_argument("--format", dest="fmt", default="png", help="png (default), jpeg, webp or tiff")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                   help="8 or 16 bits per channel (default: 16 for 16-bit inputs saved as PNG/TIFF)")
    p.add_argument("--name", default="{stem}_x{scale}", help="output name pattern (default {stem}_x{scale})")
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    p.add_argument("--max-megapixels", type=float, default=100.0,
                   help="refuse larger inputs (decompression-bomb guard; default 100)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--version", action="version", version=f"sinsr-upscale {__version__}")
    return p


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"Done: {len(self.done)}, skipped: {len(self.skipped)}, failed: {len(self.failed)}."]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        lines += [f"  FAILED {p}: {why}" for p, why in self.failed]
        return "\n".join(lines)


def _tiling_for(model, args) -> TilingOptions:
    from sinsr_gui.engine.memory import default_tiling

    tile = None if str(args.tile).lower() == "auto" else int(args.tile)
    return default_tiling(model, tile=tile, overlap=args.overlap, batch=args.batch)


def run_upscale(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sinsr_gui.engine import imageio, jobs
    from sinsr_gui.engine.devices import DeviceError
    from sinsr_gui.engine.models import ModelRequest, ModelUnavailable, load_model
    from sinsr_gui.engine.tiling import OutOfMemory, UpscaleCancelled
    from sinsr_gui.weights.checkpoint import CheckpointError

    try:
        fmt = imageio.normalize_format(args.fmt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    missing = [p for p in args.inputs if not p.exists()]
    for p in missing:
        print(f"error: {p} does not exist", file=sys.stderr)
    files = imageio.find_images([p for p in args.inputs if p.exists()])
    if not files:
        print("error: no images found in the given paths", file=sys.stderr)
        return EXIT_FAILED
    request = ModelRequest(model=args.model, device=args.device, dtype=args.dtype, unet=args.unet,
                           autoencoder=args.autoencoder, config=args.config, weights_dir=args.weights_dir)
    try:
        model, notice = load_model(request)
    except (ModelUnavailable, CheckpointError, DeviceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if notice:
        print(notice, file=sys.stderr)
    tiling = _tiling_for(model, args)
    output = jobs.OutputOptions(scale=args.scale, fmt=fmt, quality=args.quality, bit_depth=args.bit_depth,
                           overwrite=args.overwrite, name_pattern=args.name)
    print(f"Model: {model.kind} ({model.precision_label}) on {model.device}; tile {tiling.tile}, "
          f"overlap {tiling.overlap}, batch {tiling.batch_size}.", file=sys.stderr)
    inputs = tuple(f for f, _ in files)
    summary = Summary()
    cancel = threading.Event()
    overall = tqdm(total=len(files) + len(missing), unit="image", desc="All images", disable=args.no_progress,
                   position=0)
    for p in missing:
        summary.failed.append((p, "does not exist"))
        overall.update(1)
    try:
        for path, root in files:
            rel_parent = path.parent.relative_to(root) if path.is_relative_to(root) else Path()
            out_dir = (args.output / rel_parent) if args.output else None
            try:
                target = imageio.output_path_for(path, out_dir, fmt=fmt, pattern=args.name, scale=args.scale)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if args.skip_existing and target.exists():
                summary.skipped.append((path, f"{target.name} exists"))
                overall.update(1)
                continue
            if out_dir is not None:
                try:
                    out_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    summary.failed.append((path, f"cannot create the output folder {out_dir}: {exc.strerror}"))
                    overall.update(1)
                    continue
            bar = tqdm(total=1, unit="tile", desc=path.name[:30], leave=False, disable=args.no_progress,
                       position=1)
            gen = jobs.iter_process_file(model, path, target, tiling, output, seed=args.seed, cancel=cancel,
                                    max_pixels=int(args.max_megapixels * 1e6), protected=inputs)
            try:
                while True:
                    done, total = next(gen)
                    bar.total = total
                    bar.n = done
                    bar.refresh()
            except StopIteration as stop:
                result = stop.value
                summary.done.append(path)
                for note in result.notes:
                    tqdm.write(f"{path.name}: {note}", file=sys.stderr)
            except (imageio.ImageReadError, imageio.ImageWriteError, OutOfMemory) as exc:
                summary.failed.append((path, str(exc)))
                tqdm.write(f"{path.name}: {exc}", file=sys.stderr)
            except UpscaleCancelled:
                raise KeyboardInterrupt from None
            finally:
                gen.close()
                bar.close()
            overall.update(1)
    except KeyboardInterrupt:
        cancel.set()
        overall.close()
        print("\nStopped. Finished images are saved; nothing partial was written.", file=sys.stderr)
        print(summary.report(), file=sys.stderr)
        return EXIT_INTERRUPTED
    overall.close()
    print(summary.report(), file=sys.stderr)
    return EXIT_OK if not summary.failed else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if argv and argv[0] == "weights":
        from sinsr_gui.weights.cli import main as weights_main

        return weights_main(argv[1:])
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    code = run_upscale(args)
    log.info("finished in %.1f s", time.perf_counter() - start)
    return code


if __name__ == "__main__":
    sys.exit(main())
