"""Train the built-in "Photo" x4 model: the compact network, fine-tuned for real photos (JPEG, blur, noise).

    python -m sinsr_gui.training.photo --data T91_DIR BSD200_DIR --out runs/photo_x4
    python -m sinsr_gui.training.photo --data ... --out runs/photo_x4 --resume      # continue, any session
    python -m sinsr_gui.training.photo --export-from runs/photo_x4 --out resources/models

It starts from the shipped "Faithful" model (``resources/models/compact_x4.safetensors``), so no time goes on
learning the basics, and learns the inverse of :class:`~sinsr_gui.training.degradations.DegradationMix`
(the official SinSR second-order scheme, web-photo JPEGs and some clean bicubic).

Losses (none needs a downloaded network; weights in :class:`LossWeights`):

* L1 against the unsharp-masked HR patch (Real-ESRGAN's trick: the target itself is a little crisper);
* L1 between the 2-D spectra, so missing fine detail costs as much as a wrong flat area;
* an adversarial loss from a small U-Net discriminator with spectral norm, trained from scratch, with a
  per-pixel real/fake map. The discriminator first trains alone for ``d_warmup`` steps, so the generator
  never learns from a random critic.

The shipped weights are an exponential moving average of the generator (smoother than any single step).
bf16 autocast on the CPU; all randomness is seeded and saved in the checkpoint, so ``--resume`` continues the
same run. Files in ``--out``: ``photo_x4.safetensors`` (the EMA generator), ``config.json``, ``log.jsonl``
(losses), and ``checkpoint.pt`` (generator, EMA, discriminator, both optimizers, RNG states). Keep ``--out``
out of git (``runs/`` is ignored); to move a run to another machine, commit only the generator weights (a
few MB, with their card) and continue there with ``--resume --init THAT_FILE --start-step auto`` (the
discriminator then starts again and warms up first).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from sinsr_gui.nn.compact import CompactConfig, CompactSRNet, count_parameters
from sinsr_gui.training import losses
from sinsr_gui.training.common import (
    atomic_save,
    available_threads,
    describe_device,
    list_images,
    load_images,
    random_patch,
    rng_states,
    save_weights,
    seed_everything,
    set_rng_states,
    to_tensor,
    update_ema,
)
from sinsr_gui.training.degradations import DegradationMix, usm_sharpen
from sinsr_gui.training.discriminator import UNetDiscriminatorSN
from sinsr_gui.training.export import export_photo
from sinsr_gui.training.photo_run import (  # the run's format, shared with the export
    CONFIG_NAME,
    WEIGHTS_NAME,
    LossWeights,
    PhotoTrainConfig,
)
from sinsr_gui.training.photo_run import (
    training_command as training_command,  # named here too (tests, scripts)
)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"


def make_batch(images, cfg: PhotoTrainConfig, mix: DegradationMix, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lr, hr)``: ``(B, 3, p, p)`` degraded inputs and ``(B, 3, 4p, 4p)`` clean patches, RGB in [0, 1]."""
    lrs, hrs = [], []
    for _ in range(cfg.batch):
        hr = to_tensor(random_patch(images, cfg.lr_patch * 4, gen))[None]  # (1, 3, 4p, 4p)
        lrs.append(mix.degrade(hr, gen))
        hrs.append(hr)
    return torch.cat(lrs), torch.cat(hrs)


def load_initial_generator(init: str) -> CompactSRNet:
    """The generator to start from: the shipped Faithful model, or a CompactSRNet safetensors file."""
    if init == "builtin":
        from sinsr_gui.weights.builtin import load_builtin_model

        return load_builtin_model()
    from safetensors import safe_open

    from sinsr_gui.weights.checkpoint import load_strict, read_state_dict

    with safe_open(init, framework="pt") as f:
        meta = f.metadata() or {}
    cfg = CompactConfig(**json.loads(meta["config"])) if "config" in meta else CompactConfig.default()
    model = CompactSRNet.from_config(cfg)
    load_strict(model, read_state_dict(Path(init)), source=Path(init).name)
    return model


def _init_step(init: str) -> int:
    """The step a committed generator was saved at (its card or config next to it), 0 if unknown."""
    if init == "builtin":
        return 0
    for sidecar in (Path(init).with_suffix(".json"), Path(init).parent / CONFIG_NAME):
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            step = meta.get("step", meta.get("training", {}).get("steps"))
            if isinstance(step, int):
                return step
    return 0


def generator_lr(step: int, g_start: int, cfg: PhotoTrainConfig) -> float:
    """0 before ``g_start`` (the discriminator warms up alone), then a linear warm-up to ``lr_g``, then flat.

    Flat rather than decaying: a run that goes on over several sessions has no fixed end, and the shipped
    EMA weights already average out the step-to-step noise.
    """
    if step < g_start:
        return 0.0
    return cfg.lr_g * min(1.0, (step - g_start + 1) / max(1, cfg.warmup))


