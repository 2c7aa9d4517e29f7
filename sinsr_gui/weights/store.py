"""The weights folder: which checkpoints are installed, where, and whether they are still intact.

Layout of ``root`` (by default ``paths.data_dir()/"weights"``)::

    installed.json            the index: per name, file, SHA-256, size and mtime of each verified install
    SinSR_v1.pth              a downloaded file, under its official name
    SinSR_v1.pth.part         an interrupted download (resumed by the next download)
    vq_f4.safetensors         an imported file, converted to safetensors
    community/NAME.safetensors a community model (sinsr_gui.weights.community), indexed as "community:NAME"

A file chosen with :meth:`WeightStore.use_in_place` stays where the user keeps it; only its path and hash are
recorded. Nothing is trusted without a recorded hash: a file gets one only after :func:`verify_file` has
loaded it safely and compared every key and shape with the manifest.

How much checking happens when:

* :meth:`WeightStore.resolve` always does the cheap check (the file exists and has the recorded size).
  The full SHA-256 is computed the first time a file is resolved in this process and whenever its mtime
  has changed: about 1 s for 500 MB, paid once per session.
* :meth:`WeightStore.status` does the cheap check, plus the full hash for files whose mtime has changed.
* :meth:`WeightStore.verify` always hashes every file in full (this is what catches silent bit rot).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import paths
from ..atomic import atomic_write_text
from ..errors import Remedy, UserError
from .checkpoint import CheckpointError, mismatch_details, read_state_dict, shapes_of, state_dict_mismatch
from .registry import COMMUNITY_PREFIX, DEFAULT_REGISTRY, Registry, Shapes, WeightSpec

INDEX_NAME = "installed.json"
COMMUNITY_FOLDER = "community"  # community models' files, inside the store
PART_SUFFIX = ".part"
PART_META_SUFFIX = ".part.json"  # validators (ETag, Last-Modified) of the server copy a .part came from
_INDEX_VERSION = 1
_HASH_CHUNK = 1 << 20

State = Literal["installed", "missing", "corrupt", "partial"]
_HashWhen = Literal["always", "changed", "unverified"]


class WeightsError(UserError):
    """Base of every error a user can meet while getting or using weights: one clear sentence, and a
    remedy that each front-end phrases (a command in the terminal, a menu in the app)."""


class WeightsMissingError(WeightsError):
    """The weights are not installed (or the installed file is gone)."""


class WeightsCorruptError(WeightsError):
    """The installed file no longer matches what was verified."""


class VerificationError(WeightsError):
    """A file is not the checkpoint it was supposed to be (wrong size, hash, layout, or not loadable)."""


@dataclass(frozen=True)
class WeightStatus:
    """What the store knows about one registry entry.

    ``state``: ``installed`` (verified, passes the check that was run), ``missing``, ``corrupt`` (the file
    exists but its size or SHA-256 no longer matches the record) or ``partial`` (an interrupted download).
    ``path``/``size`` describe the installed file, or the ``.part`` file when partial.
    """

    spec: WeightSpec
    state: State
    path: Path | None
    size: int | None
    message: str
    remedy: Remedy | None = None


def get_remedy(spec: WeightSpec) -> Remedy:
    """What installs ``spec``: download it, or import a copy."""
    return Remedy("get_weights", spec.name)


def format_size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "?"
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def sha256_file(path: Path, cancel: threading.Event | None = None) -> str:
    """Hex SHA-256 of ``path``, read in 1 MiB chunks (a 500 MB checkpoint never sits in memory twice)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            if cancel is not None and cancel.is_set():
                raise WeightsError("Hashing was cancelled.")
            digest.update(chunk)
    return digest.hexdigest()


