"""Test helpers for the weights tests: a real HTTP server on 127.0.0.1 that can misbehave on purpose, and a
registry whose entries point at it and whose manifests come from the small case_a checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from sinsr_gui.weights.checkpoint import read_state_dict, shapes_of
from sinsr_gui.weights.registry import DEFAULT_REGISTRY, Registry

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "case_a"
UNET_FIXTURE = FIXTURES / "unet_ckpt.pth"
AUTOENCODER_FIXTURE = FIXTURES / "autoencoder_ckpt.pth"


@dataclass
class Route:
    """How the server answers one path."""

    data: bytes
    range_support: bool = True  # False: ignore Range and always answer 200 with the whole file
    drop_after: int | None = None  # send this many body bytes, then close the connection...
    drops_left: int = 1  # ...for this many requests; later requests are served normally
    stall: bool = False  # send the headers, then nothing (until the server stops)
    etag: str | None = None


@dataclass(frozen=True)
class SeenRequest:
    path: str  # the URL path (also for proxy requests, which carry an absolute URL)
    target: str  # the request target as sent: "/x" directly, "http://host/x" through a proxy
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def range(self) -> str | None:
        return self.headers.get("Range")


class FileServer:
    """``ThreadingHTTPServer`` on an ephemeral 127.0.0.1 port, in a daemon thread. Records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._release = threading.Event()  # lets stalled handlers finish when the server stops
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, data: bytes, **options: object) -> str:
        """Serve ``data`` at ``path`` (options: see :class:`Route`); returns the full URL."""
        self.routes[path] = Route(data=data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def paths_requested(self) -> list[str]:
        return [r.path for r in self.requests]

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(owner: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so "close after N bytes" is just returning early.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
            path = urlsplit(self.path).path
            owner.requests.append(SeenRequest(path, self.path, dict(self.headers.items())))
            route = owner.routes.get(path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(route)  # the client may give up mid-body (timeout test): nothing to do then

        def _answer(self, route: Route) -> None:
            data, start = route.data, 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match and route.range_support:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            self.wfile.flush()
            if route.stall:
                owner._release.wait(timeout=60)
                return
            if route.drop_after is not None and route.drops_left > 0:
                route.drops_left -= 1
                self.wfile.write(body[: route.drop_after])
                return
            self.wfile.write(body)

    return Handler


@cache
def fixture_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    return shapes_of(read_state_dict(path))


def make_registry(base_url: str) -> Registry:
    """The default registry with every entry served from ``base_url/<filename>`` and checked against the
    case_a fixtures' keys and shapes (denoiser entries: the small UNet; vq_f4: the small autoencoder)."""
    specs = []
    for spec in DEFAULT_REGISTRY.specs():
        fixture = UNET_FIXTURE if spec.role == "denoiser" else AUTOENCODER_FIXTURE
        specs.append(
            dataclasses.replace(
                spec, urls=(f"{base_url}/{spec.filename}",), expected_shapes=fixture_shapes(fixture)
            )
        )
    return Registry(specs)


def with_urls(registry: Registry, name: str, *urls: str, **changes: object) -> Registry:
    """``registry`` with entry ``name`` given other URLs (and any other field changes)."""
    return Registry(
        [
            dataclasses.replace(spec, urls=tuple(urls), **changes) if spec.name == name else spec  # type: ignore[arg-type]
            for spec in registry.specs()
        ]
    )


class _Evil:
    """Unpickling this calls ``Path(marker).touch()``: a stand-in for arbitrary code in a hostile .pth."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (Path(self.marker),))


def write_evil_checkpoint(path: Path, marker: Path) -> bytes:
    """Write a checkpoint in the official layout whose only "tensor" runs code when unpickled; return its
    bytes."""
    torch.save({"state_dict": {"module.weight": _Evil(marker)}}, path)
    return path.read_bytes()


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point every user folder at ``home``; make sure no mirror or proxy from the real environment applies."""
    monkeypatch.setenv("SINSR_GUI_HOME", str(home))
    for var in ("SINSR_GUI_MIRROR", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    # Belt and braces: the local server must never be reached through a proxy.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


# Shared pytest fixtures for the weights tests (import them into a test module to use them).


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated SINSR_GUI_HOME with no mirror/proxy variables and fresh per-session hash checks."""
    from sinsr_gui.weights.store import reset_session_checks

    isolate(monkeypatch, tmp_path / "home")
    reset_session_checks()
    return tmp_path / "home"


@pytest.fixture
def server():
    """A running FileServer on 127.0.0.1."""
    with FileServer() as srv:
        yield srv
