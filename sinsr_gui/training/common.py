"""Pieces every training script shares: image folders, random patches, seeding and resumable RNG state,
atomic checkpoint writes, safetensors export, and a description of the machine for the record."""

from __future__ import annotations

import json
import os
import platform
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sinsr_gui.atomic import atomic_path
from sinsr_gui.nn.compact import CompactSRNet

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """All image files directly inside ``dirs``, sorted by name within each folder (stable across machines)."""
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"training folder not found: {d}")
        files += sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return files




def load_images(files: Sequence[Path], min_side: int) -> list[np.ndarray]:
    """Decode every file once into ``(H, W, 3)`` uint8 RGB arrays kept in memory (decoding per step is slow).

    Images with a side shorter than ``min_side`` (the HR patch) cannot give a patch and are skipped.
    """
    images = []
    for path in files:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_side:
            images.append(arr)
    return images




def uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand((), generator=gen).item()




def chance(gen: torch.Generator, p: float) -> bool:
    return torch.rand((), generator=gen).item() < p




def random_patch(images: Sequence[np.ndarray], size: int, gen: torch.Generator) -> np.ndarray:
    """A random ``(size, size, 3)`` uint8 crop of a random image, randomly flipped and rotated by k*90°."""
    img = images[int(torch.randint(len(images), (), generator=gen))]
    h, w = img.shape[:2]
    top = int(torch.randint(h - size + 1, (), generator=gen))
    left = int(torch.randint(w - size + 1, (), generator=gen))
    patch = img[top : top + size, left : left + size]
    if chance(gen, 0.5):
        patch = patch[:, ::-1]
    patch = np.rot90(patch, k=int(torch.randint(4, (), generator=gen)))
    return np.ascontiguousarray(patch)




def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1).div_(255.0)




def seed_everything(seed: int) -> torch.Generator:
    """Seed torch, numpy and random; return the generator that drives all data sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # A separate stream for data, so changing the model (which consumes torch's global RNG) keeps the data.
    return torch.Generator().manual_seed(seed + 1)




def rng_states(gen: torch.Generator) -> dict:
    # Stored as tensors and plain Python values so torch.load(weights_only=True) can read them back.
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "data": gen.get_state(),
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "python": list(random.getstate()),
    }




def set_rng_states(states: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    gen.set_state(states["data"])
    name, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))




@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema = decay·ema + (1 - decay)·model``, parameter by parameter (the EMA weights a trainer ships)."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)


def atomic_save(obj: object, path: Path) -> None:
    # A crash while writing must not destroy the previous checkpoint.
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)




def save_weights(model: CompactSRNet, path: Path) -> None:
    """Write fp32 weights as safetensors, with the model config in the metadata for humans."""
    from safetensors.torch import save_file

    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    # atomic_path gives the file the normal mode (a shipped resource must be readable by all), not the
    # owner-only one of a temp file
    metadata = {"model": "CompactSRNet", "config": json.dumps(model.config.to_dict())}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)




def available_threads() -> int:
    """CPU cores this process may use (respects affinity masks and container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)




def describe_device() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}, {torch.get_num_threads()} threads"


