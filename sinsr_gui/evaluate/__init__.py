"""Measure the built-in models (Photo, Faithful, Most detail) and candidates on Set5 and Set14 (x4).

    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR [--realset DIR] [--out docs] [--update-cards]
    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR --models "Photo v3=run/photo_x4.safetensors" [--realset DIR]
    python -m sinsr_gui.evaluate --set5 DIR --set14 DIR --ablation NAME=WEIGHTS... [--out docs]

* :mod:`~sinsr_gui.evaluate.metrics`: PSNR/SSIM on Y, the JPEG block measure, sharpness, colour shift, 4-px pattern;
* :mod:`~sinsr_gui.evaluate.protocols`: how each LR input is made (bicubic, real-world, JPEG q20..q70, second-order);
* :mod:`~sinsr_gui.evaluate.running`: the methods (every model through the engine's use case) over the datasets;
* :mod:`~sinsr_gui.evaluate.report`: tables, targets, crop sheets, ``quality.md`` / ``quality.json``, cards;
* ``__main__``: the command line.

The measures are re-exported here, so ``from sinsr_gui.evaluate import psnr`` keeps working.
"""

from sinsr_gui.evaluate.metrics import (
    METRICS,
    block_index,
    cell_pattern,
    colour_shift,
    measure,
    psnr,
    rgb_to_y,
    sharpness_ratio,
    ssim,
    y_metrics,
)
from sinsr_gui.evaluate.protocols import PROTOCOLS, load_hr, make_lr

__all__ = ["METRICS", "PROTOCOLS", "block_index", "cell_pattern", "colour_shift", "load_hr", "make_lr", "measure",
           "psnr", "rgb_to_y", "sharpness_ratio", "ssim", "y_metrics"]
