"""Manifests: the exact parameter names and shapes an official checkpoint must have."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"

# Names of the bundled manifests (files ``manifests/manifest_<name>.json``; SinSR's copied from the reference data).
UNET_FULL = "unet_full"
AUTOENCODER_FULL = "autoencoder_full"
# Community downloads (generated from spandrel's architectures: scripts/make_community_manifests.py).
REALESRGAN_X4PLUS = "realesrgan_x4plus"
REALESR_GENERAL_X4V3 = "realesr_general_x4v3"


def read_manifest_file(path: Path) -> dict[str, tuple[int, ...]]:
    """Read a manifest JSON (``{"state_dict": [{"key", "shape", ...}, ...]}``) into ``{key: shape}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {entry["key"]: tuple(entry["shape"]) for entry in data["state_dict"]}


@cache
def bundled_manifest(name: str) -> dict[str, tuple[int, ...]]:
    return read_manifest_file(MANIFEST_DIR / f"manifest_{name}.json")
