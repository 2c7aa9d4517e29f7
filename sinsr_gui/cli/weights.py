"""``sinsr-upscale weights ...``: list, download, import, verify and remove model weights from a terminal.

Community models (any super-resolution model spandrel recognises) are imported with the same ``import`` command
(the licence is unknown, so it asks, or needs ``--accept-license``), listed by ``list``, checked by ``verify``,
removed by ``remove NAME``, and run with ``sinsr-upscale --model community:NAME``.

:func:`main` takes the arguments after ``weights`` and returns an exit code: 0 on success, 1 on an error (one
clear message on stderr), 2 for bad usage, 130 when interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sinsr_gui.cli.messages import describe_error, phrase
from sinsr_gui.errors import Cancelled, UserError
from sinsr_gui.weights import community
from sinsr_gui.weights.consent import ConsentBook
from sinsr_gui.weights.download import DEFAULT_TIMEOUT_S, download
from sinsr_gui.weights.importer import ImportResult, identify, import_weights
from sinsr_gui.weights.registry import APP_REGISTRY, Registry, UnknownWeightsError
from sinsr_gui.weights.store import COMMUNITY_PREFIX, WeightsError, WeightStatus, WeightStore, format_size

log = logging.getLogger(__name__)

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sinsr-upscale weights",
        description="Manage model weights (stored offline): SinSR's, and community super-resolution models.",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="weights folder (default: the app's data folder)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="show every known weights file and its state")

    p = sub.add_parser("download", help="download, verify and install weights")
    p.add_argument("name")
    p.add_argument("--accept-license", action="store_true", help="accept the weights' licence without asking")
    p.add_argument("--timeout", type=float, default=None, help="seconds without data before giving up a URL")
    p.add_argument("--force", action="store_true", help="download again even if installed")

    p = sub.add_parser(
        "import", help="verify a file you already have (SinSR's, any super-resolution model spandrel knows, or an "
        "ncnn MODEL.param with its MODEL.bin beside it) and copy it into the weights folder")
    p.add_argument("path", type=Path)
    p.add_argument("--as", dest="name", default=None,
                   help="which weights it is, or the name to store a community model under (default: recognise it)")
    p.add_argument("--in-place", action="store_true", help="use the file where it is instead of copying it "
                   "(SinSR's files only)")
    p.add_argument(
        "--keep-format", action="store_true", help="copy as is instead of converting to safetensors (SinSR's files only)"
    )
    p.add_argument("--accept-license", "--yes", dest="accept_license", action="store_true",
                   help="confirm without asking that you may use a community model whose licence is unknown")
    p.add_argument("--replace", action="store_true", help="let it replace another community model of that name")

    p = sub.add_parser("verify", help="re-hash installed weights and report damage")
    p.add_argument("name", nargs="?")

    p = sub.add_parser("remove", help="delete installed weights or a community model (a file used in place is "
                       "only forgotten)")
    p.add_argument("name")

    p = sub.add_parser("path", help="print the weights folder, or the file of NAME")
    p.add_argument("name", nargs="?")
    return parser


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _cmd_list(store: WeightStore) -> int:
    rows: list[tuple[str, ...]] = [("NAME", "ROLE", "STATE", "SIZE", "LICENCE")]
    for st in store.status():
        size = st.size if st.size is not None else st.spec.size
        rows.append((st.spec.name, st.spec.role, st.state, format_size(size), st.spec.license_name))
    _print_table(rows)
    models = community.statuses(store)
    if models:
        print(f"\nCommunity models (run one with `sinsr-upscale --model {COMMUNITY_PREFIX}NAME`):")
        table: list[tuple[str, ...]] = [("NAME", "ARCHITECTURE", "SCALE", "PARAMS", "PRECISIONS", "STATE", "SIZE",
                                         "LICENCE")]
        for info, st in models:
            f = info.facts
            precisions = "fp32" + (" bf16" if f.supports_bfloat16 else "") + (" fp16" if f.supports_half else "")
            table.append((info.name, f.architecture, f"x{f.scale}", f"{f.parameters / 1e6:.2f} M", precisions,
                          st.state, format_size(st.size), info.licence))
        _print_table(table)
    from sinsr_gui.engine.models.builtin import DESCRIPTORS

    print("\nBuilt into the app, nothing to download (`sinsr-upscale --model NAME`): "
          + ", ".join(f"{d.kind} ({d.display_name.removesuffix(' (built-in)')})" for d in DESCRIPTORS)
          + "; detail is Real-ESRGAN x4plus.")
    print(f"\nWeights folder: {store.root}")
    return 0


def _ask_yes_no(text: str, question: str = "Accept this licence and download? [y/N] ") -> bool:
    print(text, file=sys.stderr)
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _confirm_community(candidate: community.CommunityCandidate) -> bool:
    return _ask_yes_no(candidate.confirmation_text(), "Do you have the right to use it, and store it? [y/N] ")


def _tqdm_progress(
    label: str,
) -> tuple[Callable[[int, int | None, float, float | None], None], Callable[[], None]]:
    """A progress callback drawing a tqdm bar (bytes, rate and ETA) on stderr, and a function closing it."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def on_progress(done: int, total: int | None, rate: float, eta: float | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                initial=done,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        if total != bar.total:
            bar.total = total
        if done >= bar.n:
            bar.update(done - bar.n)
        else:  # the server ignored the resume request: the download restarted from zero
            bar.reset(total=total)
            bar.update(done)

    def close() -> None:
        if bar is not None:
            bar.close()

    return on_progress, close


