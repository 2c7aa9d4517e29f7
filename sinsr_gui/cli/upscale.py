"""``sinsr-upscale PHOTO_OR_FOLDER...``: the batch command line over the engine's use cases (no Qt)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sinsr_gui import __version__
from sinsr_gui.cli.messages import describe_error, phrase
from sinsr_gui.engine.options import (
    AUTO_FORMAT,
    COLOUR_FIXES,
    DEBLOCK_CHOICES,
    DEFAULT_MAX_MEGAPIXELS,
    DEFAULT_NAME_PATTERN,
    DEFAULT_QUALITY,
    DEFAULT_SEED,
    PRECISIONS,
    SAMPLERS,
    SCALES,
    OutputOptions,
    RunOptions,
)

if TYPE_CHECKING:
    from sinsr_gui.engine.descriptor import Upscaler

log = logging.getLogger("sinsr_gui.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def model_argument(value: str) -> str:
    """``--model``: a fixed choice (or the old name compact), or ``community:NAME`` (checked when it is loaded)."""
    from sinsr_gui.engine.models import normalise_choice
    from sinsr_gui.errors import UserError

    try:
        return normalise_choice(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from sinsr_gui.engine.models import MODEL_CHOICES, descriptor_for

    # Each summary is a sentence of its own: "photo: For phone photos. faithful: ..." (no ".;" or "..").
    models = " ".join(f"{k}: {descriptor_for(k).summary.rstrip('.')}." for k in MODEL_CHOICES if k != "auto")
    p = argparse.ArgumentParser(
        prog="sinsr-upscale",
        description="Make photos 4x larger and sharper with SinSR or a built-in model. "
        "Weights: `sinsr-upscale weights --help`.",
    )
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder (default: next to each input); folder structure is mirrored")
    p.add_argument("--model", type=model_argument, default="auto", metavar="MODEL",
                   help=f"auto (default): SinSR if installed, else the built-in Photo model. {models} "
                   "community:NAME: a community model you imported or downloaded (`sinsr-upscale weights list`). "
                   "(compact is the old name of faithful.)")
    p.add_argument("--sampler", choices=SAMPLERS, default="stochastic",
                   help="ResShift teacher only: stochastic (official default) or deterministic (what SinSR learns)")
    p.add_argument("--colour-fix", choices=COLOUR_FIXES, default="auto",
                   help="pull colours back to the input's: wavelet (local) or adain (overall); auto (default): "
                   "what the model recommends (wavelet for the built-in Photo model, off for the others)")
    p.add_argument("--jpeg-deblock", dest="deblock", choices=DEBLOCK_CHOICES, default="auto",
                   help="remove a JPEG's block edges before upscaling, within what the file allows: on (fully), "
                   "off; auto (default): as much as the photo shows blocks, for heavily compressed JPEGs "
                   "(quality below 30), with the built-in Photo model")
    p.add_argument("--unet", type=Path, help="SinSR denoiser checkpoint (instead of the installed one)")
    p.add_argument("--autoencoder", type=Path, help="VQ-f4 autoencoder checkpoint (with --unet)")
    p.add_argument("--config", type=Path, help="model config JSON (the reference config.json format)")
    p.add_argument("--weights-dir", type=Path, help="where installed weights live (default: user data folder)")
    p.add_argument("--scale", type=int, choices=SCALES, default=4, help="output scale (default 4)")
    p.add_argument("--tile", default="auto", help="LR tile size in pixels, or auto (from free memory)")
    p.add_argument("--overlap", type=int, default=0, help="tile overlap in LR pixels (default: per model)")
    p.add_argument("--batch", type=int, default=1, help="tiles per batch (default 1)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="noise seed (same seed, same result)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--dtype", default="auto", choices=PRECISIONS, help="precision (default auto)")
    p.add_argument("--format", dest="fmt", default="auto",
                   help="auto (default: jpeg for HEIC phone photos, else png), png, jpeg, webp or tiff")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                   help="8 or 16 bits per channel (default: 16 for 16-bit inputs saved as PNG/TIFF)")
    p.add_argument("--name", default=DEFAULT_NAME_PATTERN, help="output name pattern (default {stem}_x{scale})")
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_MEGAPIXELS,
                   help="refuse larger inputs (decompression-bomb guard; default 100)")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.add_argument("--verbose", action="store_true", help="log details (tracebacks) to stderr")
    p.add_argument("--version", action="version", version=f"sinsr-upscale {__version__}")
    return p


def options_from_args(args: argparse.Namespace):
    """The command line's arguments as the engine's options (the app maps its Settings the same way)."""
    from sinsr_gui.engine.imageio import normalize_format
    from sinsr_gui.engine.models import ModelRequest, normalise_choice
    from sinsr_gui.engine.photo import PhotoOptions

    tile = 0 if str(args.tile).lower() == "auto" else int(args.tile)
    return PhotoOptions(
        model=ModelRequest(model=normalise_choice(args.model), device=args.device, dtype=args.dtype,
                           unet=args.unet, autoencoder=args.autoencoder, config=args.config,
                           weights_dir=args.weights_dir, sampler=args.sampler),
        run=RunOptions(scale=args.scale, seed=args.seed, tile=tile, overlap=args.overlap or 0,
                       batch=max(1, args.batch), colour_fix=args.colour_fix,
                       deblock=args.deblock),
        output=OutputOptions(fmt=AUTO_FORMAT if args.fmt.strip().upper() == AUTO_FORMAT else normalize_format(args.fmt),
                             quality=args.quality, bit_depth=args.bit_depth or 0,
                             name_pattern=args.name, overwrite=args.overwrite),
        max_megapixels=args.max_megapixels,
    )


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"Done: {len(self.done)}, skipped: {len(self.skipped)}, failed: {len(self.failed)}."]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        # Each file's reason was printed when it failed (or, for a missing one, at the start): names only here.
        lines += [f"  FAILED {p}" for p, _why in self.failed]
        return "\n".join(lines)


class ProgressDisplay:
    """Progress on stderr: tqdm bars on a terminal; on a pipe or log file, a plain line now and then.

    Bars redraw with cursor-movement escape codes, which are noise in a log, so without a terminal each
    photo gets a line when it starts, at most one every ``interval`` seconds while it runs, and one at the end.
    """

    def __init__(self, count: int, *, enabled: bool = True, stream: TextIO | None = None,
                 interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.count, self.index, self.interval = count, 0, interval
        self._bar = self._overall = None
        self._name, self._start, self._last = "", 0.0, 0.0
        if self.tty:
            from tqdm import tqdm

            self._overall = tqdm(total=count, unit="image", desc="All images", position=0, file=self.stream)

    def write(self, text: str) -> None:
        if self._overall is not None:
            self._overall.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def start(self, name: str) -> None:
        self.index += 1
        self._name, self._start, self._last = name, time.monotonic(), time.monotonic()
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=1, unit="tile", desc=name[:30], leave=False, position=1, file=self.stream)
        elif self.enabled:
            self.write(f"[{self.index}/{self.count}] {name}")

    def tiles(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.total, self._bar.n = total, done
            self._bar.refresh()
            return
        now = time.monotonic()
        if not self.enabled or done == 0 or done == total or now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self._start
        eta = elapsed / done * (total - done)
        self.write(f"[{self.index}/{self.count}] {self._name}: {done}/{total} tiles, about {eta:.0f} s left")

    def finish(self, outcome: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._overall is not None:
            self._overall.update(1)
        elif self.enabled and outcome:
            self.write(f"[{self.index}/{self.count}] {self._name}: {outcome} ({time.monotonic() - self._start:.1f} s)")

    def skip(self) -> None:
        if self._overall is not None:
            self._overall.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._overall is not None:
            self._overall.close()


def slow_model_note(model: Upscaler) -> str:
    """A note before a run whose model takes over ``LONG_RUN_S`` per input megapixel on this CPU (SinSR and
    ResShift without a GPU), with the built-in Photo model's time; "" otherwise. The command line keeps no
    measurements, so this is the first estimate of ``engine.speed``."""
    from sinsr_gui.engine.models.builtin import PHOTO
    from sinsr_gui.engine.speed import LONG_RUN_S, expected_speed, format_duration

    d = model.descriptor
    speed = expected_speed(d, "cpu", {}) if model.device.type == "cpu" else None
    if speed is None or speed.seconds_per_mp < LONG_RUN_S:
        return ""
    passes = f", {d.passes} denoiser passes per tile" if d.passes > 1 else ""
    photo = expected_speed(PHOTO, "cpu", {})
    faster = f"; --model photo takes {format_duration(photo.seconds_per_mp)}" if photo else ""
    return (f"Note: {d.display_name} runs on the processor{passes}: {format_duration(speed.seconds_per_mp)} per "
            f"megapixel of input (a first estimate, from a 2-core reference processor){faster}.")


def crisper_model_note(model: Upscaler, requested: str) -> str:
    """When Automatic ran Photo (no SinSR, on the processor): a line naming Most detail, the crisper built-in
    model, with both first estimates per input megapixel; "" otherwise (the app's first-run line says the same)."""
    from sinsr_gui.engine.models.builtin import DETAIL, PHOTO
    from sinsr_gui.engine.speed import expected_speed, format_duration
    from sinsr_gui.engine.types import AUTO

    if requested != AUTO or model.descriptor.kind != PHOTO.kind:
        return ""
    photo, detail = expected_speed(PHOTO, "cpu", {}), expected_speed(DETAIL, "cpu", {})
    cost = (f": {format_duration(detail.seconds_per_mp)} per megapixel of input on the processor, against "
            f"{format_duration(photo.seconds_per_mp)} with Photo (first estimates)" if photo and detail else "")
    return f"For a crisper result use --model detail, {DETAIL.display_name}{cost}."


def run_upscale(args: argparse.Namespace) -> int:
    from sinsr_gui.engine import discovery, naming, photo
    from sinsr_gui.engine.models import load_model
    from sinsr_gui.errors import Cancelled, UserError

    try:
        options = options_from_args(args)
    except (ValueError, UserError) as exc:
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    missing = [p for p in args.inputs if not p.exists()]
    for p in missing:
        print(f"error: {p} does not exist", file=sys.stderr)
    files = discovery.find_images([p for p in args.inputs if p.exists()])
    if not files:
        print("error: no images found in the given paths", file=sys.stderr)
        return EXIT_FAILED
    try:
        model, notice = load_model(options.model)
    except (UserError, ValueError) as exc:
        log.debug("loading the model failed", exc_info=True)
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if notice:
        print(f"{notice.message} {phrase(notice.remedy)}".strip(), file=sys.stderr)
        crisper = crisper_model_note(model, options.model.model)
        if crisper:
            print(crisper, file=sys.stderr)
    tiling = photo.tiling_for(model, options.run)
    slow = slow_model_note(model)
    if slow:
        print(slow, file=sys.stderr)
    print(f"Model: {model.descriptor.display_name} ({model.precision_label}) on {model.device}; tile "
          f"{tiling.tile}, overlap {tiling.overlap}, batch {tiling.batch_size}.", file=sys.stderr)
    inputs = tuple(f for f, _ in files)
    summary = Summary(failed=[(p, "does not exist") for p in missing])
    cancel = threading.Event()
    display = ProgressDisplay(len(files), enabled=not args.no_progress)
    try:
        for path, root in files:
            out_dir = naming.output_folder_for(path, root, args.output)
            try:
                target = naming.output_path_for(path, out_dir, fmt=options.output.fmt,
                                                pattern=options.output.name_pattern, scale=options.run.scale)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if args.skip_existing and target.exists():
                summary.skipped.append((path, f"{target.name} exists"))
                display.skip()
                continue
            display.start(path.name)
            gen = photo.process_file(model, path, target, options, cancel=cancel, protected=inputs, notice=notice)
            try:
                while True:
                    event = next(gen)
                    display.tiles(event.done, event.total)
            except StopIteration as stop:
                result = stop.value
                summary.done.append(path)
                for note in result.notes:
                    display.write(f"{path.name}: {note}")
                display.finish(f"saved {result.output_path.name}")
            except Cancelled:
                raise KeyboardInterrupt from None
            except UserError as exc:
                log.debug("%s failed", path, exc_info=True)
                summary.failed.append((path, describe_error(exc)))
                display.write(f"{path.name}: {describe_error(exc)}")
                display.finish("failed")
            finally:
                gen.close()
    except KeyboardInterrupt:
        cancel.set()
        display.close()
        print("\nStopped. Finished images are saved; nothing partial was written.", file=sys.stderr)
        print(summary.report(), file=sys.stderr)
        return EXIT_INTERRUPTED
    display.close()
    print(summary.report(), file=sys.stderr)
    return EXIT_OK if not summary.failed else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "weights":
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from sinsr_gui.cli.weights import main as weights_main

        return weights_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    start = time.perf_counter()
    code = run_upscale(args)
    log.info("finished in %.1f s", time.perf_counter() - start)
    return code
