#!/usr/bin/env bash
# Build the standalone SinSR GUI (PyInstaller one-folder app), then check it the way a user would meet it:
# strip, refuse bundled SinSR weights, check library links, run the frozen self-test, open the GUI under Xvfb
# for a screenshot, report size and build time, and pack an archive. Safe to re-run; see docs/packaging.md.
#
# Usage: scripts/build_app.sh [--skip-gui] [--no-archive] [--gui-only]
#   --skip-gui    no Xvfb run / screenshot (also: SINSR_BUILD_SKIP_GUI=1)
#   --no-archive  no .tar.zst (also: SINSR_BUILD_NO_ARCHIVE=1)
#   --gui-only    reuse dist/ and only redo the GUI run and screenshot
# Environment: PYTHON (default .venv/bin/python), MAX_DIST_MB (default 700), STRIP_SKIP (extra glob patterns,
# space separated, of .so files not to strip), GUI_TIMEOUT_S (default 60), SINSR_BUILD_DIST (default dist/) and
# SINSR_BUILD_WORK (default build/): where the app and PyInstaller's work files go (the tests use temporary folders).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MAX_DIST_MB="${MAX_DIST_MB:-700}"
GUI_TIMEOUT_S="${GUI_TIMEOUT_S:-60}"
SKIP_GUI="${SINSR_BUILD_SKIP_GUI:-0}"
NO_ARCHIVE="${SINSR_BUILD_NO_ARCHIVE:-0}"
GUI_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --skip-gui) SKIP_GUI=1 ;;
        --no-archive) NO_ARCHIVE=1 ;;
        --gui-only) GUI_ONLY=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'BUILD FAILED: %s\n' "$*" >&2; exit 1; }

