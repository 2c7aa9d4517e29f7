"""Speed of every model the app runs, on this machine, in one run: the numbers of the README's models table.

    python scripts/models_speed.py [--json docs/cpu/models_speed.json] [--runs 3]

Each model upscales the same seeded 128x128 LR tile through the tiler with its own default precision ("auto"),
warm, and the median of ``--runs`` runs is reported as seconds per tile and output megapixels per second (a
128x128 tile gives 512x512 = 0.26 output MP). SinSR and its ResShift teacher use the full-size v1 architecture
with seeded random weights (speed does not depend on the weight values; the official files cannot be
downloaded here); the two Real-ESRGAN models are spandrel's architectures with the official hyperparameters and
random weights; the built-in models are the shipped ones. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinsr_gui.engine.tiling import TilingOptions, iter_upscale, run_to_completion  # noqa: E402

TILE = 128


def builtin(kind: str):
    from sinsr_gui.engine.models import ModelRequest, load_model

    return load_model(ModelRequest(model=kind, device="cpu", dtype="auto"))[0]


def sinsr():
    from sinsr_gui.engine import SinSRConfig, SinSRPipeline

    return SinSRPipeline.from_config(SinSRConfig.sinsr_v1(), device="cpu", dtype="auto", seed=0)


def resshift(sampler: str):
    def make():
        from sinsr_gui.engine import ResShiftPipeline, SinSRConfig

        pipe = ResShiftPipeline.from_config(SinSRConfig.sinsr_v1(), device="cpu", dtype="auto", seed=0)
        pipe.sampler = sampler
        return pipe
    return make


def community(name: str):
    """Imported through the real path (safe read, spandrel, store) into a scratch weights folder."""
    def make():
        import tempfile

        from safetensors.torch import save_file

        from scripts.make_community_manifests import COMPACT, RRDB
        from sinsr_gui.engine.models import ModelRequest, load_model
        from sinsr_gui.weights.community import import_community
        from sinsr_gui.weights.spandrel_support import import_spandrel
        from sinsr_gui.weights.store import WeightStore

        import_spandrel()
        from spandrel.architectures.Compact import Compact
        from spandrel.architectures.ESRGAN import ESRGAN

        torch.manual_seed(0)
        net = ESRGAN(**RRDB) if name == "realesrgan_x4plus" else Compact(**COMPACT)
        folder = Path(tempfile.mkdtemp(prefix="models-speed-"))
        path = folder / f"{name}-random.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
        store = WeightStore(folder / "weights")
        info = import_community(path, store, name=name.replace("_", "-") + "-random", accept=True)
        return load_model(ModelRequest(model=info.choice, device="cpu", dtype="auto",
                                       weights_dir=folder / "weights"))[0]
    return make


MODELS = {
    "photo": lambda: builtin("photo"),
    "faithful": lambda: builtin("faithful"),
    "realesr_general_x4v3": community("realesr_general_x4v3"),
    "realesrgan_x4plus": community("realesrgan_x4plus"),
    "sinsr": sinsr,
    "resshift_deterministic": resshift("deterministic"),
    "resshift_stochastic": resshift("stochastic"),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "cpu" / "models_speed.json")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", nargs="+", default=None)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:TILE, 0:TILE] / TILE
    lr = np.clip(np.stack([0.5 + 0.3 * np.sin(9 * x), 0.5 + 0.3 * np.cos(7 * y), x * y], -1)
                 + rng.normal(0, 0.03, (TILE, TILE, 3)), 0, 1).astype(np.float32)
    rows = []
    for name, make in MODELS.items():
        if args.only and name not in args.only:
            continue
        model = make()
        opts = TilingOptions(tile=TILE, overlap=16)
        runs = 1 if name.startswith("resshift") else args.runs  # 15 steps: one warm run is minutes already
        run_to_completion(iter_upscale(model, lr[:64, :64], TilingOptions(tile=64, overlap=16)))  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run_to_completion(iter_upscale(model, lr, opts, generator=torch.Generator().manual_seed(0)))
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        mp = (4 * TILE) ** 2 / 1e6
        row = {"model": name, "display_name": model.descriptor.display_name, "precision": model.precision_label,
               "seconds_per_128_tile": round(median, 3), "output_mp_per_s": round(mp / median, 3),
               "runs": runs, "times": [round(t, 3) for t in times]}
        rows.append(row)
        print(f"{name:<24} {row['precision']:<50} {median:9.2f} s  {mp / median:8.3f} MP/s",
              flush=True)
        del model
    payload = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "tile": TILE, "statistic": f"median of {args.runs} (ResShift: 1)",
               "load_average_1min_end": round(os.getloadavg()[0], 2), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"{payload['cpu']}, {payload['threads']} threads, torch {payload['torch']}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
