"""Choosing the device and precision. Library code never calls ``.cuda()`` or ``.half()``: it takes these."""

from __future__ import annotations

from typing import NamedTuple

import torch

from sinsr_gui.errors import Remedy, UserError

DTYPE_NAMES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


class DeviceError(UserError, ValueError):
    """The requested device or precision is not available here; the message says what to choose instead."""


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 is much faster."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then the CPU. Others are checked so the error is readable."""
    if isinstance(device, torch.device):
        return device
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("No CUDA GPU is available here (or this PyTorch build has no CUDA).", Remedy("choose_device"))
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"There is no GPU {name}; this machine has {torch.cuda.device_count()} CUDA GPU(s).",
                              Remedy("choose_device"))
        return dev
    if name == "mps":
        if not mps_available():
            raise DeviceError("Apple Metal (MPS) is not available here.", Remedy("choose_device"))
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"Unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps.", Remedy("choose_device"))


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Map ``auto``/``fp32``/``bf16``/``fp16`` to a torch dtype that is sensible on ``device``.

    ``auto`` is the fastest precision whose output stays within the accuracy bound (PSNR >= 40 dB against
    float32; see docs/performance.md): bf16 on CPUs with native bf16 and on CUDA GPUs that support it, fp16 on
    other GPUs and MPS, else float32. fp16 on the CPU is refused: it is hundreds of times slower there.
    """
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        key = dtype.strip().lower()
        if key == "auto":
            return auto_dtype(device)
        if key not in DTYPE_NAMES:
            raise DeviceError(f"Unknown precision {dtype!r}: use auto, fp32, bf16 or fp16.")
        resolved = DTYPE_NAMES[key]
    if resolved == torch.float16 and device.type == "cpu":
        raise DeviceError("fp16 is extremely slow on the CPU; choose bf16, fp32 or auto.")
    return resolved


def auto_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def device_label(device: torch.device) -> str:
    """A human name, e.g. "NVIDIA H100 80GB HBM3 (cuda:0)" or "CPU (2 threads)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def available_devices() -> list[tuple[str, str]]:
    """(id, label) for every device this machine can run on, CPU first; ids are valid ``--device`` values."""
    out = [("cpu", device_label(torch.device("cpu")))]
    if torch.cuda.is_available():
        out += [(f"cuda:{i}", f"{torch.cuda.get_device_name(i)} (cuda:{i})") for i in range(torch.cuda.device_count())]
    if mps_available():
        out.append(("mps", "Apple GPU (MPS)"))
    return out


class StagePrecision(NamedTuple):
    """The dtype of each SinSR stage. The codebook search is always float32 and is not listed."""

    encoder: torch.dtype
    unet: torch.dtype
    decoder: torch.dtype

    @property
    def label(self) -> str:
        names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        if self.encoder == self.unet == self.decoder:
            return names[self.decoder]
        return f"mixed (encoder {names[self.encoder]}, denoiser {names[self.unet]}, decoder {names[self.decoder]})"


def stage_precision(dtype: str | torch.dtype, device: torch.device) -> StagePrecision:
    """The per-stage precision for a requested dtype.

    An explicit dtype applies to every stage. ``auto`` keeps the encoder and the denoiser in float32 and runs
    only the decoder (about 60 % of the work) in reduced precision (fp16 on GPUs, bf16 on CPUs with native
    bf16). The decoder comes after the codebook search, so its rounding cannot change which codes are chosen;
    reduced precision before the search flips codes: measured against float32 on the reference case, all-fp16
    gives 38.4 dB and all-bf16 26 dB, below the 40 dB bound, while this policy gives 45-46 dB with every code
    identical. fp16 everywhere (the official inference precision) stays available as an explicit choice.
    The numbers are in docs/performance.md.
    """
    if isinstance(dtype, str) and dtype.strip().lower() == "auto":
        decoder = torch.float16 if device.type in ("cuda", "mps") else auto_dtype(device)
        return StagePrecision(torch.float32, torch.float32, decoder)
    resolved = resolve_dtype(dtype, device)
    return StagePrecision(resolved, resolved, resolved)