read -r NAME VERSION < <("$PY" -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(p["name"], p["version"])')
DIST_ROOT="${SINSR_BUILD_DIST:-$ROOT/dist}"
WORK_ROOT="${SINSR_BUILD_WORK:-$ROOT/build}"
DIST="$DIST_ROOT/$NAME"
EXE="$DIST/$NAME"
SCREENSHOT="$ROOT/docs/screenshots/frozen_app.png"
# Frozen runs get a throw-away home so they never touch the builder's real settings, and so we can check
# where the app writes (platformdirs folders under this HOME, never dist/).
# (No `| head` or `| grep -q` on a long output: with pipefail the writer's SIGPIPE fails the pipeline.)
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/sinsr-build.XXXXXX")"
RUN_HOME="$SCRATCH/home"
mkdir -p "$RUN_HOME"
trap 'rm -rf "$SCRATCH"' EXIT

# ------------------------------------------------------------------------------------------ build needs
need_gui_tools() {
    [[ "$SKIP_GUI" == 1 ]] && return 0
    # xdotool is optional (a graceful Ctrl+Q instead of kill); xvfb-run and xwininfo are required.
    if command -v xvfb-run >/dev/null && command -v xwininfo >/dev/null; then return 0; fi
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        log "Installing Xvfb tools (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xvfb xauth x11-utils xdotool >/dev/null \
            || echo "apt-get install failed; the GUI step will be skipped"
    else
        echo "xvfb-run/xwininfo missing and not root: the GUI step will be skipped"
    fi
}

# ------------------------------------------------------------------------------------------ helpers
elf_libs() {  # ELF shared libraries under $1 (not the executable: its appended archive must stay intact)
    "$PY" - "$1" <<'EOF'
import sys
from pathlib import Path
for p in sorted(Path(sys.argv[1]).rglob("*.so*")):
    if p.is_file() and not p.is_symlink():
        with p.open("rb") as fh:
            if fh.read(4) == b"\x7fELF":
                print(p)
EOF
}

strip_libs() {
    # --strip-unneeded drops symbol tables that only linkers and debuggers use; dynamic symbols stay.
    # Skipped: numpy's/pillow's vendored libs (OpenBLAS uses its own symbol tricks; auditwheel libs are
    # already stripped), and anything in STRIP_SKIP.
    local skip=("*/numpy.libs/*" "*/pillow.libs/*" "*/PIL/*.libs/*" "*openblas*" "*libgfortran*" ${STRIP_SKIP:-})
    local before after count=0 f pattern
    before=$(du -sb "$DIST" | cut -f1)
    while IFS= read -r f; do
        for pattern in "${skip[@]}"; do
            # shellcheck disable=SC2053 - glob match on purpose
            [[ "$f" == $pattern ]] && continue 2
        done
        if strip --strip-unneeded -o "$f.stripped" "$f" 2>/dev/null; then
            chmod --reference="$f" "$f.stripped"
            mv -f "$f.stripped" "$f"
            count=$((count + 1))
        else
            rm -f "$f.stripped"
            echo "  not stripped (strip refused): ${f#"$DIST"/}"
        fi
    done < <(elf_libs "$DIST")
    after=$(du -sb "$DIST" | cut -f1)
    echo "stripped $count libraries: $(( (before - after) / 1048576 )) MB saved"
}

check_no_weights() {
    local found
    found=$(find "$DIST_ROOT" \( -iname '*.pth' -o -iname '*.ckpt' \) -print)
    [[ -z "$found" ]] || fail "weights files in dist (the SinSR weights must never be bundled):
$found"
    echo "no .pth/.ckpt files in dist/"
}

check_links() {
    # Unresolved Qt/torch/PySide libraries mean the spec filtered out something still needed: fail. Other
    # missing libraries are system packages the user's desktop provides (X11/xcb/wayland, GL): list them.
    local missing
    missing=$(while IFS= read -r f; do ldd "$f" 2>/dev/null | awk -v f="${f#"$DIST"/}" '/not found/ {print f": "$1}'; done \
              < <(elf_libs "$DIST") | sort -u)
    if grep -E ': (libQt6|libpyside6|libshiboken6|libtorch|libc10|libicu)' <<<"$missing"; then
        fail "bundled libraries have unresolved bundled dependencies (see above)"
    fi
    if [[ -n "$missing" ]]; then
        echo "system libraries not installed here (needed on the user's machine only for that plugin):"
        awk -F': ' '{print $2}' <<<"$missing" | sort -u | sed 's/^/  /'
    else
        echo "all library dependencies resolve"
    fi
}

run_selftest() {
    local out rc=0
    out=$(HOME="$RUN_HOME" XDG_CONFIG_HOME="$RUN_HOME/.config" XDG_DATA_HOME="$RUN_HOME/.local/share" \
          XDG_STATE_HOME="$RUN_HOME/.local/state" XDG_CACHE_HOME="$RUN_HOME/.cache" \
          timeout 300 "$EXE" --selftest 2>&1) || rc=$?
    echo "$out"
    [[ $rc == 0 && "$out" == *"selftest OK"* ]] || fail "frozen self-test failed (exit $rc)"
    SELFTEST_LINE=$(grep 'selftest OK' <<<"$out" | tail -1)
}

make_sample_photo() {  # $1: path. SAMPLE_PHOTO overrides; otherwise a synthetic 160x120 "photo".
    if [[ -n "${SAMPLE_PHOTO:-}" ]]; then cp "$SAMPLE_PHOTO" "$1"; return; fi
    "$PY" - "$1" <<'EOF'
import sys
import numpy as np
from PIL import Image, ImageDraw
h, w = 120, 160
yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
sky = np.stack([0.35 + 0.3 * yy / h, 0.55 + 0.25 * yy / h, 0.95 - 0.2 * yy / h], axis=2)
img = Image.fromarray((sky * 255).astype(np.uint8))
d = ImageDraw.Draw(img)
d.ellipse((100, 14, 136, 50), fill=(255, 214, 90))
d.polygon([(0, 120), (0, 78), (38, 52), (80, 84), (118, 60), (160, 90), (160, 120)], fill=(60, 110, 70))
for i in range(0, 160, 8):
    d.line([(i, 104), (i + 5, 120)], fill=(40, 80, 45), width=2)
d.rectangle((20, 88, 44, 112), fill=(170, 60, 50)); d.polygon([(16, 88), (32, 74), (48, 88)], fill=(90, 40, 35))
img.save(sys.argv[1])
EOF
}

gui_screenshot() {
    if [[ "$SKIP_GUI" == 1 ]]; then echo "GUI step: skipped (--skip-gui)"; return 0; fi
    if [[ ! -f "$ROOT/sinsr_gui/qt/app.py" ]]; then
        echo "GUI step: NOT RUN - sinsr_gui/qt/app.py does not exist yet (the Qt app is not written); rebuild later"
        GUI_STATUS="not run: no Qt app yet"
        return 0
    fi
    if ! command -v xvfb-run >/dev/null || ! command -v xwininfo >/dev/null; then
        echo "GUI step: NOT RUN - xvfb-run or xwininfo is missing"
        GUI_STATUS="not run: no Xvfb"
        return 0
    fi
    mkdir -p "$(dirname "$SCREENSHOT")" "$SCRATCH/photos" "$RUN_HOME/.config/sinsr-gui"
    local shot_tmp="$SCRATCH/shot.png" photo="$SCRATCH/photos/sample.png" rc=0
    make_sample_photo "$photo"
    # Results are saved next to the photo at once, so the run can wait for the file.
    echo '{"auto_save": "always"}' >"$RUN_HOME/.config/sinsr-gui/settings.json"

    # Runs inside Xvfb: start the app with the photo queued, wait for its main window, upscale it (Ctrl+Enter)
    # and wait for the result file, grab the window with Pillow's X11 grabber (no ImageMagick needed), then
    # quit with Ctrl+Q. Without xdotool (no way to type) it only waits for the window and stops the app.
    cat >"$SCRATCH/gui_run.sh" <<'EOF'
set -u
"$EXE" "$PHOTO" >"$APPLOG" 2>&1 &
pid=$!
started=$(date +%s.%N)
win=""
for _ in $(seq "$((WAIT * 4))"); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; echo "app exited early with status $?"; exit 3; fi
    # A mapped top-level window of a useful size; Qt also creates small hidden helper windows.
    for id in $(xwininfo -root -tree | awk '/"/ && !/Selection Owner/ && tolower($0) ~ /sinsr/ {print $1}'); do
        info=$(xwininfo -id "$id")
        w=$(awk '/Width:/ {print $2}' <<<"$info"); h=$(awk '/Height:/ {print $2}' <<<"$info")
        if grep -q IsViewable <<<"$info" && (( w >= 300 && h >= 200 )); then win=$id; break 2; fi
    done
    sleep 0.25
done
if [[ -z "$win" ]]; then echo "no app window after ${WAIT} s"; kill "$pid"; exit 4; fi
echo "window $win: $(xwininfo -id "$win" | sed -n 's/^xwininfo: Window id: [^ ]* //p'), shown $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after start"
sleep 2  # first paint, thumbnails
have_xdotool=0; command -v xdotool >/dev/null && have_xdotool=1
if (( have_xdotool )); then
    # Xvfb has no window manager: focus the window directly, then type into it through XTEST.
    xdotool windowfocus --sync "$win" 2>/dev/null || true
    xdotool key ctrl+Return
    for _ in $(seq "$WAIT"); do [[ -s "$RESULT" ]] && break; sleep 1; done
    if [[ -s "$RESULT" ]]; then echo "upscaled in the frozen GUI: $RESULT"; else echo "no result file after ${WAIT} s"; fi
    sleep 2  # the result is shown in the compare view
fi
geo=$(xwininfo -id "$win" | awk '/Absolute upper-left X:/ {x=$4} /Absolute upper-left Y:/ {y=$4} /Width:/ {w=$2} /Height:/ {h=$2} END {print x, y, w, h}')
"$PY" - "$SHOT" $geo <<'PY'
import os, sys
from PIL import ImageGrab
x, y, w, h = map(int, sys.argv[2:6])
img = ImageGrab.grab(xdisplay=os.environ["DISPLAY"])
shot = img.crop((max(x, 0), max(y, 0), min(x + w, img.width), min(y + h, img.height)))
shot.save(sys.argv[1])
print("screenshot", shot.size)
PY
if (( have_xdotool )); then
    # Quit the way a user does, so a clean shutdown (settings saved, no crash at exit) is checked too.
    xdotool windowfocus --sync "$win" 2>/dev/null || true
    xdotool key ctrl+q
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then echo "app did not quit on Ctrl+Q"; kill "$pid"; wait "$pid"; exit 5; fi
    wait "$pid"; status=$?
    echo "app quit on Ctrl+Q with status $status"
    (( status == 0 )) || exit 6
    [[ -s "$RESULT" ]] || exit 7
else
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
fi
exit 0
EOF
    HOME="$RUN_HOME" XDG_CONFIG_HOME="$RUN_HOME/.config" XDG_DATA_HOME="$RUN_HOME/.local/share" \
    XDG_STATE_HOME="$RUN_HOME/.local/state" XDG_CACHE_HOME="$RUN_HOME/.cache" QT_QPA_PLATFORM=xcb \
    EXE="$EXE" PY="$PY" SHOT="$shot_tmp" WAIT="$GUI_TIMEOUT_S" APPLOG="$SCRATCH/app_stdout.log" \
    PHOTO="$photo" RESULT="$SCRATCH/photos/sample_x4.png" \
    xvfb-run -a -s "-screen 0 1400x900x24" bash "$SCRATCH/gui_run.sh" || rc=$?
    echo "--- app stdout/stderr (last lines) ---"; tail -n 15 "$SCRATCH/app_stdout.log" 2>/dev/null || true
    echo "--- app log file (last lines) ---"
    find "$RUN_HOME" -name '*.log' -type f -exec tail -n 8 {} + 2>/dev/null || true
    if [[ $rc != 0 || ! -s "$shot_tmp" ]]; then
        GUI_STATUS="FAILED (exit $rc)"
        fail "frozen GUI run under Xvfb failed (exit $rc)"
    fi
    if [[ -s "$SCRATCH/photos/sample_x4.png" ]]; then
        GUI_RESULT=$("$PY" -c 'import sys; from PIL import Image; a, b = (Image.open(p).size for p in sys.argv[1:]); print(f"{a[0]}x{a[1]} -> {b[0]}x{b[1]}")' \
                     "$photo" "$SCRATCH/photos/sample_x4.png")
        echo "frozen GUI upscale: $GUI_RESULT"
    fi
    cp "$shot_tmp" "$SCREENSHOT"
    GUI_STATUS="ok: $(realpath --relative-to="$ROOT" "$SCREENSHOT")${GUI_RESULT:+, upscaled $GUI_RESULT in the GUI}"
    echo "GUI step: screenshot saved to $SCREENSHOT"
    echo "user folders written by the frozen app (platformdirs under a throw-away HOME):"
    (cd "$RUN_HOME" && find . -type f | sed -n '1,20s/^/  /p')
}

check_dist_untouched() {  # the frozen runs must not write next to the executable
    local changed
    changed=$(find "$DIST" -newer "$1" -print)
    [[ -z "$changed" ]] || fail "the frozen app wrote into dist/:
$changed"
    echo "the frozen runs wrote nothing into dist/"
}

report_size() {
    local total_mb
    total_mb=$(( $(du -sb "$DIST" | cut -f1) / 1048576 ))
    DIST_MB=$total_mb
    echo "dist/$NAME: $(du -sh "$DIST" | cut -f1) ($total_mb MiB), $(find "$DIST" -type f | wc -l) files"
    echo "top directories:"
    (cd "$DIST" && du -m --max-depth=2 . | sort -rn | sed -n '2,16p' | sed 's/^/  /')
    echo "largest files:"
    (cd "$DIST" && find . -type f -printf '%s %P\n' | sort -rn | awk 'NR <= 8 {printf "  %6.1f MiB  %s\n", $1/1048576, $2}')
    (( total_mb <= MAX_DIST_MB )) || fail "dist is $total_mb MiB, over the $MAX_DIST_MB MiB budget"
}

make_archive() {
    local os arch base
    os=$(uname -s | tr '[:upper:]' '[:lower:]'); arch=$(uname -m)
    base="$DIST_ROOT/$NAME-$VERSION-$os-$arch"
    rm -f "$base".tar.zst "$base".tar.gz
    if command -v zstd >/dev/null && [[ "$(tar --help 2>/dev/null)" == *--zstd* ]]; then
        ARCHIVE="$base.tar.zst"
        # Level 12: most of level 19's ratio on torch's libraries at a fraction of the time.
        tar -C "$DIST_ROOT" -I 'zstd -12 -T0' -cf "$ARCHIVE" "$NAME"
    else
        ARCHIVE="$base.tar.gz"
        tar -C "$DIST_ROOT" -czf "$ARCHIVE" "$NAME"
    fi
    echo "archive: ${ARCHIVE#"$ROOT"/} $(du -h "$ARCHIVE" | cut -f1)"
}

# ------------------------------------------------------------------------------------------ main
SELFTEST_LINE="" GUI_STATUS="skipped" GUI_RESULT="" DIST_MB="" ARCHIVE="" BUILD_S=0
need_gui_tools
if [[ "$GUI_ONLY" == 1 ]]; then
    [[ -x "$EXE" ]] || fail "no build in $DIST; run without --gui-only first"
    marker="$SCRATCH/marker"; touch "$marker"
    gui_screenshot
    check_dist_untouched "$marker"
    exit 0
fi

"$PY" -c 'import PyInstaller' 2>/dev/null || { log "Installing PyInstaller"; "$PY" -m pip install --quiet "pyinstaller>=6.0"; }
# The spec drops NVIDIA/CUDA libraries to stay within budget; a CUDA torch would then not start.
"$PY" -c 'import sys, torch; sys.exit(torch.version.cuda is not None or torch.version.hip is not None)' \
    || fail "the venv has a GPU build of torch ($("$PY" -c 'import torch; print(torch.__version__)')); build from the CPU wheel:
  $PY -m pip install torch --index-url https://download.pytorch.org/whl/cpu"

# The bundle takes what the venv holds: it must meet pyproject.toml's requirements (e.g. no PySide6 6.12.0).
"$PY" "$ROOT/scripts/check_requirements.py" "$ROOT/pyproject.toml" \
    || fail "the venv does not meet pyproject.toml's requirements (above); run: $PY -m pip install -e ."

log "PyInstaller $("$PY" -m PyInstaller --version) -> dist/$NAME"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST_ROOT" --workpath "$WORK_ROOT/pyinstaller" \
    "$ROOT/sinsr_gui.spec"
pyi_s=$(( $(date +%s) - start ))
echo "PyInstaller took ${pyi_s} s"

log "Strip shared libraries"
strip_libs
BUILD_S=$(( $(date +%s) - start ))

log "Checks"
check_no_weights
check_links

log "Frozen self-test"
marker="$SCRATCH/marker"; touch "$marker"; sleep 1
run_selftest

log "Frozen GUI under Xvfb"
gui_screenshot
check_dist_untouched "$marker"

log "Size"
report_size

if [[ "$NO_ARCHIVE" != 1 ]]; then
    log "Archive"
    make_archive
fi

log "Summary"
echo "build time: ${BUILD_S} s (PyInstaller ${pyi_s} s + strip)"
echo "dist: dist/$NAME, ${DIST_MB} MiB (limit ${MAX_DIST_MB} MiB)"
[[ -n "$ARCHIVE" ]] && echo "archive: ${ARCHIVE#"$ROOT"/}, $(du -h "$ARCHIVE" | cut -f1)"
echo "self-test: $SELFTEST_LINE"
echo "GUI: $GUI_STATUS"
