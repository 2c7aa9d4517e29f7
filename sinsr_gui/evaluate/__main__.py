"""``python -m sinsr_gui.evaluate``: the command line of the evaluation (see the package docstring)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from sinsr_gui.evaluate import report, running
from sinsr_gui.evaluate.protocols import ABLATION_PROTOCOLS, PROTOCOLS, list_images
from sinsr_gui.nn.compact import CompactSRNet

BUILTINS = {"photo": "photo_x4", "faithful": "compact_x4", "detail": "realesrgan_x4plus"}  # method -> built-in name
CLASSIC = ("bicubic", "lanczos")
REFERENCE = "detail"  # Photo's targets compare it with Most detail (Real-ESRGAN x4plus), the model it learnt from


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.evaluate",
                                description="Measure the built-in models against bicubic and Lanczos on Set5 and "
                                            "Set14 (x4), clean and real-world, through the engine's use case.")
    p.add_argument("--set5", type=Path, required=True)
    p.add_argument("--set14", type=Path, required=True)
    p.add_argument("--realset", type=Path, help="folder of real photos without ground truth (crop sheets)")
    p.add_argument("--realset-files", nargs="+", metavar="STEM",
                   help="which photos of --realset to show, by file name without extension (default: "
                        f"{' '.join(report.REALSET_CROPS)})")
    p.add_argument("--out", type=Path, default=Path("docs"), help="folder for the reports and crops")
    p.add_argument("--update-cards", action="store_true", help="write metrics and speed into the model cards")
    p.add_argument("--models", nargs="+", default=[], metavar="NAME=WEIGHTS",
                   help="candidate Photo models (CompactSRNet safetensors) measured next to the built-in ones, run "
                        "as the built-in Photo model runs")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="the rows, in order: bicubic, lanczos, photo, faithful, the --models names and detail "
                        "(default: all of them in that order)")
    p.add_argument("--reference", choices=[*BUILTINS, "none"], default=REFERENCE,
                   help="the row that the other models' teacher targets are measured against (default: "
                        f"{REFERENCE}, Most detail: Real-ESRGAN x4plus, Photo's teacher); none: no such table")
    p.add_argument("--protocols", nargs="+", choices=PROTOCOLS, metavar="PROTOCOL",
                   help=f"the degradations to run (default: all: {' '.join(PROTOCOLS)})")
    p.add_argument("--ablation", nargs="+", metavar="NAME=WEIGHTS",
                   help="compare these CompactSRNet safetensors files (and Faithful) instead")
    p.add_argument("--no-speed", action="store_true", help="skip the 1024x768 timing")
    return p


def _pairs(p: argparse.ArgumentParser, items: Sequence[str], flag: str) -> dict[str, Path]:
    pairs: dict[str, Path] = {}
    for item in items:
        name, sep, weights = item.partition("=")
        if not sep or not name or not weights:
            p.error(f"{flag} takes NAME=WEIGHTS_FILE pairs, e.g. {flag} \"Photo v3=run/photo_x4.safetensors\"; "
                    f"got {item!r}.")
        if name in pairs or name in (*CLASSIC, *BUILTINS):
            p.error(f"{flag}: the name {name!r} is taken; give each model its own name.")
        if not Path(weights).is_file():
            p.error(f"{flag}: {weights} is not a file; give the path of a .safetensors file.")
        pairs[name] = Path(weights)
    return pairs


def _realset_paths(p: argparse.ArgumentParser, folder: Path, stems: Sequence[str] | None) -> list[Path]:
    by_stem = {path.stem: path for path in list_images(folder)}
    if stems:
        missing = [s for s in stems if s not in by_stem]
        if missing:
            p.error(f"--realset-files: {', '.join(missing)} not found in {folder}; name files of that folder "
                    "without their extension.")
        return [by_stem[s] for s in stems]
    chosen = [by_stem[s] for s in report.REALSET_CROPS if s in by_stem]
    return chosen or list(by_stem.values())


def _ablation(args: argparse.Namespace, p: argparse.ArgumentParser, sets: dict[str, Path]) -> int:
    specs = _pairs(p, args.ablation, "--ablation")
    models = {"faithful": running.engine_model("faithful")} | {n: running.candidate_model(w) for n, w in specs.items()}
    results, _ = running.evaluate_sets(sets, running.classic_upscalers() | running.engine_upscalers(models),
                                       args.protocols or ABLATION_PROTOCOLS)
    print(report.format_tables(results, ["bicubic", *models]))
    report.write_ablation_report(results, list(specs), {n: report.train_spec(w) for n, w in specs.items()}, args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    sets = {"Set5": args.set5, "Set14": args.set14}
    for flag, folder in (("--set5", args.set5), ("--set14", args.set14)):
        if not folder.is_dir() or not list_images(folder):
            p.error(f"{flag} {folder} holds no PNG, BMP or JPEG images; give the folder of that dataset.")
    if args.ablation:
        return _ablation(args, p, sets)
    candidates = _pairs(p, args.models, "--models")
    reference = args.reference
    known = [*CLASSIC, *(m for m in BUILTINS if m != REFERENCE), *candidates, REFERENCE]
    methods = list(args.methods or known)
    unknown = [m for m in methods if m not in known]
    if unknown:
        p.error(f"--methods: unknown {', '.join(unknown)}; choose among {', '.join(known)}.")
    if "bicubic" not in methods:
        methods.insert(0, "bicubic")  # every table compares with it
    realset = _realset_paths(p, args.realset, args.realset_files) if args.realset else []

    models = {m: running.candidate_model(candidates[m]) if m in candidates else running.engine_model(m)
              for m in methods if m not in CLASSIC}
    upscalers = running.classic_upscalers() | running.engine_upscalers(models)
    upscalers = {m: upscalers[m] for m in methods}
    keep = {(s, pr, n) for s, pr, n, _, _ in report.CROPS}
    results, images = running.evaluate_sets(sets, upscalers, args.protocols or PROTOCOLS,
                                            keep=lambda *k: k in keep)
    print(report.format_tables(results, methods))
    model_methods = [m for m in methods if m not in CLASSIC]
    real = running.run_real_photos(realset, {m: upscalers[m] for m in model_methods})
    # The whole-image timing is for the small networks (Photo's target); x4plus whole at 1024x768 would take
    # minutes (its speed, file to file: scripts/detail_vs_photo.py).
    networks = {m: models[m].network for m in models if isinstance(getattr(models[m], "network", None), CompactSRNet)}
    speed = {} if args.no_speed else running.measure_speed(networks)
    has_target_protocol = report.TARGET["protocol"] in results.get(report.TARGET["set"], {})
    targets = report.check_targets(results, "photo", speed) if "photo" in models and has_target_protocol else {}
    if targets:
        print(report.format_targets(targets))
    teacher_md = "\n\n".join(
        report.format_teacher_targets(report.check_teacher_targets(results, m, reference), m, reference)
        for m in model_methods if reference in models and m != reference)
    if teacher_md:
        print(teacher_md)
    sheets = report.realset_sheets(real, model_methods, args.out / "quality") if real else []
    cards = {m: _card(BUILTINS[m]) for m in methods if m in BUILTINS}
    extra = {m: f"candidate `{w}`, run as the built-in Photo model" for m, w in candidates.items() if m in methods}
    report.write_quality_report(results, images, speed, cards, sheets, targets, args.out, methods=methods,
                                extra_models=extra, teacher_targets=teacher_md)
    if args.update_cards and speed:  # the cards of the models we trained; Most detail's comes from its converter
        report.update_cards(results, speed, targets, {m: BUILTINS[m] for m in cards if "training" in cards[m]})
    return 0


def _card(name: str) -> dict:
    from sinsr_gui.weights.builtin import load_builtin_card

    return load_builtin_card(name)


if __name__ == "__main__":
    raise SystemExit(main())
