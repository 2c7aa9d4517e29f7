"""How far the app's first time estimate (engine.speed) is from what the end-to-end benchmark measured.

    .venv/bin/python scripts/estimate_accuracy.py [E2E.json ...] [--json OUT]

For each end-to-end run (default: docs/cpu/e2e*.json, written by ``python -m sinsr_gui.bench --e2e``) and each
model with a reference figure, it compares the first estimate before anything has run (the descriptor's
``cpu_seconds_per_mp``) with the run's median seconds per input megapixel, file to file without the read and the
encode (what the app records after a run). Then it shows the estimate after the first run of another model of
the same kind, as the app rescales it. Nothing is timed here: it reads the benchmark files.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The benchmark's model names -> (engine kind, a kind-mate measured first, whose run rescales the estimate).
MODELS = {"photo": ("photo", "faithful"), "faithful": ("faithful", "photo"), "sinsr": ("sinsr", None),
          "realesrgan-x4plus": ("community:realesrgan-x4plus", "photo")}
X4PLUS_PARAMETERS = 16_697_987


def measured_rate(model: dict) -> float:
    """Median over the photos of (seconds - read - encode) per input megapixel (the output is 16x the input)."""
    return statistics.median((f["seconds"] - f["read_s"] - f["encode_s"]) / (f["output_mp"] / 16)
                             for f in model["files"])


def main(argv: list[str] | None = None) -> int:
    from sinsr_gui.engine.models import DESCRIPTORS
    from sinsr_gui.engine.models.community import CPU_SECONDS_PER_MP_PER_PARAMETER
    from sinsr_gui.engine.speed import expected_speed

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, default=sorted((ROOT / "docs" / "cpu").glob("e2e*.json")))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    rows = []
    for path in args.runs:
        run = json.loads(path.read_text())
        by_name = {m["model"]: m for m in run["models"] if m.get("files")}
        rates = {MODELS[n][0]: measured_rate(m) for n, m in by_name.items() if n in MODELS}
        for name, (kind, mate) in MODELS.items():
            if kind not in rates:
                continue
            if kind in DESCRIPTORS:
                descriptor = DESCRIPTORS[kind]
            else:  # the imported x4plus: its reference figure comes from its parameter count
                import dataclasses

                descriptor = dataclasses.replace(DESCRIPTORS["photo"], kind=kind,
                                                 cpu_seconds_per_mp=CPU_SECONDS_PER_MP_PER_PARAMETER * X4PLUS_PARAMETERS)
            first = expected_speed(descriptor, "cpu", {})
            after = expected_speed(descriptor, "cpu", {mate: rates[mate]}) if mate in rates else None
            rows.append({"run": path.name, "cpu": run["cpu"], "date": run["date"], "model": name,
                         "measured_s_per_mp": rates[kind], "first_estimate_s_per_mp": first.seconds_per_mp,
                         "first_over_measured": first.seconds_per_mp / rates[kind],
                         "after": mate, "after_over_measured": after.seconds_per_mp / rates[kind] if after else None})

    print(f"{'run':24s} {'model':18s} {'measured s/MP':>13s} {'first est.':>10s} {'ratio':>6s} "
          f"{'after a run of':>15s} {'ratio':>6s}")
    for r in rows:
        after = f"{r['after']:>15s} {r['after_over_measured']:6.2f}" if r["after_over_measured"] else f"{'-':>15s} {'-':>6s}"
        print(f"{r['run']:24s} {r['model']:18s} {r['measured_s_per_mp']:13.2f} {r['first_estimate_s_per_mp']:10.2f} "
              f"{r['first_over_measured']:6.2f} {after}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
