"""The terminal front-end: ``sinsr-upscale`` (batch upscaling, :mod:`.upscale`) and ``sinsr-upscale
weights ...`` (the weights manager, :mod:`.weights`). Messages name commands (:mod:`.messages`)."""

from __future__ import annotations

import sys

from sinsr_gui.cli.upscale import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
