"""Run the tiler on an N x N LR image in a fresh process and print its peak memory beyond the image arrays.

Used by test_memory_bound.py: ``python -m tests.memory_probe N`` prints JSON.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from sinsr_gui.engine.config import AutoencoderConfig, SinSRConfig, UNetConfig
from sinsr_gui.engine.pipeline import SinSRPipeline
from sinsr_gui.engine.tiling import TilingOptions, iter_upscale, run_to_completion
from sinsr_gui.process_memory import PeakRSS

# Smaller still than the tests' tiny config: memory, not quality, is measured, and a 1024 px LR image means
# 16 M output pixels through the autoencoder.
MICRO = SinSRConfig(
    unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 1), num_res_blocks=(1, 1),
                    attention_resolutions=(16, 8), num_head_channels=16, swin_embed_dim=32, swin_depth=2),
    autoencoder=AutoencoderConfig(n_embed=64, ch=32, ch_mult=(1, 1, 1), num_res_blocks=0),
)


def main(size: int) -> None:
    torch.set_num_threads(2)
    pipe = SinSRPipeline.from_config(MICRO, seed=0)
    warm = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    opts = TilingOptions(tile=64, overlap=16, batch_size=1)
    run_to_completion(iter_upscale(pipe, warm, opts, generator=torch.Generator().manual_seed(0)))  # warm-up
    image = np.random.default_rng(1).random((size, size, 3), dtype=np.float32)
    with PeakRSS() as rss:
        out = run_to_completion(iter_upscale(pipe, image, opts, generator=torch.Generator().manual_seed(0)))
    if rss.peak_bytes is None:
        raise RuntimeError("no /proc/self/status: the peak memory can only be measured on Linux")
    arrays = out.nbytes + 3 * size * size * 4  # the output array and the whole-image noise field (input-sized)
    print(json.dumps({"size": size, "peak_above_start": rss.peak_bytes, "arrays": arrays,
                      "extra": rss.peak_bytes - arrays}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
