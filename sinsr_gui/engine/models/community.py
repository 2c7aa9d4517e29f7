"""Community models (imported or downloaded weights that spandrel recognises) as engine models.

A community model is chosen as ``"community:NAME"`` (settings, ``--model``); its facts come from the weights
store's index (:mod:`sinsr_gui.weights.community`), so listing and describing models never imports spandrel,
and only :func:`load` builds the network (through :mod:`sinsr_gui.weights.spandrel_support`). It runs through the same tiler as
the built-in models: tiles, overlap blend, cancel between batches, out-of-memory fallback.

How the descriptor is made from spandrel's facts (the rules are here so that they are written down once):

* ``kind`` is the choice string ``community:NAME``: the key of settings, the command line and throughput
  records must tell two community models apart (:func:`is_community` tells the family).
* ``size_multiple`` is spandrel's ``size_requirements.multiple_of``; tiles smaller than its ``minimum`` (or not
  square, for models that want squares) are padded like spandrel does (reflect, then replicate) and cropped.
* ``tile_bytes`` (:func:`tile_bytes_for`), from measurements (``scripts/community_memory.py``: peak resident
  memory of one float32 tile on the CPU, random weights, bytes per LR pixel without the output):

  ==================================  ========  ===========
  model (x4 unless said)              params    B / LR px
  ==================================  ========  ===========
  SRVGG compact 64f, 16 / 32 convs    0.6/1.2 M     530/550
  ESRGAN RRDB 64f, 6 / 23 blocks      4.5/16.7 M  12,050 each
  ESRGAN RRDB 23 blocks, x2 (unshuffle)  16.7 M         710
  SPAN 48f                            2.2 M         4,350
  SwinIR-S (60 dim, window 8)         0.9 M         5,560
  SwinIR-M (180 dim, window 8)        11.9 M       10,450
  HAT-S (144 dim, window 16)          9.6 M        37,430
  ==================================  ========  ===========

  So the parameter count hardly matters per pixel (layers run one after another; 6 or 23 RRDB blocks need the
  same): what does is where the features live and the attention windows. The rule, per LR pixel:
  1.25 x (36·scale² for the output copies + 800·scale² for features at the output resolution (the usual
  upsamplers: 64 channels, three maps; not for SRVGG compact, which shuffles straight to RGB) + 2,000 for a
  convolutional model, or 3,000 + 120·window² for a transformer: its attention maps, window from the model's
  hyperparameters, 16 when unknown). Every measurement above is under it (HAT-S by 1.6x, the x4 convolutional
  models by 1.6x or more). The constant part is 100 MB + 8 bytes per parameter (float32 weights and their
  half-precision copies under autocast), which is where the parameter count enters.
* ``overlap``: 16 LR px for convolutional models (more than Real-ESRGAN's own tile padding of 10); for SRVGG
  compact models twice their receptive radius (``2 x (num_conv + 2)`` px, at most 48: cheap models, and with
  an overlap of 2r every blended pixel has a neighbour that is exact there); for transformers at least 32 px and
  two attention windows (at most 64). Models for which spandrel discourages tiling (their result depends on
  wider context, e.g. SwinIR) also get a quarter of the tile.
* ``max_cpu_tile``: on a CPU a tile costs about 2 x parameters FLOPs per LR pixel; the cap keeps one tile under
  about 10^12 FLOPs (~10 s on a laptop), so progress and cancel stay responsive (never below 128).
* ``cpu_seconds_per_mp`` (a first time estimate before the model has run here): 6.4 µs per parameter per LR
  megapixel for a convolutional model, from the reference CPU's Real-ESRGAN x4plus (6.0) and general-x4v3 (6.9;
  docs/cpu/models_speed.json); none for a transformer, whose attention costs what the parameters do not say.
* ``dtypes``: auto and fp32 always; bf16/fp16 when spandrel says the model supports them. ``auto`` is bf16 autocast
  on CPUs with fast bf16 (if supported), fp16 autocast on GPUs (if supported), otherwise float32.
* ``passes`` 1, ``needs_noise`` False; the licence is what the index recorded (usually "unknown: confirmed by the
  user on import").
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from sinsr_gui.engine.descriptor import CONV_LAYOUT, DeterministicUpscaler, ModelDescriptor, run_network
from sinsr_gui.engine.devices import DeviceError, cpu_has_fast_bf16, resolve_device, resolve_dtype
from sinsr_gui.engine.models.sinsr import ModelUnavailable
from sinsr_gui.weights.store import COMMUNITY_PREFIX, WeightsError

if TYPE_CHECKING:
    from sinsr_gui.engine.models import ModelRequest
    from sinsr_gui.weights.community import CommunityFacts, CommunityInfo

# spandrel architecture ids built on (window) self-attention: much more memory per pixel than convolutions.
TRANSFORMERS = frozenset({
    "ATD", "CRAFT", "DAT", "DCTLSA", "DITN", "DRCT", "FDAT", "FFTformer", "GRL", "HAT", "HVICIDNet", "IPT",
    "KBNet", "OmniSR", "RetinexFormer", "RGT", "SCUNet", "Swin2SR", "SwinIR", "Uformer",
})
LR_UPSAMPLERS = frozenset({"Compact"})  # shuffle straight to RGB: no features at the output resolution
OUTPUT_BYTES = 36.0  # per output pixel (the result and its clamped / float copies)
HR_FEATURE_BYTES = 800.0  # per output pixel: the upsampler's feature maps
CONV_BYTES = 2_000.0  # per LR pixel
TRANSFORMER_BYTES, WINDOW_BYTES = 3_000.0, 120.0  # per LR pixel: + WINDOW_BYTES x window²
MARGIN = 1.25
CPU_TILE_FLOPS = 1e12
CPU_SECONDS_PER_MP_PER_PARAMETER = 6.4e-6  # within 8 % of both reference models
_CANDIDATES = (512, 448, 384, 320, 256, 192, 128)  # engine.memory's, down to the smallest sensible CPU cap


def is_community(choice: str) -> bool:
    return choice.strip().lower().startswith(COMMUNITY_PREFIX)


def community_name(choice: str) -> str:
    """``community:NAME`` -> NAME (normalised)."""
    from sinsr_gui.weights.community import normalise_name

    return normalise_name(choice)


def normalise(choice: str) -> str:
    """``Community:Foo`` -> ``community:foo``; raises :class:`ModelUnavailable` for a name that cannot exist."""
    from sinsr_gui.weights.community import CommunityNameError

    try:
        return COMMUNITY_PREFIX + community_name(choice)
    except CommunityNameError as exc:
        raise ModelUnavailable(str(exc)) from exc


# ------------------------------------------------------------------------------------------------ descriptor
def tile_bytes_for(facts: CommunityFacts) -> tuple[float, float]:
    """(a, b): peak bytes of one LR tile of side t beyond the weights, a + b·t² (rule: module docstring)."""
    s2 = facts.scale**2
    hr = 0.0 if facts.arch_id in LR_UPSAMPLERS else HR_FEATURE_BYTES * s2
    if facts.arch_id in TRANSFORMERS:
        window = _window(facts) or 16
        lr = TRANSFORMER_BYTES + WINDOW_BYTES * window**2
    else:
        lr = CONV_BYTES
    return 0.1e9 + 8.0 * facts.parameters, MARGIN * (OUTPUT_BYTES * s2 + hr + lr)


def _window(facts: CommunityFacts) -> int | None:
    window = facts.hyperparameters.get("window_size")
    if isinstance(window, list) and window and all(isinstance(w, int) for w in window):
        window = max(window)
    return window if isinstance(window, int) and window > 0 else None


def overlap_for(facts: CommunityFacts) -> tuple[int, float]:
    """(overlap in LR px, fraction of the tile) for the architecture (rule: module docstring)."""
    hyper = facts.hyperparameters
    if facts.arch_id in TRANSFORMERS:
        window = _window(facts)
        overlap = min(max(32, 2 * window), 64) if window else 32
    elif facts.arch_id == "Compact" and isinstance(hyper.get("num_conv"), int):
        overlap = min(max(16, 2 * (hyper["num_conv"] + 2)), 48)  # twice its receptive radius (3x3 convs)
    else:
        overlap = 16
    return overlap, (0.25 if facts.tiling != "supported" else 0.0)


def max_cpu_tile_for(facts: CommunityFacts) -> int:
    for tile in _CANDIDATES:
        if 2 * facts.parameters * tile * tile <= CPU_TILE_FLOPS:
            return tile
    return _CANDIDATES[-1]


def cpu_seconds_per_mp_for(facts: CommunityFacts) -> float | None:
    return None if facts.arch_id in TRANSFORMERS else CPU_SECONDS_PER_MP_PER_PARAMETER * facts.parameters


def descriptor_for_info(info: CommunityInfo) -> ModelDescriptor:
    facts = info.facts
    overlap, fraction = overlap_for(facts)
    dtypes = ("auto", "fp32") + (("bf16",) if facts.supports_bfloat16 else ()) + (("fp16",) if facts.supports_half
                                                                                   else ())
    source = f", from {info.source_name}" if info.source_name else ""
    return ModelDescriptor(
        kind=info.choice,
        display_name=info.display_name,
        summary=f"Community model: {facts.summary}{source}.",
        scale=facts.scale,
        size_multiple=max(1, facts.size_multiple),
        needs_noise=False,
        tile_bytes=tile_bytes_for(facts),
        overlap=overlap,
        overlap_fraction=fraction,
        max_cpu_tile=max_cpu_tile_for(facts),
        cpu_seconds_per_mp=cpu_seconds_per_mp_for(facts),
        passes=1,
        dtypes=dtypes,
        licence=info.licence,
    )


# ------------------------------------------------------------------------------------------------ the store
def _store(request: ModelRequest):
    from sinsr_gui.weights.store import WeightStore

    return WeightStore(request.weights_dir)


def installed(request: ModelRequest) -> list[tuple[CommunityInfo, bool]]:
    """Every recorded community model with whether its file passes the cheap check (exists, recorded size)."""
    from sinsr_gui.weights.community import installed_models

    return [(info, info.path.is_file() and info.path.stat().st_size == info.size)
            for info in installed_models(_store(request))]


def info_for(choice: str, request: ModelRequest) -> CommunityInfo:
    from sinsr_gui.weights.community import community_info

    name = community_name(choice)
    info = community_info(_store(request), name)
    if info is None:
        raise ModelUnavailable(f"The community model {name!r} is not installed; import its file again, or choose "
                               "another model.")
    return info


def descriptor(choice: str, request: ModelRequest) -> ModelDescriptor:
    return descriptor_for_info(info_for(choice, request))


def is_installed(choice: str, request: ModelRequest) -> bool:
    try:
        info = info_for(choice, request)
    except ModelUnavailable:
        return False
    return info.path.is_file() and info.path.stat().st_size == info.size


def load(choice: str, request: ModelRequest) -> CommunityUpscaler:
    from sinsr_gui.weights.community import resolve

    info = info_for(choice, request)
    try:
        info = resolve(_store(request), info.name)  # the full hash once per session, as for SinSR's files
    except WeightsError as exc:
        raise ModelUnavailable(str(exc), exc.remedy) from exc
    return CommunityUpscaler(info, request.device, request.dtype)


# ------------------------------------------------------------------------------------------------ the model
def choose_precision(facts: CommunityFacts, device: torch.device, dtype: str | torch.dtype) -> torch.dtype:
    """The compute dtype: ``auto`` as in the module docstring; an explicit one must be supported by the model."""
    if isinstance(dtype, str) and dtype.strip().lower() == "auto":
        if device.type == "cpu":
            return torch.bfloat16 if facts.supports_bfloat16 and cpu_has_fast_bf16() else torch.float32
        return torch.float16 if facts.supports_half else torch.float32
    resolved = resolve_dtype(dtype, device)
    if resolved == torch.float16 and not facts.supports_half:
        raise DeviceError(f"{facts.architecture} models do not support fp16 (spandrel); choose auto, fp32"
                          + (" or bf16." if facts.supports_bfloat16 else "."))
    if resolved == torch.bfloat16 and not facts.supports_bfloat16:
        raise DeviceError(f"{facts.architecture} models do not support bf16 (spandrel); choose auto, fp32"
                          + (" or fp16." if facts.supports_half else "."))
    return resolved


def pad_to_requirements(x: torch.Tensor, multiple: int, minimum: int, square: bool) -> torch.Tensor:
    """Pad right/bottom to at least ``minimum``, a multiple of ``multiple`` (and square): reflect, then replicate
    beyond what reflection allows (spandrel's own rule)."""
    h, w = x.shape[-2:]
    th, tw = max(h, minimum), max(w, minimum)
    th, tw = -(-th // multiple) * multiple, -(-tw // multiple) * multiple
    if square:
        th = tw = max(th, tw)
    ph, pw = th - h, tw - w
    if not (ph or pw):
        return x
    rh, rw = min(ph, h - 1), min(pw, w - 1)
    if rh or rw:
        x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if ph - rh or pw - rw:
        x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
    return x


class CommunityUpscaler(DeterministicUpscaler):
    """An installed community model as a tiler model: deterministic, no noise."""

    def __init__(self, info: CommunityInfo, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "auto") -> None:
        from sinsr_gui.weights.checkpoint import CheckpointError, read_state_dict
        from sinsr_gui.weights.community import CommunityModelError, build_model, facts_from_spandrel

        self.info = info
        self.descriptor = descriptor_for_info(info)
        self.device = resolve_device(device)
        self.compute_dtype = choose_precision(info.facts, self.device, dtype)
        try:
            state = read_state_dict(info.path)
            model = build_model(state, info.path.name)
        except (CheckpointError, CommunityModelError) as exc:
            raise ModelUnavailable(f"The community model {info.name!r} cannot be loaded: {exc}") from exc
        del state
        facts = facts_from_spandrel(model, info.path.name)  # the same checks as on import
        if (facts.arch_id, facts.scale, facts.parameters) != (info.facts.arch_id, info.facts.scale,
                                                              info.facts.parameters):
            raise ModelUnavailable(f"The community model {info.name!r} is no longer what was imported "
                                   f"({facts.summary}); import it again.")
        self.model: Any = model.to(self.device).eval()  # spandrel's ImageModelDescriptor, float32 weights
        self._lock = threading.Lock()
        self.prepare()

    @property
    def conv_only(self) -> bool:
        """No attention: the network runs channels-last in every precision (engine.descriptor.CONV_LAYOUT)."""
        return self.info.facts.arch_id not in TRANSFORMERS

    def prepare(self) -> None:
        """Put the network in its fastest layout (channels-last for convolution-only architectures)."""
        if self.conv_only:
            self.model.model.to(memory_format=CONV_LAYOUT)

    @property
    def receptive_radius(self) -> int | None:
        """Known exactly for SRVGG compact models (``num_conv + 2`` LR px), else None."""
        n = self.info.facts.hyperparameters.get("num_conv")
        return n + 2 if self.info.facts.arch_id == "Compact" and isinstance(n, int) else None

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        facts = self.info.facts
        x = tiles.to(self.device, torch.float32)
        h, w = x.shape[-2:]
        x = pad_to_requirements(x, max(1, facts.size_multiple), facts.min_size, facts.square)
        if self.conv_only:
            x = x.contiguous(memory_format=CONV_LAYOUT)
        with self._lock:  # spandrel's call may switch the module to eval mode; one call at a time
            out = run_network(self.model, x, self.compute_dtype)
        s = facts.scale
        return out[..., : h * s, : w * s]
