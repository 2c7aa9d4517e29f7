"""Packaging: the self-test (unfrozen), the PyInstaller spec (executed with stand-ins) and, marked slow, a real
frozen build through scripts/build_app.sh."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the spec then needs tomli too
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "sinsr_gui.spec"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
MAX_DIST_MIB = 700


# ------------------------------------------------------------------------------------------- self-test
def test_selftest_unfrozen_prints_one_ok_line():
    proc = subprocess.run([sys.executable, "-m", "sinsr_gui", "--selftest"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("selftest OK: "), proc.stdout
    assert "24x24 -> 96x96" in lines[0]


def test_selftest_failure_is_one_line_and_nonzero(monkeypatch, capsys):
    from sinsr_gui import selftest

    def broken() -> int:
        raise OSError("manifest file\nis unreadable")

    monkeypatch.setattr(selftest, "_check_manifests", broken)
    assert selftest.main() == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    # One line, the message flattened, and the file:line where it broke.
    assert re.fullmatch(r"selftest FAILED: OSError: manifest file is unreadable \(\w+\.py:\d+\)", out[0]), out


def test_selftest_without_builtin_model_runs_tiny_sinsr(monkeypatch, tmp_path):
    from sinsr_gui import selftest
    from sinsr_gui.weights import builtin

    monkeypatch.setattr(builtin, "builtin_card_path", lambda name: tmp_path / "missing.json")
    monkeypatch.setattr(builtin, "builtin_weights_path", lambda name: tmp_path / "missing.safetensors")
    line = selftest.run()
    assert line.startswith("selftest OK: tiny SinSR (no built-in model bundled), 24x24 -> 96x96"), line


def test_selftest_rejects_a_damaged_icon(monkeypatch, tmp_path):
    from sinsr_gui import selftest

    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "app.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(selftest.SelftestError, match="app.png"):
        selftest._check_icons(tmp_path)


# ------------------------------------------------------------------------------------------- the spec
class _Recorder:
    """Stand-ins for PyInstaller's spec classes: remember the arguments, expose what the spec reads."""

    def __init__(self):
        self.calls: dict[str, SimpleNamespace] = {}

    def stub(self, kind: str):
        def make(*args, **kwargs):
            obj = SimpleNamespace(args=args, kwargs=kwargs, binaries=[], datas=[], pure=[], scripts=[])
            if kind == "Analysis":
                obj.datas = list(kwargs.get("datas", []))
                # What PyInstaller's hooks would add, as (dest, src, typecode), to check the filters.
                obj.binaries = [(dest, "/src/" + dest, "BINARY") for dest in _SAMPLE_BINARIES]
                obj.datas = [(dest, src, "DATA") for src, dest in obj.datas]
                # PyInstaller's top-level links to Qt libraries (in datas, source = link target).
                obj.datas += [(Path(t).name, t, "SYMLINK") for t in _SAMPLE_BINARIES if t.startswith("PySide6/Qt/lib")]
            self.calls[kind] = obj
            return obj

        return make


_SAMPLE_BINARIES = {
    # dest path -> kept?
    "torch/lib/libtorch_cpu.so": True,
    "torch/bin/torch_shm_manager": True,  # `import torch` needs it
    "torch/bin/test_api": False,
    "torch/include/ATen/ATen.h": False,
    "torch/test/test_jit": False,
    "torch/lib/libtorchbind_test.so": False,
    "PySide6/Qt/plugins/platforms/libqxcb.so": True,
    "PySide6/Qt/plugins/platforms/libqoffscreen.so": True,
    "PySide6/Qt/plugins/platforms/libqwayland.so": True,
    "PySide6/Qt/plugins/platforms/libqvnc.so": False,
    "PySide6/Qt/plugins/imageformats/libqjpeg.so": True,
    "PySide6/Qt/plugins/imageformats/libqpdf.so": False,
    "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so": True,
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so": False,  # would load the user's GTK next to bundled cairo
    "PySide6/Qt/lib/libQt6Widgets.so.6": True,
    "PySide6/Qt/lib/libQt6Svg.so.6": True,
    "PySide6/Qt/lib/libQt6Quick.so.6": False,
    "nvidia/cublas/lib/libcublas.so.12": False,
    "somewhere/weights.pth": False,
}