def _cmd_download(
    store: WeightStore,
    args: argparse.Namespace,
    consent: ConsentBook | None,
    interactive: bool,
    timeout: float,
) -> int:
    spec = store.registry.get(args.name)
    before = store.status_of(spec.name)
    if before.state == "installed" and not args.force:
        print(f"The {spec.display_name} is already installed at {before.path}.")
        return 0
    on_progress, close = _tqdm_progress(spec.filename)
    try:
        path = download(
            spec.name,
            store,
            accept_license=args.accept_license,
            prompt=_ask_yes_no if interactive else None,
            consent=consent,
            progress=on_progress,
            timeout=args.timeout if args.timeout is not None else timeout,
            force=args.force,
        )
    finally:
        close()
    info = store.record_info(spec.name) or {}
    print(f"Installed the {spec.display_name} at {path} (SHA-256 {info.get('sha256', '?')}).")
    if spec.role == "community":
        print(f"Run it with `sinsr-upscale --model {COMMUNITY_PREFIX}{spec.name}`.")
    return 0


def _cmd_import(store: WeightStore, args: argparse.Namespace, interactive: bool) -> int:
    if args.in_place:
        if args.name is None:
            found = identify(args.path, registry=store.registry)
            if found is None:
                raise WeightsError(
                    f"{args.path} does not match any known weights; pass --as NAME to check it."
                )
            args.name = found.name
        path = store.use_in_place(args.name, args.path)
        print(f"Using {path} in place as {args.name} (verified; it will not be copied).")
        return 0
    try:
        result = import_weights(args.path, store, name=args.name, convert_to_safetensors=not args.keep_format,
                                confirm=_confirm_community if interactive else None, accept=args.accept_license,
                                replace=args.replace)
    except community.ConfirmationRequired as exc:
        raise community.ConfirmationRequired(
            f"{exc} Run it again on a terminal to be asked, or add --accept-license to confirm.") from exc
    if isinstance(result, ImportResult):
        print(f"Imported {args.path} as {result.name}: {result.path}")
        print(result.note)
        return 0
    if args.keep_format:
        print("Note: community models are always converted to safetensors (--keep-format applies to SinSR's files).")
    print(f"Imported {args.path} as the community model {result.name} ({result.facts.summary}): {result.path}")
    print(f"Run it with `sinsr-upscale --model {result.choice}`.")
    return 0


def _community_name(store: WeightStore, name: str) -> str | None:
    """The community model ``name`` refers to, when it is not a registry entry (``community:`` optional)."""
    if name in store.registry and not name.lower().startswith(COMMUNITY_PREFIX):
        return None
    try:
        info = community.community_info(store, name)
    except WeightsError:
        return None
    return info.name if info is not None else None


