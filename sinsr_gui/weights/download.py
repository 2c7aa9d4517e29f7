"""Downloading registry weights into a :class:`~sinsr_gui.weights.store.WeightStore` (stdlib urllib only).

The file streams into ``<store>/<filename>.part``. An interrupted download leaves the ``.part``; the next call
resumes it with an HTTP ``Range`` request (guarded by ``If-Range`` so a changed server file restarts cleanly).
Only after the whole file has passed :func:`~sinsr_gui.weights.store.verify_file` is it moved into place
with one rename (``atomic.install_file``) and its SHA-256 recorded, so a half-written or wrong file is never
"installed".
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..atomic import atomic_write_text, install_file
from ..errors import Cancelled, Remedy
from .consent import ConsentBook, Prompt, ensure_consent
from .registry import MIRROR_ENV, WeightSpec, candidate_urls
from .store import VerificationError, WeightsError, WeightStore, format_size, verify_file

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CHUNK_SIZE = 256 * 1024
_PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress calls a second: plenty for a bar, cheap for a GUI signal
USER_AGENT = "sinsr-gui (weights downloader; Python urllib)"

# (bytes_done, total or None, rate in bytes/s over this attempt, seconds left or None)
ProgressCallback = Callable[[int, int | None, float, float | None], None]


class DownloadError(WeightsError):
    """Every URL failed. The message lists each URL with its reason and says what to try next."""


class DownloadCancelled(Cancelled):
    """The caller set the cancel event. The ``.part`` file is kept so that the next download resumes it."""


class _AttemptFailed(Exception):
    """One URL did not deliver the file; the message is the reason shown in the final error."""


_active: set[str] = set()
_active_lock = threading.Lock()


def build_opener() -> urllib.request.OpenerDirector:
    """An opener that honours the proxy settings *at call time*: ``ProxyHandler()`` with no argument reads
    ``http_proxy``/``https_proxy``/``no_proxy`` (and the system settings on Windows and macOS) when built."""
    return urllib.request.build_opener(urllib.request.ProxyHandler())


def _read_meta(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); ``bytes */1000`` -> (None, 1000); total ``*`` -> None."""
    match = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Attempt:
    """One GET of one URL into the ``.part`` file, resuming what is already there."""

    def __init__(
        self,
        *,
        spec: WeightSpec,
        url: str,
        part: Path,
        meta: Path,
        opener: urllib.request.OpenerDirector,
        timeout: float,
        chunk_size: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.spec, self.url, self.part, self.meta = spec, url, part, meta
        self.opener, self.timeout, self.chunk_size = opener, timeout, chunk_size
        self.progress, self.cancel = progress, cancel

    def run(self, *, allow_restart: bool = True) -> None:
        have = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            validators = _read_meta(self.meta)
            validator = validators.get("etag") or validators.get("last_modified")
            if isinstance(validator, str) and validator:
                headers["If-Range"] = validator  # the server sends the whole file (200) if it has changed
        try:
            response = self.opener.open(
                urllib.request.Request(self.url, headers=headers), timeout=self.timeout
            )
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and have:
                # "Range not satisfiable": the .part is already whole, or it is stale; the size decides.
                _, total = _content_range(exc.headers.get("Content-Range"))
                if total == have:
                    return
                if allow_restart:
                    self._discard_part()
                    return self.run(allow_restart=False)
            raise _AttemptFailed(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _AttemptFailed(f"timed out: no answer within {self.timeout:g} s") from exc
            raise _AttemptFailed(f"cannot connect ({exc.reason})") from exc
        except TimeoutError as exc:
            raise _AttemptFailed(f"timed out: no answer within {self.timeout:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _AttemptFailed(f"connection failed ({exc})") from exc

        with response:
            status = response.status
            length = _int_header(response.headers.get("Content-Length"))
            if have and status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != have:
                    raise _AttemptFailed(f"the server sent bytes from {start} instead of {have}")
                if total is None and length is not None:
                    total = have + length
                mode, done = "ab", have
            elif status == 200:
                # Range ignored (or If-Range said the file changed): restart from zero, truncating the .part.
                mode, done, total = "wb", 0, length
            else:
                raise _AttemptFailed(f"unexpected HTTP status {status}")
            if self.spec.size is not None and total is not None and total != self.spec.size:
                raise _AttemptFailed(
                    f"the server offers {format_size(total)}, not the expected {format_size(self.spec.size)}"
                )
            # the validators a later resume sends as If-Range; written whole, so a crash cannot leave a torn
            # file that would make that resume go unguarded
            record = {
                "url": self.url,
                "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"),
                "total": total,
            }
            atomic_write_text(self.meta, json.dumps(record))
            self._stream(response, mode, done, total)

    def _stream(self, response: http.client.HTTPResponse, mode: str, done: int, total: int | None) -> None:
        started, start_done = time.monotonic(), done
        last_report = 0.0
        with self.part.open(mode) as fh:
            while True:
                if self.cancel is not None and self.cancel.is_set():
                    raise DownloadCancelled(
                        f"The download of the {self.spec.display_name} was cancelled; {format_size(done)} "
                        "are kept and the next download resumes from there."
                    )
                try:
                    chunk = response.read(self.chunk_size)
                except TimeoutError as exc:
                    raise _AttemptFailed(
                        f"timed out: no data for {self.timeout:g} s after {format_size(done)}"
                    ) from exc
                except (OSError, http.client.HTTPException) as exc:
                    raise _AttemptFailed(f"the connection broke after {format_size(done)} ({exc})") from exc
                if not chunk:
                    break
                fh.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if self.progress is not None and (now - last_report >= _PROGRESS_INTERVAL_S or done == total):
                    last_report = now
                    self._report(done, total, start_done, started, now)
        if self.progress is not None:
            self._report(done, total, start_done, started, time.monotonic())
        if total is not None and done < total:
            # http.client returns b"" (no exception) when the server closes early; only the count tells.
            raise _AttemptFailed(
                f"the connection was closed after {format_size(done)} of {format_size(total)}"
            )

    def _report(self, done: int, total: int | None, start_done: int, started: float, now: float) -> None:
        assert self.progress is not None
        elapsed = max(now - started, 1e-6)
        rate = (done - start_done) / elapsed
        eta = (total - done) / rate if total is not None and rate > 0 else None
        self.progress(done, total, rate, eta)

    def _discard_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def download(
    name: str,
    store: WeightStore,
    *,
    accept_license: bool = False,
    prompt: Prompt | None = None,
    consent: ConsentBook | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    force: bool = False,
    opener: urllib.request.OpenerDirector | None = None,
) -> Path:
    """Download, verify and install the registry entry ``name``; return the installed path.

    Already installed (cheap check) and not ``force``: returns at once, without network. Otherwise the licence
    must be accepted first (``accept_license``, a yes from ``prompt``, or remembered): no consent, no request.
    URLs are tried in order (``$SINSR_GUI_MIRROR`` first); a 404, connection error, stall longer than
    ``timeout`` seconds or dropped connection moves on to the next. ``cancel`` is checked between chunks.

    A community download (``spec.role == "community"``, e.g. Real-ESRGAN) is then installed as the community model
    of the same name (:func:`sinsr_gui.weights.community.install_download`); it needs spandrel, checked first.

    Raises :class:`~sinsr_gui.weights.consent.ConsentRequired`, :class:`DownloadCancelled` (``.part`` kept),
    :class:`DownloadError` (``.part`` kept for resuming) or
    :class:`~sinsr_gui.weights.store.VerificationError` (the ``.part`` is deleted; nothing else is touched).
    """
    spec = store.registry.get(name)
    if not force and store.status_of(name).state == "installed":
        return store.resolve(name, full_hash=False)
    if spec.role == "community":  # installed through spandrel: without it, do not download at all
        from sinsr_gui.weights.spandrel_support import import_spandrel

        import_spandrel()
    ensure_consent(spec, accept_license, prompt, book=consent)

    part, meta = store.part_path(name), store.part_meta_path(name)
    with _active_lock:
        if str(part) in _active:
            raise DownloadError(f"The {spec.display_name} is already being downloaded.")
        _active.add(str(part))
    try:
        store.root.mkdir(parents=True, exist_ok=True)
        opener = opener if opener is not None else build_opener()
        reasons: list[str] = []
        source: str | None = None
        for url in candidate_urls(spec):
            attempt = _Attempt(
                spec=spec,
                url=url,
                part=part,
                meta=meta,
                opener=opener,
                timeout=timeout,
                chunk_size=chunk_size,
                progress=progress,
                cancel=cancel,
            )
            try:
                attempt.run()
            except _AttemptFailed as exc:
                reasons.append(f"{url} ({exc})")
                continue
            source = url
            break
        if source is None:
            raise DownloadError(_failure_message(spec, reasons, part), Remedy("retry_download", spec.name))

        try:
            digest = verify_file(
                part, spec, store.registry, label=f"The file downloaded from {source}", suggest_import=False
            )
        except VerificationError as exc:
            # Only our own .part goes; an installed file or anything else in the folder stays as it was.
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise VerificationError(
                f"{exc} It was discarded and nothing was installed. Try again later, or set {MIRROR_ENV} "
                f"to a mirror that has the right {spec.filename}."
            ) from exc
        if spec.role == "community":
            # Installed as the community model of the same name (converted; the .part goes): weights.community.
            from .community import install_download

            try:
                final = install_download(part, spec, store, source=source, source_sha256=digest)
            except VerificationError as exc:
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                raise VerificationError(f"{exc} It was discarded and nothing was installed.") from exc
            meta.unlink(missing_ok=True)
            return final
        final = install_file(part, store.download_path(name))
        meta.unlink(missing_ok=True)
        store.record(name, final, digest, source=source)
        return final
    finally:
        with _active_lock:
            _active.discard(str(part))


def _failure_message(spec: WeightSpec, reasons: list[str], part: Path) -> str:
    kept = ""
    if part.is_file() and part.stat().st_size:
        size = format_size(part.stat().st_size)
        kept = f" The partial download ({size}) is kept; the next attempt resumes it."
    return (
        f"Could not download the {spec.display_name}. Tried: "
        + "; ".join(reasons)
        + "."
        + kept
        + " Check your connection or proxy settings (https_proxy)."
    )
