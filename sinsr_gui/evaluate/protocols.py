"""How the evaluation makes each LR input from its HR image (all seeded, so every run sees the same inputs).

* ``bicubic``: Pillow ``resize(..., BICUBIC)`` to 1/4 (antialiased, a = -0.5, like MATLAB ``imresize`` but
  not bit-identical to it, so absolute numbers differ slightly from published tables);
* ``real-world``: the bicubic LR plus Gaussian noise of sigma 5/255, rounded to 8 bits, then JPEG q = 75;
* ``jpeg20`` / ``jpeg30`` / ``jpeg45`` / ``jpeg50`` / ``jpeg70``: the bicubic LR saved as a JPEG at that quality
  (Pillow, 4:2:0), the usual life of a web photo (20: the worst of RealSet65);
* ``second-order``: the training scheme of SinSR (:func:`~sinsr_gui.training.degradations.degrade_real_world`
  with the official numbers: blur, resize, noise, JPEG, twice, then resize + sinc), one seeded draw per image.

Noise is drawn from a ``torch.Generator`` seeded with CRC32 of the file name.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from sinsr_gui.evaluate.metrics import SCALE

NOISE_SIGMA = 5.0 / 255.0
JPEG_QUALITY = 75
PROTOCOLS = ("bicubic", "real-world", "jpeg20", "jpeg30", "jpeg45", "jpeg50", "jpeg70", "second-order")
ABLATION_PROTOCOLS = ("bicubic", "jpeg45", "second-order")
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg")

PROTOCOL_DOC = [
    "- x4. HR cropped at the bottom/right to a multiple of 4; grey images (Set14 `bridge`) used as RGB.",
    "- **bicubic**: Pillow `resize(BICUBIC)` to 1/4 (antialiased; close to MATLAB `imresize`, not bit-identical).",
    f"- **real-world**: bicubic + Gaussian noise σ = {NOISE_SIGMA * 255:.0f}/255, then JPEG q = {JPEG_QUALITY}.",
    "- **jpegQ**: bicubic, then Pillow JPEG at quality Q (4:2:0).",
    "- **second-order**: SinSR's training degradation (official numbers: blur, resize, noise, JPEG, twice; "
    "then resize + sinc), one seeded draw per image.",
]


def list_images(folder: Path) -> list[Path]:
    """The images of a dataset folder (PNG, BMP, JPEG), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_hr(path: Path, scale: int = SCALE) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB, cropped at the bottom/right so both sides are multiples of ``scale``."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    h, w = arr.shape[0] - arr.shape[0] % scale, arr.shape[1] - arr.shape[1] % scale
    return np.ascontiguousarray(arr[:h, :w])


class EncodedLowRes(np.ndarray):
    """A low-resolution input (uint8 RGB) decoded from a file whose bytes it keeps in ``encoded``, so that the
    engine reads it as it reads that file (a JPEG's coding included: ``engine.imageio.jpeg_blocks``). Slices
    and copies are plain pixels (``encoded`` None): only the whole decoded picture matches the bytes."""

    encoded: bytes | None = None

    def __array_finalize__(self, obj: object) -> None:
        self.encoded = None


def decoded(data: bytes) -> np.ndarray:
    """The pixels of an encoded file (uint8 RGB, upright as the engine turns it), keeping its bytes
    (:class:`EncodedLowRes`)."""
    with Image.open(io.BytesIO(data)) as im:
        out = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).view(EncodedLowRes)
    out.encoded = data
    return out


def _jpeg(arr: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr)).save(buf, format="JPEG", quality=quality)
    return decoded(buf.getvalue())


def make_lr(hr: np.ndarray, protocol: str, name: str, scale: int = SCALE) -> np.ndarray:
    """The LR input for ``hr`` (uint8 RGB) under ``protocol`` (see the module docstring); uint8 RGB."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    if protocol == "second-order":
        from sinsr_gui.training.degradations import RealWorldDegradation, degrade_real_world, to_uint8_hwc

        x = torch.from_numpy(hr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        return to_uint8_hwc(degrade_real_world(x, RealWorldDegradation.sinsr(), gen))
    img = Image.fromarray(hr).resize((hr.shape[1] // scale, hr.shape[0] // scale), Image.Resampling.BICUBIC)
    lr = np.asarray(img)
    if protocol == "bicubic":
        return lr
    if protocol.startswith("jpeg") and protocol[4:].isdigit():
        return _jpeg(lr, int(protocol[4:]))
    if protocol != "real-world":
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    x = torch.from_numpy(lr.astype(np.float32) / 255.0)
    x = x + NOISE_SIGMA * torch.randn(x.shape, generator=gen)
    return _jpeg((x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy(), JPEG_QUALITY)