def train(cfg: PhotoTrainConfig, *, resume: bool = False, quiet: bool = False, threads: int | None = None,
          start_step: str | int | None = None) -> Path:
    """Run (or continue) training; returns the output folder. See the module docstring for its files.

    ``resume``: continue from ``--out/checkpoint.pt`` when there is one. Without a checkpoint, ``start_step``
    says at which step the ``init`` generator is (``"auto"``: read from its card or config.json), so a run
    moved to another machine with only its generator continues where it was.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads or available_threads())
    gen = seed_everything(cfg.seed)
    mix = cfg.mix()
    use_gan = cfg.loss.adversarial > 0
    ckpt_path = out / CHECKPOINT_NAME
    step, elapsed_before = 0, 0.0

    model = load_initial_generator(cfg.init)
    disc = UNetDiscriminatorSN(num_feat=cfg.d_feat) if use_gan else None
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        saved = PhotoTrainConfig.from_dict(json.loads(ckpt["config"]))
        if saved.loss != cfg.loss or saved.d_feat != cfg.d_feat:
            raise ValueError(f"--resume: the checkpoint was trained with {saved.loss}, d_feat {saved.d_feat}; "
                             f"this command asks for {cfg.loss}, d_feat {cfg.d_feat}")
        model.load_state_dict(ckpt["model"])
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr_g, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(0.9, 0.99)) if disc else None
    if resume and ckpt_path.is_file():
        ema.load_state_dict(ckpt["ema"])
        opt_g.load_state_dict(ckpt["opt_g"])
        if disc is not None:
            disc.load_state_dict(ckpt["disc"])
            opt_d.load_state_dict(ckpt["opt_d"])
        step, elapsed_before = int(ckpt["step"]), float(ckpt["elapsed_s"])
        set_rng_states(ckpt["rng"], gen)
        g_start = int(ckpt["g_start"])
        _trim_log(out / LOG_NAME, step)
    else:
        if start_step:
            # A fresh machine with only the committed generator: continue from its step; the critic starts
            # over, and a new data stream is used rather than a replay of the first steps.
            step = _init_step(cfg.init) if start_step == "auto" else int(start_step)
            gen.manual_seed(cfg.seed + 1 + step)
        g_start = step + (cfg.d_warmup if use_gan else 0)

    images = load_images(list_images(cfg.data), min_side=cfg.lr_patch * 4)
    if not images:
        raise ValueError(f"no training image in {cfg.data} is at least {cfg.lr_patch * 4} px")
    if not quiet:
        tqdm.write(f"{len(images)} images, generator {model.config} ({count_parameters(model):,} parameters), "
                   f"losses {cfg.loss}, {torch.get_num_threads()} threads, start at step {step}/{cfg.steps}")

    t0 = time.perf_counter()

    def checkpoint() -> None:
        elapsed = elapsed_before + time.perf_counter() - t0
        state = {"model": model.state_dict(), "ema": ema.state_dict(), "opt_g": opt_g.state_dict(),
                 "step": step, "elapsed_s": elapsed, "rng": rng_states(gen), "config": json.dumps(cfg.to_dict()),
                 "g_start": g_start}
        if disc is not None:
            state |= {"disc": disc.state_dict(), "opt_d": opt_d.state_dict()}
        atomic_save(state, ckpt_path)
        save_weights(ema, out / WEIGHTS_NAME)
        meta = {"train": cfg.to_dict(), "step": step, "parameters": count_parameters(model),
                "images": len(images), "wall_time_s": round(elapsed, 1), "device": describe_device(),
                "torch": torch.__version__, "python": platform.python_version()}
        (out / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    bar = tqdm(total=cfg.steps, initial=step, disable=quiet, dynamic_ncols=True,
               mininterval=1.0 if sys.stderr.isatty() else 60.0)
    running: dict[str, float] = {}
    log = (out / LOG_NAME).open("a", encoding="utf-8")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16)
    model.train()
    while step < cfg.steps:
        lr_img, hr_img = make_batch(images, cfg, mix, gen)
        target = usm_sharpen(hr_img) if cfg.loss.usm_target else hr_img
        lr_now = generator_lr(step, g_start, cfg)
        for group in opt_g.param_groups:
            group["lr"] = lr_now
        terms: dict[str, torch.Tensor] = {}

        # Generator step (skipped while the discriminator warms up).
        with autocast:
            pred = model(lr_img)
        pred = pred.float()  # losses in fp32: bf16 cannot resolve one 8-bit level
        if lr_now > 0:
            loss_g = torch.zeros(())
            if cfg.loss.pixel > 0:
                terms["pixel"] = losses.pixel_l1(pred, target)
                loss_g = loss_g + cfg.loss.pixel * terms["pixel"]
            if cfg.loss.frequency > 0:
                terms["frequency"] = losses.frequency_l1(pred, target)
                loss_g = loss_g + cfg.loss.frequency * terms["frequency"]
            if cfg.loss.gradient > 0:
                terms["gradient"] = losses.gradient_l1(pred, target)
                loss_g = loss_g + cfg.loss.gradient * terms["gradient"]
            if cfg.loss.block_gradient > 0:
                terms["block_gradient"] = losses.grid_gradient_l1(pred, target, grid=4 * 8)
                loss_g = loss_g + cfg.loss.block_gradient * terms["block_gradient"]
            if cfg.loss.cell_pattern > 0:
                terms["cell_pattern"] = losses.cell_pattern_l1(pred, target, cell=4)
                loss_g = loss_g + cfg.loss.cell_pattern * terms["cell_pattern"]
            if use_gan:
                disc.requires_grad_(False)
                with autocast:
                    fake_logits = disc(pred.clamp(0, 1))
                terms["adversarial"] = losses.gan_generator_loss(fake_logits)
                loss_g = loss_g + cfg.loss.adversarial * terms["adversarial"]
                disc.requires_grad_(True)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            update_ema(ema, model, cfg.ema)

        # Discriminator step: real HR patches against the generator's (detached) output.
        if use_gan:
            with autocast:
                real_logits = disc(hr_img)
                fake_logits = disc(pred.detach().clamp(0, 1))
            terms["disc"] = losses.gan_discriminator_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            terms["disc"].backward()
            opt_d.step()

        step += 1
        for k, v in terms.items():
            running[k] = v.item() if k not in running else 0.95 * running[k] + 0.05 * v.item()
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()}, refresh=False)
        if step % cfg.log_every == 0:
            log.write(json.dumps({"step": step, "lr_g": lr_now, **{k: round(v, 6) for k, v in running.items()},
                                  "elapsed_s": round(elapsed_before + time.perf_counter() - t0, 1)}) + "\n")
            log.flush()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    bar.close()
    log.close()
    if not (out / WEIGHTS_NAME).is_file():
        checkpoint()
    return out


def _trim_log(path: Path, step: int) -> None:
    """Drop the log lines written after the checkpoint at ``step`` (a run stopped between two checkpoints
    logged steps it will now train again), so the log has each step once, in order."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
        path.write_text("".join(kept), encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    d = PhotoTrainConfig(data=[], out="")
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.training.photo", description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", help="folders of HR training images")
    p.add_argument("--out", required=True, help="run folder (keep it out of git), or the export folder")
    p.add_argument("--steps", type=int, default=d.steps, help="train until this step")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr-patch", type=int, default=d.lr_patch, help="LR patch side (a multiple of 2)")
    p.add_argument("--lr-g", type=float, default=d.lr_g)
    p.add_argument("--lr-d", type=float, default=d.lr_d)
    p.add_argument("--d-warmup", type=int, default=d.d_warmup)
    p.add_argument("--d-feat", type=int, default=d.d_feat, help="discriminator width")
    p.add_argument("--pixel", type=float, default=d.loss.pixel, help="weight of the pixel L1")
    p.add_argument("--no-usm", action="store_true", help="compare against the plain HR, not unsharp-masked")
    p.add_argument("--frequency", type=float, default=d.loss.frequency, help="weight of the spectrum L1")
    p.add_argument("--adversarial", type=float, default=d.loss.adversarial, help="weight of the GAN loss")
    p.add_argument("--gradient", type=float, default=d.loss.gradient, help="weight of the image-gradient L1")
    p.add_argument("--block-gradient", type=float, default=d.loss.block_gradient,
                   help="weight of the image-gradient L1 across the JPEG block grid")
    p.add_argument("--cell-pattern", type=float, default=d.loss.cell_pattern,
                   help="weight of the L1 on the error pattern repeated in every 4x4 output cell")
    p.add_argument("--real-world-prob", type=float, default=d.real_world_prob)
    p.add_argument("--web-photo-prob", type=float, default=d.web_photo_prob)
    p.add_argument("--init", default=d.init, help='"builtin" or a CompactSRNet .safetensors to start from')
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-bf16", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between two lines of log.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt if there is one")
    p.add_argument("--start-step", default=None, metavar="N|auto",
                   help="without a checkpoint: the step the --init generator is at (auto: from its card)")
    p.add_argument("--threads", type=int)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--export-from", metavar="RUN_DIR", help="do not train: export RUN_DIR's model to --out")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.export_from:
        print(export_photo(Path(args.export_from), Path(args.out)))
        return 0
    if not args.data:
        _parser().error("--data is required for training")
    if args.lr_patch % 2:
        _parser().error("--lr-patch must be even (the discriminator halves the HR patch three times)")
    cfg = PhotoTrainConfig(
        data=[str(d) for d in args.data], out=args.out, steps=args.steps, batch=args.batch,
        lr_patch=args.lr_patch, lr_g=args.lr_g, lr_d=args.lr_d, d_warmup=args.d_warmup, d_feat=args.d_feat,
        seed=args.seed, bf16=not args.no_bf16, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
        init=args.init,
        loss=LossWeights(pixel=args.pixel, usm_target=not args.no_usm, frequency=args.frequency,
                         adversarial=args.adversarial, gradient=args.gradient, block_gradient=args.block_gradient,
                         cell_pattern=args.cell_pattern),
        real_world_prob=args.real_world_prob, web_photo_prob=args.web_photo_prob,
    )
    train(cfg, resume=args.resume, quiet=args.quiet, threads=args.threads, start_step=args.start_step)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

