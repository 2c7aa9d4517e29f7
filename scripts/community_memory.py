"""Measure the peak memory of one tile through community architectures (random weights), on the CPU.

The numbers behind ``sinsr_gui.engine.models.community.tile_bytes_for``: each model runs one tile of side t in
float32 in a fresh process, and the peak resident memory above the loaded model (VmHWM after resetting it) is
recorded for two tile sides; the slope gives bytes per LR pixel. glibc's mmap threshold is pinned low
(MALLOC_MMAP_THRESHOLD_) so that freed tensors leave the resident set at once and the peak is the live peak,
not hidden in memory the allocator kept from loading the model. Usage::

    .venv/bin/python scripts/community_memory.py            # every model below, as a table
    .venv/bin/python scripts/community_memory.py --json NAME T   # one measurement (used by the table)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sinsr_gui.process_memory import PeakRSS, release_freed_memory  # noqa: E402

# name: (spandrel module, class, kwargs). Official configurations where they are small enough for a laptop CPU.
MODELS = {
    "compact_64f16c_x4": ("Compact", "Compact", dict(num_feat=64, num_conv=16, upscale=4)),
    "compact_64f32c_x4": ("Compact", "Compact", dict(num_feat=64, num_conv=32, upscale=4)),  # general-x4v3
    "esrgan_6b_x4": ("ESRGAN", "ESRGAN", dict(num_filters=64, num_blocks=6, scale=4)),  # x4plus anime 6B
    "esrgan_23b_x4": ("ESRGAN", "ESRGAN", dict(num_filters=64, num_blocks=23, scale=4)),  # x4plus
    "esrgan_23b_x2": ("ESRGAN", "ESRGAN", dict(in_nc=12, num_filters=64, num_blocks=23, scale=2,
                                               shuffle_factor=2)),  # x2plus (pixel unshuffle)
    "span_48_x4": ("SPAN", "SPAN", dict(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4)),
    "swinir_s_x4": ("SwinIR", "SwinIR", dict(img_size=64, embed_dim=60, depths=[6] * 4, num_heads=[6] * 4,
                                             window_size=8, mlp_ratio=2, upscale=4, upsampler="pixelshuffledirect")),
    "swinir_m_x4": ("SwinIR", "SwinIR", dict(img_size=48, embed_dim=180, depths=[6] * 6, num_heads=[6] * 6,
                                             window_size=8, mlp_ratio=2, upscale=4, upsampler="pixelshuffle")),
    "hat_s_x4": ("HAT", "HAT", dict(img_size=64, embed_dim=144, depths=[6] * 6, num_heads=[6] * 6,
                                    window_size=16, compress_ratio=24, squeeze_factor=24, mlp_ratio=2,
                                    upscale=4, upsampler="pixelshuffle")),
}
TILES = (48, 96)


def measure(name: str, tile: int) -> dict:
    import importlib
    import warnings

    import torch

    from sinsr_gui.weights.spandrel_support import import_spandrel

    torch.set_num_threads(2)
    spandrel = import_spandrel()
    module, cls, kwargs = MODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = getattr(importlib.import_module(f"spandrel.architectures.{module}"), cls)(**kwargs)
        model = spandrel.ModelLoader().load_from_state_dict(net.state_dict()).eval()
    del net
    params = sum(p.numel() for p in model.model.parameters())
    with torch.inference_mode():
        model(torch.rand(1, 3, 16, 16))  # warm-up (allocator, kernels)
        x = torch.rand(1, 3, tile, tile)
        release_freed_memory()
        with PeakRSS() as rss:
            out = model(x)
    if rss.peak_bytes is None:
        raise RuntimeError("no /proc/self/status: the peak memory can only be measured on Linux")
    return {"name": name, "tile": tile, "params": params, "scale": model.scale, "arch": model.architecture.id,
            "peak": rss.peak_bytes - out.numel() * 4}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", nargs=2, metavar=("NAME", "TILE"))
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.json[0], int(args.json[1]))))
        return
    print(f"{'model':20} {'arch':8} {'params':>8} {'B/LR px':>9} {'fixed MB':>9}")
    for name in args.models:
        rows = []
        for tile in TILES:
            out = subprocess.run([sys.executable, __file__, "--json", name, str(tile)], capture_output=True,
                                 text=True, check=True, env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        (t0, p0), (t1, p1) = ((r["tile"], r["peak"]) for r in rows)
        per_px = (p1 - p0) / (t1 * t1 - t0 * t0)
        fixed = p0 - per_px * t0 * t0
        r = rows[0]
        print(f"{name:20} {r['arch']:8} {r['params'] / 1e6:7.2f}M {per_px:9.0f} {fixed / 1e6:9.1f}", flush=True)


if __name__ == "__main__":
    main()
