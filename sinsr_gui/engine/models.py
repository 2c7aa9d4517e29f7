"""The models the app can run, behind one tiler interface, and a cache that keeps the loaded one.

* ``sinsr``: the official SinSR v1 weights (installed by the weights manager, or explicit files).
* ``compact``: the built-in compact model that ships inside the app (works offline, fast on a CPU).
* ``auto``: SinSR when its weights are installed, otherwise the built-in model (and it says so).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.devices import resolve_device, resolve_dtype, stage_precision
from sinsr_gui.engine.pipeline import SinSRPipeline

MODEL_CHOICES = ("auto", "sinsr", "compact")
MODEL_LABELS = {"sinsr": "SinSR v1 (best quality)", "compact": "Compact (built-in, fast)"}


class ModelUnavailable(Exception):
    """The chosen model cannot be used; the message says how to get it."""


class CompactUpscaler:
    """The built-in compact network as a tiler model: deterministic, no noise, any size."""

    scale = 4
    size_multiple = 1
    kind = "compact"

    def __init__(self, device: str | torch.device = "cpu", dtype: str | torch.dtype = "auto") -> None:
        from sinsr_gui.weights.builtin import load_builtin_card, load_builtin_model

        self.device = resolve_device(device)
        requested = resolve_dtype(dtype, self.device) if not (isinstance(dtype, str) and dtype == "auto") else None
        # bf16 autocast on CPUs with native bf16 (see docs/quality.md for its accuracy); fp16 on GPUs.
        self.compute_dtype = requested or stage_precision("auto", self.device).decoder
        self.network = load_builtin_model(self.device, torch.float32)
        self.card = load_builtin_card()
        self.receptive_radius = int(getattr(self.network, "receptive_radius", 18))
        self.precision_label = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.compute_dtype]

    def noise_field(self, batch: int, height: int, width: int, generator: torch.Generator | None) -> None:
        return None

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = tiles.to(self.device, torch.float32)
        if self.compute_dtype == torch.float32:
            out = self.network(x)
        else:
            with torch.autocast(self.device.type, dtype=self.compute_dtype):
                out = self.network(x)
        return out.float().clamp(0, 1)


class SinSRUpscaler(SinSRPipeline):
    """SinSR as a tiler model (the pipeline already implements ``noise_field`` and ``run_tiles``)."""

    kind = "sinsr"

    @property
    def precision_label(self) -> str:
        return self.precision.label


@dataclass(frozen=True)
class ModelRequest:
    """Everything that decides which weights are loaded where; equal requests share one loaded model."""

    model: str = "auto"  # auto | sinsr | compact
    device: str = "auto"
    dtype: str = "auto"
    unet: Path | None = None  # explicit SinSR files (otherwise the installed ones)
    autoencoder: Path | None = None
    config: Path | None = None
    weights_dir: Path | None = None


def resolve_sinsr_files(request: ModelRequest) -> tuple[Path, Path] | None:
    if request.unet or request.autoencoder:
        if not (request.unet and request.autoencoder):
            raise ModelUnavailable("Give both --unet and --autoencoder (or neither, to use the installed weights).")
        return request.unet, request.autoencoder
    from sinsr_gui.weights.cli import installed_sinsr_paths
    from sinsr_gui.weights.store import WeightStore

    return installed_sinsr_paths(WeightStore(request.weights_dir))


def how_to_get_sinsr() -> str:
    return ("The SinSR weights are not installed. Get them with `sinsr-upscale weights download sinsr_v1 "
            "--accept-license` and `sinsr-upscale weights download vq_f4 --accept-license` (about 700 MB, "
            "non-commercial licence), or import files you already have with `sinsr-upscale weights import "
            "PATH`.")


def load_model(request: ModelRequest) -> tuple[SinSRUpscaler | CompactUpscaler, str | None]:
    """Load the requested model. Returns (model, notice) where notice is a one-line message for the user
    (e.g. that the built-in model is used because SinSR is not installed), or None."""
    if request.model not in MODEL_CHOICES:
        raise ModelUnavailable(f"Unknown model {request.model!r}: choose {', '.join(MODEL_CHOICES)}.")
    if request.model == "compact":
        return CompactUpscaler(request.device, request.dtype), None
    files = resolve_sinsr_files(request)
    if files is None:
        if request.model == "sinsr":
            raise ModelUnavailable(how_to_get_sinsr())
        return CompactUpscaler(request.device, request.dtype), (
            "SinSR weights are not installed, so the built-in compact model is used "
            "(`sinsr-upscale weights download sinsr_v1` gets SinSR)."
        )
    config = SinSRConfig.from_json(request.config) if request.config else SinSRConfig.sinsr_v1()
    unet, autoencoder = files
    model = SinSRUpscaler.from_checkpoints(config, unet=unet, autoencoder=autoencoder, device=request.device,
                                           dtype=request.dtype)
    return model, None


class ModelCache:
    """Keeps one loaded model; a different request releases it before loading the next (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: ModelRequest | None = None
        self._entry: tuple[SinSRUpscaler | CompactUpscaler, str | None] | None = None

    def get(self, request: ModelRequest) -> tuple[SinSRUpscaler | CompactUpscaler, str | None]:
        with self._lock:
            if self._entry is not None and self._request == request:
                return self._entry
            self._release_locked()
            self._entry = load_model(request)
            self._request = request
            return self._entry

    def release(self) -> None:
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        if self._entry is not None:
            device = self._entry[0].device
            self._entry = None
            self._request = None
            if device.type == "cuda":
                torch.cuda.empty_cache()

    @property
    def loaded(self) -> ModelRequest | None:
        return self._request
