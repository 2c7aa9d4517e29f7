"""Run the tiler on an N x N LR image in a fresh process and print its peak memory beyond the image arrays.

Used by test_memory_bound.py: ``python -m tests.memory_probe N`` prints JSON.

What is measured is the tiler's own memory (``engine.tiling.iter_upscale``: the output canvas, the blend, the
whole-image noise field, the tiles in flight), so the model is a stand-in that costs no compute: nearest x4
with a SinSR-like noise field. A real network's memory per tile is a constant of its descriptor
(``tile_bytes``, measured in docs/memory.md), and its speed would make a 16 M output-pixel run take minutes
on a busy machine: this test bounds memory, never time.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from sinsr_gui.engine.tiling import TilingOptions, iter_upscale, run_to_completion
from sinsr_gui.process_memory import PeakRSS

OPTIONS = TilingOptions(tile=128, overlap=16, batch_size=1)


class NearestWithNoise:
    """A tile model as the tiler sees SinSR (x4, sides padded to 64, a whole-image noise field), without a network."""

    scale = 4
    size_multiple = 64
    device = torch.device("cpu")

    def noise_field(self, batch: int, height: int, width: int, generator: torch.Generator | None) -> torch.Tensor:
        hp, wp = -(-height // 64) * 64, -(-width // 64) * 64
        return torch.randn(batch, 3, hp, wp, generator=generator)

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        assert noise is not None and noise.shape[0] == tiles.shape[0]
        return F.interpolate(tiles, scale_factor=self.scale, mode="nearest")


def main(size: int) -> None:
    torch.set_num_threads(1)
    model = NearestWithNoise()
    warm = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)
    run_to_completion(iter_upscale(model, warm, OPTIONS, generator=torch.Generator().manual_seed(0)))
    image = np.random.default_rng(1).random((size, size, 3), dtype=np.float32)
    with PeakRSS() as rss:
        out = run_to_completion(iter_upscale(model, image, OPTIONS, generator=torch.Generator().manual_seed(0)))
    if rss.peak_bytes is None:
        raise RuntimeError("no /proc/self/status: the peak memory can only be measured on Linux")
    padded = -(-size // 64) * 64
    arrays = out.nbytes + 3 * padded * padded * 4  # the output array and the whole-image noise field
    print(json.dumps({"size": size, "peak_above_start": rss.peak_bytes, "arrays": arrays,
                      "extra": rss.peak_bytes - arrays}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
