"""Real-world degradations for training: the second-order scheme of Real-ESRGAN, as SinSR/ResShift train with.

An HR patch becomes its LR input through two rounds of the life of a web photo, then a final resize:

1. **first round**: blur with a random kernel, random resize (up, down or keep, random interpolation), Gaussian
   or Poisson noise (in colour or grey), JPEG;
2. **second round** (with probability ``second_order_prob``): the same with its own ranges (blur with
   probability ``second_blur_prob``), resized relative to the final LR size;
3. **final**: in random order, either [resize to the LR size + sinc filter, then JPEG] or [JPEG, then resize +
   sinc]. The sinc filter (a circular low-pass, which makes ringing) is applied with probability
   ``final_sinc_prob``, else an identity kernel.

The numbers of :meth:`RealWorldDegradation.sinsr` are those of the ``degradation:`` and ``data.train.params``
sections of the official ``configs/SinSR.yaml`` (wyf0912/SinSR); the code is ours. Two deliberate differences
from the official GPU pipeline, both because this runs on a CPU one patch at a time:

* JPEG goes through Pillow's real libjpeg encoder (4:2:0 chroma, like cameras and the web), not a
  differentiable JPEG simulation;
* each patch draws its own parameters (the official code draws one resize scale/mode per batch and then mixes
  batches through a queue to get diversity back).

Images here are ``(1, 3, H, W)`` float RGB in ``[0, 1]``. All randomness comes from the ``torch.Generator``
the caller passes in, so one seed gives the same LR patches on every machine.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")
MAX_KERNEL = 21  # kernels are drawn with odd sizes 7..21 and padded to 21 (as the official dataset does)


# ----------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BlurConfig:
    """How one random blur kernel is drawn (sizes in the pixels of the image it is applied to)."""

    kinds: tuple[str, ...] = KERNEL_KINDS
    probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1  # a sinc (ringing) kernel instead of one of ``kinds``
    sigma: tuple[float, float] = (0.2, 3.0)
    betag: tuple[float, float] = (0.5, 4.0)  # shape of the generalized Gaussian (2 = Gaussian)
    betap: tuple[float, float] = (1.0, 2.0)  # shape of the plateau kernel
    sizes: tuple[int, ...] = tuple(range(7, MAX_KERNEL + 1, 2))


@dataclass(frozen=True)
class RoundConfig:
    """One round of blur, resize and noise (the JPEG ranges live here too)."""

    blur: BlurConfig
    blur_prob: float
    resize_prob: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    gaussian_noise_prob: float  # else Poisson noise
    noise_range: tuple[float, float]  # Gaussian sigma in 8-bit levels
    poisson_scale_range: tuple[float, float]
    gray_noise_prob: float
    jpeg_range: tuple[int, int]


@dataclass(frozen=True)
class RealWorldDegradation:
    """The whole second-order scheme; :meth:`sinsr` gives the official SinSR training numbers."""

    scale: int
    first: RoundConfig
    second: RoundConfig
    second_order_prob: float
    final_sinc_prob: float

    @classmethod
    def sinsr(cls) -> RealWorldDegradation:
        """The numbers of the official ``configs/SinSR.yaml`` (``degradation`` and ``data.train.params``)."""
        return cls(
            scale=4,
            first=RoundConfig(
                blur=BlurConfig(sigma=(0.2, 3.0)), blur_prob=1.0,
                resize_prob=(0.2, 0.7, 0.1), resize_range=(0.15, 1.5),
                gaussian_noise_prob=0.5, noise_range=(1.0, 30.0), poisson_scale_range=(0.05, 3.0),
                gray_noise_prob=0.4, jpeg_range=(30, 95),
            ),
            second=RoundConfig(
                blur=BlurConfig(sigma=(0.2, 1.5)), blur_prob=0.8,
                resize_prob=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
                gaussian_noise_prob=0.5, noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5),
                gray_noise_prob=0.4, jpeg_range=(30, 95),
            ),
            second_order_prob=0.5,
            final_sinc_prob=0.8,
        )


# ----------------------------------------------------------------------------------------------- randomness


def uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand((), generator=gen, dtype=torch.float64).item()


def chance(gen: torch.Generator, p: float) -> bool:
    return torch.rand((), generator=gen, dtype=torch.float64).item() < p


def choice(gen: torch.Generator, options: tuple, probs: tuple[float, ...] | None = None):
    """One of ``options``, uniformly or with the given probabilities."""
    if probs is None:
        return options[int(torch.randint(len(options), (), generator=gen))]
    idx = int(torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1, generator=gen))
    return options[idx]


# ----------------------------------------------------------------------------------------------- kernels


def _grid(size: int) -> torch.Tensor:
    """``(size, size, 2)`` float64 (x, y) offsets from the centre of an odd-sized kernel."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    ax = torch.arange(size, dtype=torch.float64) - size // 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def _mahalanobis2(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """``(size, size)`` squared Mahalanobis distance ``d^T Σ^-1 d`` for Σ = R diag(σx², σy²) R^T."""
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rot.T
    d = _grid(size)
    return torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov), d)


def _normalised(k: torch.Tensor) -> torch.Tensor:
    return (k / k.sum()).float()


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float = 0.0) -> torch.Tensor:
    """Bivariate (anisotropic when ``sigma_x != sigma_y``) Gaussian, rotated by ``theta``; sums to 1."""
    return _normalised(torch.exp(-0.5 * _mahalanobis2(size, sigma_x, sigma_y, theta)))


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float,
                                beta: float) -> torch.Tensor:
    """``exp(-0.5 (d^T Σ^-1 d)^beta)``: beta < 1 is peakier than a Gaussian, beta > 1 flatter; sums to 1."""
    return _normalised(torch.exp(-0.5 * _mahalanobis2(size, sigma_x, sigma_y, theta) ** beta))


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> torch.Tensor:
    """``1 / (1 + (d^T Σ^-1 d)^beta)``: a flat top with heavy tails; sums to 1."""
    return _normalised(1.0 / (1.0 + _mahalanobis2(size, sigma_x, sigma_y, theta) ** beta))


def sinc_kernel(size: int, cutoff: float) -> torch.Tensor:
    """Circular low-pass (2-D sinc / Airy) kernel with angular cutoff ``cutoff`` (radians per pixel); sums to 1.

    ``k(r) = cutoff * J1(cutoff * r) / (2 pi r)``, with its limit ``cutoff² / (4 pi)`` at ``r = 0``. Its
    negative side lobes make the ringing and overshoot seen around edges in resized and sharpened photos.
    """
    r = _grid(size).norm(dim=-1)
    safe = torch.where(r == 0, torch.ones_like(r), r)
    k = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    k = torch.where(r == 0, torch.full_like(r, cutoff**2 / (4 * math.pi)), k)
    return _normalised(k)


def pad_kernel(k: torch.Tensor, size: int = MAX_KERNEL) -> torch.Tensor:
    """Zero-pad an odd square kernel to ``size`` x ``size`` (the same filter, a common shape)."""
    p = (size - k.shape[-1]) // 2
    return F.pad(k, (p, p, p, p))


def identity_kernel(size: int = MAX_KERNEL) -> torch.Tensor:
    k = torch.zeros(size, size)
    k[size // 2, size // 2] = 1.0
    return k


def _draw_beta(gen: torch.Generator, lo: float, hi: float) -> float:
    # Half the draws below 1 and half above, as the official sampler does (the two sides differ a lot).
    return uniform(gen, lo, 1.0) if chance(gen, 0.5) else uniform(gen, 1.0, hi)


def random_blur_kernel(gen: torch.Generator, cfg: BlurConfig) -> torch.Tensor:
    """A random ``(21, 21)`` blur kernel (drawn at an odd size 7..21, zero-padded); sums to 1."""
    size = int(choice(gen, cfg.sizes))
    if chance(gen, cfg.sinc_prob):
        # Small kernels cannot hold a low cutoff's wide lobes, so they get only high cutoffs.
        lo = math.pi / 3 if size < 13 else math.pi / 5
        return pad_kernel(sinc_kernel(size, uniform(gen, lo, math.pi)))
    kind = choice(gen, cfg.kinds, cfg.probs)
    sx = uniform(gen, *cfg.sigma)
    if kind.endswith("_iso") or kind == "iso":
        sy, theta = sx, 0.0
    else:
        sy, theta = uniform(gen, *cfg.sigma), uniform(gen, -math.pi, math.pi)
    if kind.startswith("generalized"):
        k = generalized_gaussian_kernel(size, sx, sy, theta, _draw_beta(gen, *cfg.betag))
    elif kind.startswith("plateau"):
        k = plateau_kernel(size, sx, sy, theta, _draw_beta(gen, *cfg.betap))
    else:
        k = gaussian_kernel(size, sx, sy, theta)
    return pad_kernel(k)


def random_final_sinc(gen: torch.Generator, prob: float, sizes: tuple[int, ...] = BlurConfig.sizes
                      ) -> torch.Tensor:
    """The final filter: a sinc with cutoff in [pi/3, pi] with probability ``prob``, else the identity."""
    if not chance(gen, prob):
        return identity_kernel()
    size = int(choice(gen, sizes))
    return pad_kernel(sinc_kernel(size, uniform(gen, math.pi / 3, math.pi)))


# ----------------------------------------------------------------------------------------------- steps


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``(N, C, H, W)`` with ``(k, k)`` (odd k), reflect-padded; same size out.

    Images smaller than the kernel's half-width are padded by replication first (reflect needs more pixels).
    """
    n, c, h, w = img.shape
    p = kernel.shape[-1] // 2
    mode = "reflect" if min(h, w) > p else "replicate"
    x = F.pad(img, (p, p, p, p), mode=mode)
    weight = kernel.to(img.dtype).expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=c)


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` to ``size = (h, w)`` (at least 1x1) with ``mode`` in :data:`RESIZE_MODES`.

    No antialiasing, as in the official pipeline: aliasing is one of the degradations to learn.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}")
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if mode == "area":
        return F.interpolate(img, size=size, mode="area")
    return F.interpolate(img, size=size, mode=mode, align_corners=False)


def random_resize_scale(gen: torch.Generator, probs: tuple[float, float, float],
                        scale_range: tuple[float, float]) -> float:
    """Up (1..max), down (min..1) or keep (1), chosen with ``probs``."""
    kind = choice(gen, ("up", "down", "keep"), probs)
    if kind == "up":
        return uniform(gen, 1.0, scale_range[1])
    if kind == "down":
        return uniform(gen, scale_range[0], 1.0)
    return 1.0


def add_gaussian_noise(img: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    """Add N(0, sigma²) noise (``sigma`` in [0, 1] units); ``gray`` adds the same noise to every channel.

    Returns the image clipped to [0, 1] (not rounded).
    """
    shape = (img.shape[0], 1, *img.shape[2:]) if gray else img.shape
    noise = torch.randn(shape, generator=gen, dtype=img.dtype) * sigma
    return (img + noise).clamp(0, 1)


def add_poisson_noise(img: torch.Tensor, scale: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    """Shot noise: photon counts drawn for the image's number of distinct 8-bit levels, scaled by ``scale``.

    The photon count per level is the next power of two above the number of distinct 8-bit values, so a
    flat, low-contrast image is noisier, as with a real sensor at low light. ``gray`` draws the noise on the
    luma and adds it to every channel. Returns the image clipped to [0, 1] (not rounded).
    """
    base = img
    if gray:
        base = (0.299 * img[:, 0:1] + 0.587 * img[:, 1:2] + 0.114 * img[:, 2:3])
    levels = len(torch.unique((base.clamp(0, 1) * 255).round()))
    vals = 2.0 ** math.ceil(math.log2(max(levels, 2)))
    noisy = torch.poisson(base.clamp(0, 1) * vals, generator=gen) / vals
    return (img + (noisy - base) * scale).clamp(0, 1)


def random_noise(img: torch.Tensor, cfg: RoundConfig, gen: torch.Generator) -> torch.Tensor:
    """Gaussian (with ``cfg.gaussian_noise_prob``) or Poisson noise, grey with ``cfg.gray_noise_prob``."""
    gaussian = chance(gen, cfg.gaussian_noise_prob)
    gray = chance(gen, cfg.gray_noise_prob)
    if gaussian:
        return add_gaussian_noise(img, uniform(gen, *cfg.noise_range) / 255.0, gray, gen)
    return add_poisson_noise(img, uniform(gen, *cfg.poisson_scale_range), gray, gen)


def to_uint8_hwc(img: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8, rounded."""
    return (img[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def from_uint8_hwc(arr: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1)[None].div_(255.0)


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode ``(1, 3, H, W)`` as a real JPEG (Pillow/libjpeg, 4:2:0) at ``quality`` and decode it again."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8_hwc(img)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return from_uint8_hwc(np.asarray(im.convert("RGB")))


def random_jpeg(img: torch.Tensor, quality_range: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    return jpeg(img, round(uniform(gen, *quality_range)))


# ----------------------------------------------------------------------------------------------- pipeline


def degrade_real_world(hr: torch.Tensor, cfg: RealWorldDegradation, gen: torch.Generator) -> torch.Tensor:
    """The LR input for an HR patch under the second-order scheme (see the module docstring).

    hr: ``(1, 3, H, W)`` float RGB in [0, 1], with H and W multiples of ``cfg.scale``.
    Returns ``(1, 3, H / scale, W / scale)`` float RGB in [0, 1], rounded to 8-bit levels.
    """
    h, w = hr.shape[-2:]
    lr_size = (h // cfg.scale, w // cfg.scale)
    # Round 1, at HR resolution.
    out = filter2d(hr, random_blur_kernel(gen, cfg.first.blur))
    s = random_resize_scale(gen, cfg.first.resize_prob, cfg.first.resize_range)
    out = resize(out, (int(h * s), int(w * s)), choice(gen, RESIZE_MODES))
    out = random_noise(out, cfg.first, gen)
    out = random_jpeg(out, cfg.first.jpeg_range, gen)
    # Round 2, relative to the LR size.
    if chance(gen, cfg.second_order_prob):
        if chance(gen, cfg.second.blur_prob):
            out = filter2d(out, random_blur_kernel(gen, cfg.second.blur))
        s = random_resize_scale(gen, cfg.second.resize_prob, cfg.second.resize_range)
        out = resize(out, (int(lr_size[0] * s), int(lr_size[1] * s)), choice(gen, RESIZE_MODES))
        out = random_noise(out, cfg.second, gen)
    # Final: [resize + sinc] and JPEG, in random order (other orders give twisted lines, per Real-ESRGAN).
    sinc = random_final_sinc(gen, cfg.final_sinc_prob)
    if chance(gen, 0.5):
        out = filter2d(resize(out, lr_size, choice(gen, RESIZE_MODES)), sinc)
        out = random_jpeg(out, cfg.second.jpeg_range, gen)
    else:
        out = random_jpeg(out, cfg.second.jpeg_range, gen)
        out = filter2d(resize(out, lr_size, choice(gen, RESIZE_MODES)), sinc)
    return (out.clamp(0, 1) * 255.0).round() / 255.0


@dataclass(frozen=True)
class WebPhotoDegradation:
    """The common simple case: a downscaled photo, sometimes noisy, saved as a JPEG once.

    Downscale with a random filter (Pillow bicubic/bilinear/box, antialiased as image editors and web
    services do), optional light Gaussian noise, then JPEG at a quality in ``jpeg_range``.
    """

    scale: int = 4
    noise_prob: float = 0.3
    noise_range: tuple[float, float] = (1.0, 8.0)
    jpeg_prob: float = 0.9
    jpeg_range: tuple[int, int] = (30, 95)


_PIL_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
                "area": Image.Resampling.BOX}


def degrade_web_photo(hr: torch.Tensor, cfg: WebPhotoDegradation, gen: torch.Generator) -> torch.Tensor:
    """``(1, 3, H, W)`` -> ``(1, 3, H / scale, W / scale)``, float in [0, 1] rounded to 8-bit levels."""
    h, w = hr.shape[-2:]
    method = _PIL_FILTERS[choice(gen, tuple(_PIL_FILTERS))]
    small = Image.fromarray(to_uint8_hwc(hr)).resize((w // cfg.scale, h // cfg.scale), method)
    out = from_uint8_hwc(np.asarray(small))
    if chance(gen, cfg.noise_prob):
        out = add_gaussian_noise(out, uniform(gen, *cfg.noise_range) / 255.0, chance(gen, 0.4), gen)
    if chance(gen, cfg.jpeg_prob):
        out = random_jpeg(out, cfg.jpeg_range, gen)
    return (out.clamp(0, 1) * 255.0).round() / 255.0


def degrade_bicubic(hr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Plain Pillow bicubic downscale (the benchmark setting): ``(1, 3, H, W)`` -> ``(1, 3, H/s, W/s)``."""
    h, w = hr.shape[-2:]
    small = Image.fromarray(to_uint8_hwc(hr)).resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    return from_uint8_hwc(np.asarray(small))


@dataclass(frozen=True)
class DegradationMix:
    """Which degradation each training patch gets: the real-world scheme, a web photo, or clean bicubic."""

    real_world_prob: float = 0.5
    web_photo_prob: float = 0.4  # the rest is clean bicubic
    real_world: RealWorldDegradation = field(default_factory=RealWorldDegradation.sinsr)
    web_photo: WebPhotoDegradation = field(default_factory=WebPhotoDegradation)

    def degrade(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        r = torch.rand((), generator=gen, dtype=torch.float64).item()
        if r < self.real_world_prob:
            return degrade_real_world(hr, self.real_world, gen)
        if r < self.real_world_prob + self.web_photo_prob:
            return degrade_web_photo(hr, self.web_photo, gen)
        return degrade_bicubic(hr, self.real_world.scale)

    def card(self) -> dict:
        """The mix as a model card records it: the three shares and each scheme's numbers."""
        return {
            "real_world_prob": self.real_world_prob,
            "web_photo_prob": self.web_photo_prob,
            "clean_bicubic_prob": round(1 - self.real_world_prob - self.web_photo_prob, 6),
            "real_world": asdict(self.real_world) | {
                "scheme": "Real-ESRGAN second-order, numbers of the official SinSR configs/SinSR.yaml"},
            "web_photo": asdict(self.web_photo),
        }


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10.0, radius: int = 50
                ) -> torch.Tensor:
    """Unsharp-masked target, as Real-ESRGAN's L1 targets: ``(N, 3, H, W)`` [0, 1] -> the same, sharpened.

    Blur with a Gaussian of size ``2 * radius + 1`` (sigma 8.3 for radius 50, OpenCV's rule for sigma 0),
    add ``weight`` times the residual where it exceeds ``threshold`` 8-bit levels (soft mask, blurred the
    same way), clip to [0, 1]. Flat areas and noise below the threshold are left alone.
    """
    size = 2 * radius + 1
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - radius
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(img.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        r = min(radius, t.shape[-1] - 1, t.shape[-2] - 1)
        gg = g[radius - r: radius + r + 1]
        gg = gg / gg.sum()
        t = F.pad(t, (r, r, 0, 0), mode="reflect")
        t = F.conv2d(t, gg.view(1, 1, 1, -1).expand(t.shape[1], 1, 1, -1), groups=t.shape[1])
        t = F.pad(t, (0, 0, r, r), mode="reflect")
        return F.conv2d(t, gg.view(1, 1, -1, 1).expand(t.shape[1], 1, -1, 1), groups=t.shape[1])

    blurred = blur(img)
    residual = img - blurred
    mask = ((residual.abs() * 255) > threshold).to(img.dtype)
    soft = blur(mask)
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img