def check_shapes(
    shapes: Shapes, spec: WeightSpec, registry: Registry, *, label: str, suggest_import: bool = True
) -> None:
    """Raise :class:`VerificationError` unless ``shapes`` are exactly ``spec``'s keys and shapes.

    When they are another registry entry's, the message names that entry: picking the wrong one of two
    similar .pth files is the likeliest mistake (``suggest_import`` adds how to import it as that entry).
    """
    expected = spec.shapes()
    actual = {k: tuple(v) for k, v in shapes.items()}
    if actual == expected:
        return
    others = registry.matching(actual)  # never contains spec itself: its layout was just ruled out
    if others:
        other = others[0]
        hint = f" If that is what it is, import it as the {other.display_name}." if suggest_import else ""
        raise VerificationError(f"{label} looks like the {other.display_name}, not the {spec.display_name}." + hint,
                                Remedy("choose_other_file"))
    details = mismatch_details(*state_dict_mismatch(expected, actual))
    raise VerificationError(f"{label} is not the {spec.display_name}: " + "; ".join(details) + ".",
                            Remedy("choose_other_file"))


def verify_file(
    path: Path,
    spec: WeightSpec,
    registry: Registry,
    *,
    label: str | None = None,
    check_published: bool = True,
    suggest_import: bool = True,
) -> str:
    """Check that ``path`` really is ``spec``; return its SHA-256.

    In order: the published size and SHA-256 when the registry knows them (``check_published``; off for
    imports, whose bytes may legitimately differ, e.g. a re-saved or converted copy), then a safe load
    (safetensors or ``torch.load(weights_only=True)``, so a malicious pickle is refused without running),
    then every key and shape against the manifest. ``label`` names the file in messages (default: its name).
    """
    path = Path(path)
    name = label or path.name
    size = path.stat().st_size
    if check_published and spec.size is not None and size != spec.size:
        raise VerificationError(
            f"{name} is {format_size(size)} but the {spec.display_name} is {format_size(spec.size)}: "
            "the file is incomplete or a different file."
        )
    digest = sha256_file(path)
    if check_published and spec.sha256 is not None and digest != spec.sha256.lower():
        raise VerificationError(
            f"{name} is not the official {spec.display_name}: its SHA-256 ({digest[:12]}…) differs from the "
            f"published one ({spec.sha256[:12]}…). The file is damaged or a different version."
        )
    try:
        # Keep only the shapes: the memory-mapped tensors must be released before the caller renames the file.
        shapes = shapes_of(read_state_dict(path))
    except CheckpointError as exc:
        raise VerificationError(f"{name} cannot be used as the {spec.display_name}. {exc}") from exc
    check_shapes(shapes, spec, registry, label=name, suggest_import=suggest_import)
    return digest


# Files whose full hash matched in this process, keyed by (path, size, mtime_ns, sha256): a later resolve of
# an unchanged file needs only the cheap check. Module-level on purpose so that every WeightStore shares it.
_session_verified: set[tuple[str, int, int, str]] = set()
_session_lock = threading.Lock()


def reset_session_checks() -> None:
    """Forget which files were hashed in this process, so the next resolve hashes again (tests)."""
    with _session_lock:
        _session_verified.clear()


