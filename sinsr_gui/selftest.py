"""``sinsr-gui --selftest``: prove that an installed (usually frozen) app can load its resources and upscale.

It runs without a display and without Qt, so it works on a build machine, over SSH and in CI. It checks the
bundled manifests, the icon and stylesheet when they exist, and the built-in model (size + SHA-256 against
its card) when it exists, and a tiny untrained SinSR (the SinSR weights are never bundled, but their code
is). A 24x24 PNG it writes goes through the same file-to-file job as the app for each model, and the x4
result is read back and checked. spandrel (community models) is imported through the app's support module and
two tiny random-weight architectures (a convolutional and a transformer one) are recognised and run: it is
required in a frozen build, optional in a source install (where it is installed separately).

Output is exactly one line, ``selftest OK: ...`` with exit status 0, or ``selftest FAILED: ...`` with 1,
so scripts can grep it. Nothing is written outside a temporary folder, except where there is no stdout (a
windowed Windows/macOS build): then the line goes to ``log_dir()/selftest.txt``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

SIZE = 24  # LR side of the test image; small enough to run in well under a second on one core
ICON_SUFFIXES = (".png", ".ico", ".icns", ".svg")


class SelftestError(Exception):
    """A check failed; the message is the one-line reason."""


def _check_manifests() -> int:
    from sinsr_gui.weights.manifest import AUTOENCODER_FULL, UNET_FULL, bundled_manifest

    count = 0
    for name in (UNET_FULL, AUTOENCODER_FULL):
        try:
            keys = bundled_manifest(name)
        except (OSError, ValueError, KeyError) as exc:
            raise SelftestError(f"bundled manifest {name!r} cannot be read: {exc}") from exc
        if not keys:
            raise SelftestError(f"bundled manifest {name!r} is empty")
        count += len(keys)
    return count


def _check_icons(resources: Path) -> int:
    """Open every bundled icon (decoding, not just existence, catches a truncated copy)."""
    icons = resources / "icons"
    if not icons.is_dir():
        return 0
    count = 0
    for path in sorted(icons.rglob("*")):
        if path.suffix.lower() not in ICON_SUFFIXES or not path.is_file():
            continue
        try:
            if path.suffix.lower() == ".svg":
                import xml.etree.ElementTree as ET

                ET.parse(path)
            else:
                from PIL import Image

                with Image.open(path) as img:
                    img.load()
        except Exception as exc:  # noqa: BLE001 - any decoder error means a damaged bundle
            raise SelftestError(f"icon {path.name} cannot be decoded: {exc}") from exc
        count += 1
    return count


def _check_stylesheets(resources: Path) -> int:
    sheets = sorted(resources.rglob("*.qss"))
    for path in sheets:
        try:
            path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SelftestError(f"stylesheet {path.name} cannot be read: {exc}") from exc
    return len(sheets)


def _tiny_sinsr():
    """An untrained SinSR with the sizes of tests/conftest.py::tiny_config (copied: tests are not shipped)."""
    from sinsr_gui.engine.config import AutoencoderConfig, SinSRConfig, UNetConfig
    from sinsr_gui.engine.pipeline import SinSRPipeline

    config = SinSRConfig(
        unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 1), num_res_blocks=(1, 1),
                        attention_resolutions=(16, 8), num_head_channels=16, swin_embed_dim=32, swin_depth=2),
        autoencoder=AutoencoderConfig(n_embed=64, ch=32, ch_mult=(1, 1, 1), num_res_blocks=1),
    )
    return SinSRPipeline.from_config(config, device="cpu", seed=0)


def _models():
    """(label, factory) pairs: each verified built-in model that is bundled, and always a tiny SinSR.

    The tiny SinSR runs the same Swin/VQ code as the downloadable SinSR weights, which the bundle cannot
    contain, so a module missing from the build shows up here rather than on a user's first SinSR run.
    """
    from sinsr_gui.engine.models import ModelRequest, load_model
    from sinsr_gui.engine.models.builtin import DESCRIPTORS, is_installed

    models = []
    for descriptor in DESCRIPTORS:
        if is_installed(descriptor):
            # The app's default precision ("auto": bf16 autocast on CPUs that have it), so that path is checked too.
            request = ModelRequest(model=descriptor.kind, device="cpu", dtype="auto")
            models.append((f"{descriptor.kind} model", lambda r=request: load_model(r)[0]))
    models.append(("tiny SinSR", _tiny_sinsr))
    return models


def _check_spandrel() -> str:
    """Import spandrel as the app does and run two tiny architectures; "" when it is not installed (source only)."""
    from sinsr_gui.weights import spandrel_support

    if not spandrel_support.is_available():
        if getattr(sys, "frozen", False):
            raise SelftestError("spandrel is missing from the bundle (community models)")
        return ""
    import importlib

    import torch

    spandrel = spandrel_support.import_spandrel()
    torch.manual_seed(0)
    nets = {
        "Compact": ("Compact", dict(num_feat=8, num_conv=2, upscale=4)),
        "SwinIR": ("SwinIR", dict(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4, mlp_ratio=2,
                                  upscale=4, upsampler="pixelshuffledirect")),
    }
    import warnings

    for arch, (cls, kwargs) in nets.items():
        module = importlib.import_module(f"spandrel.architectures.{arch}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = getattr(module, cls)(**kwargs).state_dict()
            model = spandrel_support.load_from_state_dict(state, f"tiny {arch}")
        if model is None or model.architecture.id != arch:
            raise SelftestError(f"spandrel did not recognise a tiny {arch}")
        out = model(torch.rand(1, 3, 16, 16))
        if tuple(out.shape) != (1, 3, 64, 64) or not bool(torch.isfinite(out).all()):
            raise SelftestError(f"spandrel's {arch} gave {tuple(out.shape)}")
    standin = " (torchvision stand-in)" if spandrel_support.uses_torchvision_standin() else ""
    return f"spandrel {spandrel.__version__}{standin}"


def _upscale_round_trip(model, folder: Path) -> tuple[int, int]:
    import numpy as np
    from PIL import Image

    from sinsr_gui.engine import imageio
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import PhotoOptions, process_file, run_to_result

    # A smooth gradient plus a square: deterministic, and not flat, so a broken model cannot pass by luck.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    rgb = np.stack([xx, yy, 1.0 - xx * yy], axis=2)
    rgb[8:16, 8:16] = (1.0, 0.5, 0.0)
    folder.mkdir()
    source = folder / "input.png"
    Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).save(source)

    options = PhotoOptions(run=RunOptions(scale=4, tile=64, overlap=8))
    result = run_to_result(process_file(model, source, folder / "output.png", options))
    written = imageio.read_image(result.output_path)
    expected = (SIZE * 4, SIZE * 4)
    if written.size != expected:
        raise SelftestError(f"output is {written.size[0]}x{written.size[1]}, expected {expected[0]}x{expected[1]}")
    out = written.rgb
    if not np.isfinite(out).all() or out.min() < 0.0 or out.max() > 1.0:
        raise SelftestError(f"output values out of range [{out.min():.3f}, {out.max():.3f}]")
    return expected


def run() -> str:
    """All checks; returns the success line or raises."""
    start = time.perf_counter()
    from sinsr_gui import paths

    resources = paths.resources_dir()
    # Everything in resources/ is optional (icons, stylesheet, built-in model), so an absent folder only
    # means none was bundled; the manifests below are required.
    _check_manifests()
    icons = _check_icons(resources) if resources.is_dir() else 0
    sheets = _check_stylesheets(resources) if resources.is_dir() else 0

    import torch

    # The frozen app must never need a GPU; keep the check on the CPU and modest on shared machines.
    torch.set_num_threads(min(2, torch.get_num_threads()))
    labels = []
    with tempfile.TemporaryDirectory(prefix="sinsr-selftest-") as tmp:
        for label, factory in _models():
            try:
                width, height = _upscale_round_trip(factory(), Path(tmp) / label.replace(" ", "_"))
            except SelftestError as exc:
                raise SelftestError(f"{label}: {exc}") from exc
            labels.append(label)
        from sinsr_gui.engine.imageio import selfcheck

        try:  # the codecs loaded on demand (16-bit PNG/TIFF, HEIC): a frozen build can miss them
            codecs = selfcheck.run(Path(tmp) / "codecs")
        except RuntimeError as exc:
            raise SelftestError(str(exc)) from exc
    checked = " + ".join(labels) + ("" if len(labels) > 1 else " (no built-in model bundled)")
    community = _check_spandrel() or "no spandrel (community models unavailable)"
    seconds = time.perf_counter() - start
    return (f"selftest OK: {checked}, {SIZE}x{SIZE} -> {width}x{height} in {seconds:.1f} s, "
            f"{icons} icon(s), {sheets} stylesheet(s), {codecs}, torch {torch.__version__}, {community}, "
            f"resources {resources}")


def _report(line: str) -> None:
    if sys.stdout is not None:
        print(line, flush=True)
        return
    # A windowed Windows/macOS executable has no stdout: leave the line where `--selftest` users can find it.
    try:
        from sinsr_gui import paths

        (paths.log_dir() / "selftest.txt").write_text(line + "\n", encoding="utf-8")
    except OSError:
        pass  # the exit status still tells


def main() -> int:
    try:
        line = run()
    except Exception as exc:  # noqa: BLE001 - the self-test reports every failure as one line
        # The last frame says where it broke without printing a whole traceback.
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        place = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
        message = " ".join(str(exc).split()) or type(exc).__name__
        _report(f"selftest FAILED: {type(exc).__name__}: {message}{place}")
        return 1
    _report(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