def _unknown(store: WeightStore, name: str) -> UnknownWeightsError:
    installed = ", ".join(i.name for i in community.installed_models(store))
    extra = f" Community models: {installed}." if installed else ""
    return UnknownWeightsError(f"Unknown weights {name!r}. Known weights: {', '.join(store.registry)}.{extra}")


def _print_status(st: WeightStatus, label: str | None = None) -> None:
    detail = f"({st.path})" if st.state == "installed" else f"- {st.message} {phrase(st.remedy)}".rstrip()
    print(f"{label or st.spec.name}: {st.state} {detail}")


def _cmd_verify(store: WeightStore, args: argparse.Namespace) -> int:
    results: list[tuple[str, WeightStatus]] = []
    if args.name is None:
        results = [(st.spec.name, st) for st in store.verify()
                   if st.spec.role != "community" and (st.state != "missing" or store.is_recorded(st.spec.name))]
        results += [(COMMUNITY_PREFIX + info.name, st) for info, st in community.verify(store)]
        if not results:
            print("No weights are installed.")
            return 0
    elif (name := _community_name(store, args.name)) is not None:
        results = [(COMMUNITY_PREFIX + info.name, st) for info, st in community.verify(store, name)]
    elif args.name in store.registry:
        results = [(st.spec.name, st) for st in store.verify(args.name)]
    else:
        raise _unknown(store, args.name)
    for label, st in results:
        _print_status(st, label)
    bad = [st for _, st in results if st.state != "installed"]
    return 1 if bad else 0


def _cmd_remove(store: WeightStore, args: argparse.Namespace) -> int:
    name = _community_name(store, args.name)
    if name is not None:
        deleted = community.remove(store, name)
        print(f"Removed the community model {name}" + (": " + ", ".join(map(str, deleted)) if deleted else "."))
        return 0
    if args.name not in store.registry:
        raise _unknown(store, args.name)
    spec = store.registry.get(args.name)
    was_recorded = store.is_recorded(spec.name)
    deleted = store.remove(spec.name)
    if not deleted and not was_recorded:
        print(f"The {spec.display_name} was not installed; nothing to remove.")
    elif not deleted:
        print(f"Forgot the {spec.display_name} (the file you chose was left where it is).")
    else:
        print(f"Removed the {spec.display_name}: " + ", ".join(str(p) for p in deleted))
    return 0


def _cmd_path(store: WeightStore, args: argparse.Namespace) -> int:
    if args.name and (name := _community_name(store, args.name)) is not None:
        print(community.resolve(store, name).path)
        return 0
    print(store.resolve(args.name) if args.name else store.root)
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    store: WeightStore | None = None,
    consent: ConsentBook | None = None,
    interactive: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> int:
    """Run ``sinsr-upscale weights <argv>``; return the exit code.

    The keyword arguments exist for tests and embedding: a registry/store pointing elsewhere, a consent file,
    ``interactive`` overriding "stdin is a TTY" (which decides whether the licence prompt can be shown).
    """
    parser = _parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse exits on --help and on usage errors; callers want a return code
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if store is None:
        store = WeightStore(args.dir, registry=registry or APP_REGISTRY)
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    try:
        if args.command == "list":
            return _cmd_list(store)
        if args.command == "download":
            return _cmd_download(store, args, consent, interactive, timeout)
        if args.command == "import":
            return _cmd_import(store, args, interactive)
        if args.command == "verify":
            return _cmd_verify(store, args)
        if args.command == "remove":
            return _cmd_remove(store, args)
        if args.command == "path":
            return _cmd_path(store, args)
        raise AssertionError(f"unhandled command {args.command}")
    except Cancelled as exc:  # the user said no when asked
        print(str(exc), file=sys.stderr)
        return 1
    except (UserError, UnknownWeightsError) as exc:  # WeightsError, CheckpointError, SpandrelMissing...
        log.debug("weights %s failed", args.command, exc_info=True)
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.debug("weights %s failed", args.command, exc_info=True)
        print(f"error: {exc.strerror or exc} ({exc.filename or 'file system'}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\nInterrupted. A partial download is kept; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
