"""Time one SinSR distillation training step with the full-size teacher and student (random weights).

    python scripts/gpu_distill_step.py --out docs/gpu/distill_step.json              # on a GPU
    python scripts/gpu_distill_step.py --tiny --out /tmp/distill_step_tiny.json      # a quick check on a CPU

Builds the official SinSR/ResShift sizes (``SinSRConfig.sinsr_v1()``: Swin-UNet 160 channels, VQ-f4 with 8192
codes) with random weights, no file and no network, and runs the trainer's own step
(:meth:`~sinsr_gui.training.distill.trainer.Trainer.train_step`: 256² HR crops degraded on the CPU with the
second-order scheme, the teacher's 15 deterministic steps, the student's four calls, backward, AdamW and EMA)
at batch 8, in micro-batches if asked (halved automatically after an out-of-memory error). Reports the median
time of the steps after the warm-up, the CPU data part of it, the peak GPU memory, steps per hour and the time
of the "few thousand iterations" (3,000) the official README speaks of, at this batch and at the official
batch of 64. Imports only torch, numpy, Pillow and sinsr_gui.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sinsr_gui.engine.config import AutoencoderConfig, SinSRConfig, UNetConfig  # noqa: E402
from sinsr_gui.engine.resshift import ResShiftPipeline  # noqa: E402
from sinsr_gui.training.common import describe_device  # noqa: E402
from sinsr_gui.training.distill.synthetic import write_synthetic_photos  # noqa: E402
from sinsr_gui.training.distill.trainer import (  # noqa: E402
    DistillConfig,
    Distributed,
    Models,
    Trainer,
    load_images,
    make_batch,
    training_precision,
)

ITERATIONS = 3000
OFFICIAL_BATCH = 64


def tiny_config() -> SinSRConfig:
    return SinSRConfig(
        unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 1), num_res_blocks=(1, 1),
                        attention_resolutions=(16, 8), num_head_channels=16, swin_embed_dim=32, swin_depth=2),
        autoencoder=AutoencoderConfig(n_embed=64, ch=32, ch_mult=(1, 1, 1), num_res_blocks=1),
    )


def build_models(config: SinSRConfig, device: torch.device, dtype: torch.dtype) -> Models:
    torch.manual_seed(0)
    unet, autoencoder = ResShiftPipeline.build_modules(config)
    student, _ = ResShiftPipeline.build_modules(config)
    student.load_state_dict(unet.state_dict())
    teacher = ResShiftPipeline(config, unet, autoencoder, device=device, dtype=dtype)
    return Models(teacher=teacher, student=student.to(device).train(), config=config)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg: DistillConfig, config: SinSRConfig, images, warmup: int, steps: int) -> dict:
    device = torch.device(cfg.device)
    dtype = training_precision(cfg, device)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, Distributed(), quiet=True, models=build_models(config, device, dtype))
    sync(device)
    setup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for i in range(warmup + steps):
        sync(device)
        t = time.perf_counter()
        means = trainer.train_step(images)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
        losses.append(means["loss"])
    data_times = []
    for i in range(3):  # the CPU part of a step alone: crops, second-order degradations, noise
        t = time.perf_counter()
        make_batch(images, cfg, 10_000 + i, range(cfg.batch), config.autoencoder.embed_dim)
        data_times.append(time.perf_counter() - t)
    median = statistics.median(times)
    params = sum(p.numel() for p in trainer.student.parameters())
    result = {
        "precision": str(dtype).replace("torch.", ""),
        "batch": cfg.batch, "micro_batch": cfg.micro_batch, "hr_crop": cfg.hr_size,
        "student_parameters": params,
        "autoencoder_parameters": sum(p.numel() for p in trainer.models.teacher.autoencoder.parameters()),
        "setup_s": round(setup_s, 2),
        "warmup_steps": warmup, "timed_steps": steps,
        "step_times_s": [round(t, 4) for t in times],
        "step_median_s": round(median, 4),
        "data_cpu_median_s": round(statistics.median(data_times), 4),
        "steps_per_hour": round(3600 / median, 1),
        f"hours_for_{ITERATIONS}_iterations_at_this_batch": round(ITERATIONS * median / 3600, 3),
        # Gradient accumulation: the official batch of 64 is 64 / batch times this step's work.
        f"hours_for_{ITERATIONS}_iterations_at_batch_{OFFICIAL_BATCH}_estimated":
            round(ITERATIONS * median * OFFICIAL_BATCH / cfg.batch / 3600, 3),
        "losses": [round(v, 5) for v in losses],
    }
    if device.type == "cuda":
        result["peak_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        result["peak_memory_reserved_gib"] = round(torch.cuda.max_memory_reserved(device) / 2**30, 3)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--tiny", action="store_true", help="tiny models and 64² crops on the CPU (a check of the script)")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp16", "fp32"))
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    args = p.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    config = tiny_config() if args.tiny else SinSRConfig.sinsr_v1()
    hr = 64 if args.tiny else 256
    report: dict = {"script": "scripts/gpu_distill_step.py", "tiny": args.tiny, "device": device,
                    "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else describe_device(),
                    "torch": torch.__version__, "python": platform.python_version(),
                    "model": "tiny test sizes" if args.tiny else "official SinSR v1 / ResShift sizes, random weights"}
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_photos(Path(tmp), count=4, size=2 * hr)
        images = load_images(sorted(Path(tmp).iterdir()), hr)
        micro = args.micro_batch
        attempts = []
        while True:
            cfg = DistillConfig(data=[tmp], out=tmp, batch=args.batch, micro_batch=micro, hr_size=hr, device=device,
                                precision=args.precision, warmup=5000)
            try:
                report.update(measure(cfg, config, images, args.warmup, args.steps))
                break
            except torch.OutOfMemoryError as exc:
                attempts.append({"micro_batch": micro, "error": str(exc).splitlines()[0]})
                torch.cuda.empty_cache()
                if micro == 1:
                    raise
                micro //= 2
        report["out_of_memory_attempts"] = attempts
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in ("losses", "step_times_s")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