class WeightStore:
    """The weights folder and its index. Safe to share between threads of one process (index writes are
    serialised); two processes writing the same store at once are not coordinated."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, registry: Registry = DEFAULT_REGISTRY
    ) -> None:
        # The app passes its "weights folder" setting; the platform data folder is only the default.
        self.root = Path(root) if root is not None else paths.data_dir() / "weights"
        self.registry = registry
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------------- file names
    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def download_path(self, name: str) -> Path:
        """Where a download of ``name`` ends up: the official file name inside the store."""
        return self.root / self.registry.get(name).filename

    def part_path(self, name: str) -> Path:
        return self.root / (self.registry.get(name).filename + PART_SUFFIX)

    def part_meta_path(self, name: str) -> Path:
        return self.root / (self.registry.get(name).filename + PART_META_SUFFIX)

    def import_path(self, name: str) -> Path:
        """Where an imported (converted) copy of ``name`` goes (a community download: its community file)."""
        if self.registry.get(name).role == "community":
            return self.community_path(name)
        return self.root / f"{name}.safetensors"

    def community_path(self, name: str) -> Path:
        """The file of the community model ``name`` (registry downloads and imported files alike)."""
        return self.root / COMMUNITY_FOLDER / f"{name}.safetensors"

    def _index_key(self, name: str) -> str:
        """The index key of registry entry ``name``: a community download is recorded as its community model."""
        return COMMUNITY_PREFIX + name if self.registry.get(name).role == "community" else name

    # -------------------------------------------------------------------------------------------- the index
    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged index must not stop the app: files show as unverified and `verify` re-adopts them.
            return {}
        entries = data.get("entries", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}

    def _write_index(self, entries: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": _INDEX_VERSION, "entries": entries}, indent=2)
        atomic_write_text(self.index_path, text)  # readers never see a half-written index

    def _update_index(self, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        with self._lock:
            entries = self._read_index()
            change(entries)
            self._write_index(entries)

    def _entry_path(self, entry: dict[str, Any]) -> Path:
        # Store-owned files are recorded relative to the root, so the whole folder can be moved.
        file = Path(entry["file"])
        return file if file.is_absolute() else self.root / file

    def record(self, name: str, path: Path, sha256: str, *, source: str, in_place: bool = False,
               extra: dict[str, Any] | None = None) -> None:
        """Remember a verified file. Called by download, import and :meth:`use_in_place` only after
        :func:`verify_file` passed. A previous store-owned file for ``name`` at another path is deleted.
        ``extra`` is stored with the entry (a community model's facts)."""
        spec = self.registry.get(name)
        self.record_entry(self._index_key(name), path, sha256, source=source, in_place=in_place,
                          filename=spec.filename, extra=extra)

    def record_community(self, name: str, path: Path, sha256: str, *, source: str, extra: dict[str, Any]) -> None:
        """Remember a verified community model (``community:NAME``); see :mod:`sinsr_gui.weights.community`."""
        self.record_entry(COMMUNITY_PREFIX + name, path, sha256, source=source, filename=Path(path).name,
                          extra=extra)

    def record_entry(self, key: str, path: Path, sha256: str, *, source: str, filename: str,
                     in_place: bool = False, extra: dict[str, Any] | None = None) -> None:
        path = Path(path)
        st = path.stat()
        file = str(path.resolve()) if in_place else path.relative_to(self.root).as_posix()
        entry = {
            "file": file,
            "sha256": sha256,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "in_place": in_place,
            "source": source,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "filename": filename,
            **(extra or {}),
        }
        replaced: list[Path] = []

        def change(entries: dict[str, dict[str, Any]]) -> None:
            old = entries.get(key)
            if old is not None and not old.get("in_place") and self._entry_path(old) != path:
                replaced.append(self._entry_path(old))
            entries[key] = entry

        self._update_index(change)
        for old_path in replaced:
            old_path.unlink(missing_ok=True)
        with _session_lock:
            _session_verified.add((str(path), st.st_size, st.st_mtime_ns, sha256))

    # ------------------------------------------------------------------------------------------- checking
    def _check(self, spec: WeightSpec, entry: dict[str, Any], *, hash_when: _HashWhen,
               key: str | None = None) -> WeightStatus:
        """Check an indexed file. ``hash_when``: ``always``; ``changed`` (only if its mtime moved since the
        record, so someone wrote to it); ``unverified`` (only if not yet hashed in this process). ``key``: its
        index key (default: the entry's name)."""
        key = key or self._index_key(spec.name)
        path = self._entry_path(entry)
        where = "the file you chose" if entry.get("in_place") else "the installed file"
        if not path.is_file():
            return WeightStatus(
                spec,
                "missing",
                path,
                None,
                f"{spec.display_name} was installed, but {where} {path} is gone.",
                get_remedy(spec),
            )
        st = path.stat()
        if st.st_size != entry.get("size"):
            return WeightStatus(
                spec,
                "corrupt",
                path,
                st.st_size,
                f"{spec.display_name}: {where} {path} changed size since it was verified "
                f"({format_size(entry.get('size'))} -> {format_size(st.st_size)}).",
                get_remedy(spec),
            )
        key = (str(path), st.st_size, st.st_mtime_ns, entry.get("sha256", ""))
        with _session_lock:
            known_good = key in _session_verified
        changed = st.st_mtime_ns != entry.get("mtime_ns")
        if (
            hash_when == "always"
            or (hash_when == "changed" and changed and not known_good)
            or (hash_when == "unverified" and not known_good)
        ):
            if sha256_file(path) != entry.get("sha256"):
                return WeightStatus(
                    spec,
                    "corrupt",
                    path,
                    st.st_size,
                    f"{spec.display_name}: {where} {path} is damaged (its SHA-256 no longer matches the one "
                    "recorded when it was verified).",
                    get_remedy(spec),
                )
            with _session_lock:
                _session_verified.add(key)
            if changed:

                def touch(entries: dict[str, dict[str, Any]]) -> None:
                    if key in entries:
                        entries[key]["mtime_ns"] = st.st_mtime_ns

                self._update_index(touch)
        return WeightStatus(
            spec, "installed", path, st.st_size, f"{spec.display_name} is installed at {path}."
        )

    def _unindexed_candidates(self, name: str) -> list[Path]:
        """Files in the store under one of our names that the index does not know (e.g. copied in by hand).
        None for a community download: its facts come from spandrel at install time, so it is installed again."""
        if self.registry.get(name).role == "community":
            return []
        return [p for p in (self.download_path(name), self.import_path(name)) if p.is_file()]

    def _status_without_entry(self, spec: WeightSpec) -> WeightStatus:
        part = self.part_path(spec.name)
        if part.is_file():
            size = part.stat().st_size
            return WeightStatus(
                spec,
                "partial",
                part,
                size,
                f"The download of the {spec.display_name} stopped at {format_size(size)}; downloading it "
                "again resumes it.",
                get_remedy(spec),
            )
        found = self._unindexed_candidates(spec.name)
        if found:
            return WeightStatus(
                spec,
                "missing",
                found[0],
                found[0].stat().st_size,
                f"{found[0]} has not been verified yet.",
                Remedy("verify_weights", spec.name),
            )
        return WeightStatus(spec, "missing", None, None, f"The {spec.display_name} is not installed.", get_remedy(spec))

    def status_of(self, name: str) -> WeightStatus:
        """The state of one entry (cheap check; full hash only for files whose mtime changed)."""
        spec = self.registry.get(name)
        entry = self._read_index().get(self._index_key(name))
        return self._check(spec, entry, hash_when="changed") if entry else self._status_without_entry(spec)

    def status(self) -> list[WeightStatus]:
        """The state of every registry entry, in registry order (cheap check; see the module docstring)."""
        return [self.status_of(name) for name in self.registry]

    def verify(self, name: str | None = None) -> list[WeightStatus]:
        """Hash every installed file (or just ``name``) in full against its record.

        A file found in the store under an expected name but not in the index (copied in by hand, or an index
        that was lost) is verified from scratch and recorded when it passes.
        """
        names = [name] if name is not None else list(self.registry)
        results = []
        for n in names:
            spec = self.registry.get(n)
            entry = self._read_index().get(self._index_key(n))
            if entry:
                results.append(self._check(spec, entry, hash_when="always"))
                continue
            adopted = None
            for candidate in self._unindexed_candidates(n):
                # The published size/hash describe the official .pth, not a converted .safetensors copy.
                official = candidate == self.download_path(n)
                try:
                    digest = verify_file(candidate, spec, self.registry, check_published=official)
                except VerificationError as exc:
                    adopted = WeightStatus(spec, "corrupt", candidate, candidate.stat().st_size, str(exc))
                    continue
                self.record(n, candidate, digest, source=str(candidate))
                adopted = WeightStatus(
                    spec,
                    "installed",
                    candidate,
                    candidate.stat().st_size,
                    f"{spec.display_name} is installed at {candidate}.",
                )
                break
            results.append(adopted or self._status_without_entry(spec))
        return results

    def resolve(self, name: str, *, full_hash: bool | None = None) -> Path:
        """The path of the verified file for ``name``, ready to load.

        Always checks that the file exists with the recorded size. ``full_hash=None`` (default) also hashes it
        the first time it is resolved in this process (and after its mtime changes); ``True`` always hashes;
        ``False`` never does (for quick "is it there?" questions such as enabling a button).
        Raises :class:`WeightsMissingError` (with the command that installs it) or
        :class:`WeightsCorruptError`.
        """
        spec = self.registry.get(name)
        entry = self._read_index().get(self._index_key(name))
        if not entry:
            raise WeightsMissingError(f"The {spec.display_name} ({name}) is not installed.", get_remedy(spec))
        if full_hash is False:
            # Size only: answer "is it there?" without reading 500 MB.
            path = self._entry_path(entry)
            if path.is_file() and path.stat().st_size == entry.get("size"):
                return path
            result = self._check(spec, entry, hash_when="changed")
        else:
            result = self._check(spec, entry, hash_when="always" if full_hash else "unverified")
        if result.state == "missing":
            raise WeightsMissingError(result.message, result.remedy or get_remedy(spec))
        if result.state != "installed":
            raise WeightsCorruptError(result.message, result.remedy or get_remedy(spec))
        assert result.path is not None
        return result.path

    # ----------------------------------------------------------------------------------------- changes
    def use_in_place(self, name: str, path: str | os.PathLike[str]) -> Path:
        """Use the user's own file for ``name`` where it is, without copying it (after full verification).

        The file is never modified or moved; if it changes later, it shows as corrupt.
        """
        spec = self.registry.get(name)
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise WeightsMissingError(f"{path} does not exist or is not a file.")
        # Like an import: the user's copy may be converted or re-saved, so only its contents are checked.
        digest = verify_file(path, spec, self.registry, check_published=False)
        self.record(name, path, digest, source=str(path), in_place=True)
        return path

    def remove(self, name: str) -> list[Path]:
        """Forget ``name`` and delete the files the store owns for it (the installed copy and any ``.part``).

        A file used in place belongs to the user: it is forgotten, never deleted. Returns the deleted paths.
        """
        deleted = self.remove_entry(self._index_key(name))
        for ours in (self.part_path(name), self.part_meta_path(name)):
            if ours.is_file():
                ours.unlink()
                deleted.append(ours)
        return deleted

    def remove_entry(self, key: str) -> list[Path]:
        """Forget the index entry ``key`` and delete its file unless it is used in place; returns what was deleted."""
        deleted: list[Path] = []
        with self._lock:
            entry = self._read_index().get(key)
            if entry is not None:
                if not entry.get("in_place"):
                    path = self._entry_path(entry)
                    if path.is_file():
                        path.unlink()
                        deleted.append(path)

                def forget(entries: dict[str, dict[str, Any]]) -> None:
                    entries.pop(key, None)

                self._update_index(forget)
        return deleted

    def is_recorded(self, name: str) -> bool:
        """Whether the index has an entry for ``name`` (whatever state its file is in)."""
        return self._index_key(name) in self._read_index()

    def record_info(self, name: str) -> dict[str, Any] | None:
        """A copy of the index entry for ``name`` (``sha256``, ``size``, ``file``, ``source``...) or None."""
        entry = self._read_index().get(self._index_key(name))
        return dict(entry) if entry else None

    # ----------------------------------------------------------------------------------- community models
    def community_entries(self) -> dict[str, dict[str, Any]]:
        """Every recorded community model: ``{name: copy of its index entry}``, in the order installed."""
        return {key[len(COMMUNITY_PREFIX):]: dict(entry) for key, entry in self._read_index().items()
                if key.startswith(COMMUNITY_PREFIX)}

    def check_community(self, spec: WeightSpec, entry: dict[str, Any], *, hash_when: _HashWhen) -> WeightStatus:
        """The state of a community model's file (``spec`` describes it in messages); see :meth:`_check`."""
        return self._check(spec, entry, hash_when=hash_when, key=COMMUNITY_PREFIX + spec.name)
