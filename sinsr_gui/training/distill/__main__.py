"""``python -m sinsr_gui.training.distill`` (and ``sinsr-train``): see :mod:`sinsr_gui.training.distill.trainer`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sinsr_gui.training.distill.trainer import DistillConfig, DistillError, train


def _parser() -> argparse.ArgumentParser:
    d = DistillConfig()
    p = argparse.ArgumentParser(
        prog="sinsr-train",
        description="Distil a one-step SinSR student from the 15-step ResShift teacher on folders of HR photos. "
                    "Several GPUs: torchrun --nproc-per-node N -m sinsr_gui.training.distill ...")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of high-resolution images")
    p.add_argument("--out", default=d.out, help=f"run folder (default {d.out})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--teacher", default=d.teacher, help="teacher checkpoint file or weights id (default %(default)s)")
    p.add_argument("--autoencoder", default=d.autoencoder, help="autoencoder file or weights id (default %(default)s)")
    p.add_argument("--model-config", default=None, metavar="JSON",
                   help="the models' official constructor arguments (default: the SinSR v1 / ResShift sizes)")
    p.add_argument("--weights-dir", default=None, help="the weights manager's folder (default: the app's)")
    for name, help_text in (("steps", "optimizer steps"), ("batch", "global batch (all processes)"),
                            ("micro-batch", "samples per pass, gradients accumulated up to --batch"),
                            ("hr-size", "HR crop side in pixels"), ("warmup", "linear learning-rate warm-up steps"),
                            ("seed", "seed of the data and noise"), ("threads", "CPU threads"),
                            ("log-every", "steps between log lines"), ("checkpoint-every", "steps between checkpoints"),
                            ("preview-every", "steps between preview images (0: none)"),
                            ("preview-count", "images in the fixed validation batch")):
        default = getattr(d, name.replace("-", "_"))
        p.add_argument(f"--{name}", type=int, default=default, help=f"{help_text} (default {default})")
    for name, help_text in (("lr", "peak learning rate of AdamW"), ("weight-decay", "AdamW weight decay"),
                            ("ema", "EMA decay of the saved student"), ("inverse-weight", "weight of the inverse loss"),
                            ("consistency-weight", "weight of the consistency-preserving loss")):
        default = getattr(d, name.replace("-", "_"))
        p.add_argument(f"--{name}", type=float, default=default, help=f"{help_text} (default {default})")
    p.add_argument("--degradation", default=d.degradation, choices=("real-world", "bicubic"),
                   help="how LR inputs are made: the official second-order scheme, or plain bicubic")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda (default auto)")
    p.add_argument("--precision", default=d.precision, choices=("auto", "bf16", "fp16", "fp32"),
                   help="autocast on a GPU (auto: bf16, or fp16 without bf16); a CPU always trains in float32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    resume, quiet = args.pop("resume"), args.pop("quiet")
    cfg = DistillConfig.from_dict(args)
    try:
        student = train(cfg, resume=resume, quiet=quiet)
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"student: {student}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
