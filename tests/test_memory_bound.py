"""Peak memory beyond the input and output arrays does not grow with the image size (tiny model, real runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def probe(size: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.memory_probe", str(size)], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # 1-2 minutes on a 2-core CPU: 16 M output pixels through the autoencoder
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux peak-RSS reset")
def test_extra_memory_is_independent_of_image_size():
    small, large = probe(256), probe(1024)
    print(small, large)
    # The 1024 px image has 16x the pixels: its output array alone is 192 MiB more than the 256 px one. What is
    # left after the arrays (one batch of tiles, blend windows, allocator slack) must not grow with the image.
    assert large["arrays"] > 15 * small["arrays"]
    assert large["extra"] < small["extra"] + 48 * 2**20