def _exec_spec(monkeypatch, tmp_path, platform: str) -> tuple[_Recorder, dict]:
    monkeypatch.setattr(sys, "platform", platform)
    rec = _Recorder()
    namespace = {name: rec.stub(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    namespace.update(SPECPATH=str(ROOT), workpath=str(tmp_path / "build"), DISTPATH=str(tmp_path / "dist"),
                     __file__=str(SPEC))
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return rec, namespace


def test_spec_is_python_and_reads_pyproject():
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    source = ast.unparse(tree)
    assert "pyproject.toml" in source and "tomllib" in source


def test_spec_linux_build(monkeypatch, tmp_path, capsys):
    rec, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    exe = rec.calls["EXE"].kwargs
    assert exe["name"] == PROJECT["name"] == "sinsr-gui"
    assert ns["VERSION"] == PROJECT["version"]
    assert rec.calls["COLLECT"].kwargs["name"] == "sinsr-gui"
    assert exe["strip"] is False and exe["upx"] is False  # stripping is done (and tested) by the build script
    assert "BUNDLE" not in rec.calls

    excludes = set(rec.calls["Analysis"].kwargs["excludes"])
    for module in ("tkinter", "pytest", "tensorboard", "torch.utils.tensorboard", "triton",
                   "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtNetwork", "PySide6.QtPdf",
                   "torch._dynamo", "torch._inductor", "sympy", "networkx"):
        assert module in excludes, module
    for module in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg", "torch"):
        assert module not in excludes, module

    kept = {dest for dest, _, _ in rec.calls["Analysis"].binaries}
    for dest, should_keep in _SAMPLE_BINARIES.items():
        assert (dest in kept) == should_keep, dest
    links = {dest for dest, _, kind in rec.calls["Analysis"].datas if kind == "SYMLINK"}
    assert links == {"libQt6Widgets.so.6", "libQt6Svg.so.6"}  # the link to the dropped QtQuick went too

    datas = {(Path(src).name, dest) for dest, src, _ in rec.calls["Analysis"].datas}
    manifests = sorted((ROOT / "sinsr_gui/weights/manifests").glob("*.json"))
    assert manifests
    for path in manifests:
        assert (path.name, "sinsr_gui/weights/manifests") in datas
    for optional in ("style.qss", "models/compact_x4.safetensors", "models/compact_x4.json",
                     "models/photo_x4.safetensors", "models/photo_x4.json"):
        if (ROOT / "resources" / optional).is_file():
            assert (Path(optional).name, str(Path("resources", optional).parent)) in datas, optional
    assert not any(name.endswith((".pth", ".ckpt")) for name, _ in datas)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd-based, Linux only")
def test_spec_prunes_libraries_only_removed_plugins_needed(monkeypatch, tmp_path):
    qt = Path(pytest.importorskip("PySide6").__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("PySide6 without the xcb plugin")
    _, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    binaries = [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", str(plugin), "BINARY"),  # a root
        ("PySide6/Qt/lib/libQt6XcbQpa.so.6", str(qt / "lib" / "libQt6XcbQpa.so.6"), "BINARY"),  # it needs this
        ("PySide6/Qt/lib/libQt6Quick.so.6", str(qt / "lib" / "libQt6Quick.so.6"), "BINARY"),  # nobody does
        ("libnot-analysable.so.1", str(tmp_path / "missing.so"), "BINARY"),  # kept: cannot tell
        # a top-level Python extension (pillow-heif's): imported, not linked, so nothing needs it, yet kept
        ("_pillow_heif.cpython-311-x86_64-linux-gnu.so", str(qt / "lib" / "libQt6Quick.so.6"), "EXTENSION"),
    ]
    kept = {dest for dest, _, _ in ns["prune_orphans"](binaries)}
    assert kept == {binaries[0][0], binaries[1][0], binaries[3][0], binaries[4][0]}


def test_spec_windows_version_info_and_icon(monkeypatch, tmp_path):
    rec, _ = _exec_spec(monkeypatch, tmp_path, "win32")
    exe = rec.calls["EXE"].kwargs
    assert exe["console"] is False  # windowed
    text = Path(exe["version"]).read_text(encoding="utf-8")
    ast.parse(text)  # PyInstaller evaluates this file as a Python expression
    assert f"'ProductVersion', '{PROJECT['version']}'" in text
    assert "filevers=(0, 1, 0, 0)" in text or PROJECT["version"] != "0.1.0"
    icons = ROOT / "resources" / "icons"
    if icons.is_dir() and any(icons.glob("*.png")):
        assert exe["icon"] and Path(exe["icon"]).suffix in (".ico", ".png")


def test_spec_macos_bundle(monkeypatch, tmp_path):
    rec, _ = _exec_spec(monkeypatch, tmp_path, "darwin")
    bundle = rec.calls["BUNDLE"].kwargs
    assert bundle["name"].endswith(".app")
    assert bundle["version"] == PROJECT["version"]
    assert bundle["info_plist"]["CFBundleShortVersionString"] == PROJECT["version"]


def test_spec_refuses_weights_in_resources(monkeypatch, tmp_path):
    _, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    fake_root = tmp_path / "project"
    (fake_root / "resources" / "models").mkdir(parents=True)
    (fake_root / "resources" / "models" / "compact_x4.safetensors").write_bytes(b"x")
    (fake_root / "resources" / "models" / "sinsr_v1.pth").write_bytes(b"x")
    ns["ROOT"] = fake_root
    ns["RESOURCE_GLOBS"] = [*ns["RESOURCE_GLOBS"], "models/*"]
    with pytest.raises(SystemExit, match="sinsr_v1.pth"):
        ns["resource_datas"]()


# ------------------------------------------------------------------------------------------- real build
def _dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_frozen_build_selftest_and_size(tmp_path):
    """Build with scripts/build_app.sh (no Xvfb, no archive): a few minutes on 2 cores. The build (about 600 MB)
    goes to a temporary folder, so the clone's dist/ and build/ are left as they were."""
    env = {**os.environ, "SINSR_BUILD_SKIP_GUI": "1", "SINSR_BUILD_NO_ARCHIVE": "1",
           "SINSR_BUILD_DIST": str(tmp_path / "dist"), "SINSR_BUILD_WORK": str(tmp_path / "build")}
    env.pop("SINSR_GUI_HOME", None)  # the script gives the frozen runs their own throw-away home
    try:
        _build_and_check(env, tmp_path / "dist" / PROJECT["name"])
    finally:  # pytest keeps its last temporary folders: do not leave 600 MB there either
        shutil.rmtree(tmp_path / "dist", ignore_errors=True)
        shutil.rmtree(tmp_path / "build", ignore_errors=True)


def _build_and_check(env: dict[str, str], dist: Path) -> None:
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build_app.sh")], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=2300)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]

    exe = dist / PROJECT["name"]
    run = subprocess.run([str(exe), "--selftest"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("selftest OK"), run.stdout + run.stderr

    internal = dist / "_internal"
    assert (internal / "torch" / "bin" / "torch_shm_manager").is_file()
    for gone in ("torch/include", "torch/test", "torch/bin/test_api"):
        assert not (internal / gone).exists(), gone
    assert not [p for p in dist.rglob("*") if p.suffix in (".pth", ".ckpt")]
    assert _dir_mib(dist) <= MAX_DIST_MIB


def test_inference_never_imports_the_compile_stack():
    """The bundle leaves out torch._dynamo/_inductor and sympy: an inference must not need them."""
    code = (
        "import sys, contextlib, io\n"
        "from sinsr_gui.selftest import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main() == 0\n"
        "loaded = [m for m in ('torch._dynamo', 'torch._inductor', 'sympy', 'networkx', 'torch.onnx') "
        "if m in sys.modules]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------------------------- image codecs
def test_spec_names_the_lazily_loaded_image_codecs(monkeypatch, tmp_path):
    """imageio loads pi-heif and imagecodecs' extensions on demand, where PyInstaller cannot see them."""
    rec, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    hidden = set(rec.calls["Analysis"].kwargs["hiddenimports"])
    assert set(ns["IMAGEIO_HIDDEN_IMPORTS"]) <= hidden
    assert "pi_heif" in hidden and "_pi_heif" in hidden and "imagecodecs._deflate" in hidden
    assert "isal.isal_zlib" in hidden  # the PNG writer's deflate
    assert not {"pi_heif", "imagecodecs", "tifffile", "isal"} & set(rec.calls["Analysis"].kwargs["excludes"])


def test_bundled_imagecodecs_subset_is_enough_for_the_encoders(monkeypatch, tmp_path):
    """Only the spec's imagecodecs extensions importable (as in the bundle): 16-bit PNG and TIFF still work."""
    pytest.importorskip("imagecodecs")
    _, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    allowed = sorted(m for m in ns["IMAGEIO_HIDDEN_IMPORTS"] if m.startswith("imagecodecs."))
    code = f"""
import importlib.abc, sys
ALLOWED = {allowed!r}
class Bundle(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith("imagecodecs._") and name not in ALLOWED:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Bundle())
import numpy as np
from sinsr_gui.engine.imageio import read_image, save_image
rgb = np.random.default_rng(0).random((32, 24, 3), dtype=np.float32)
for fmt in ("PNG", "TIFF"):
    out = save_image(rgb, {str(tmp_path)!r} + "/o." + fmt.lower(), like=None, fmt=fmt, bit_depth=16)
    again = read_image(out)
    assert again.bit_depth == 16 and np.abs(again.rgb - rgb).max() < 1e-4, fmt
print(sorted(m for m in sys.modules if m.startswith("imagecodecs._")))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    used = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert used <= set(allowed) and "imagecodecs._deflate" in used


# ------------------------------------------------------------------------------------------- spandrel
def test_spec_bundles_spandrel_but_never_torchvision(monkeypatch, tmp_path):
    """spandrel is imported through importlib (with a torchvision stand-in), so the spec names all of it."""
    rec, ns = _exec_spec(monkeypatch, tmp_path, "linux")
    hidden = set(rec.calls["Analysis"].kwargs["hiddenimports"])
    excludes = set(rec.calls["Analysis"].kwargs["excludes"])
    assert {"torchvision", "spandrel_extra_arches"} <= excludes
    assert "sinsr_gui.weights.spandrel_support" in hidden and "einops" in hidden
    for module in ("spandrel", "spandrel.architectures.ESRGAN", "spandrel.architectures.Compact.__arch.SRVGG",
                   "spandrel.architectures.SwinIR", "spandrel.architectures.HAT", "spandrel.architectures.DAT",
                   "spandrel.architectures.LaMa.__arch.LaMa"):
        assert module in hidden, module
    assert not any(m.startswith(("torchvision", "spandrel_extra_arches")) for m in hidden)


def test_the_version_lives_only_in_pyproject():
    import sinsr_gui

    assert sinsr_gui.__version__ == PROJECT["version"]
    source = (ROOT / "sinsr_gui" / "__init__.py").read_text(encoding="utf-8")
    assert PROJECT["version"] not in source  # not written a second time


# ------------------------------------------------------------------------------ build environment check
def _check_requirements(pyproject: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "check_requirements.py"), str(pyproject)],
                          capture_output=True, text=True, timeout=60)


def test_build_environment_meets_the_project_requirements():
    result = _check_requirements(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "requirements met"


def test_build_refuses_an_excluded_release(tmp_path):
    """What the build script stops on: an installed release the project excludes (as it excludes PySide6
    6.12.0), a missing package; a requirement for another platform is ignored."""
    import numpy

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "1"\ndependencies = [\n'
                         f'  "numpy!={numpy.__version__}",\n'
                         '  "no-such-package-sinsr>=1",\n'
                         '  "pillow>=1; sys_platform == \'no-such-platform\'",\n'
                         '  "platformdirs>=1",\n]\n', encoding="utf-8")
    result = _check_requirements(pyproject)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"unmet requirement numpy!={numpy.__version__}: {numpy.__version__} is installed",
        "unmet requirement no-such-package-sinsr>=1: not installed",
    ]
    assert "check_requirements.py" in (ROOT / "scripts" / "build_app.sh").read_text(encoding="utf-8")
