"""``python -m sinsr_gui`` and the ``sinsr-gui`` launcher: start the desktop app.

``--selftest`` runs the packaged app's self-test instead (no display needed).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--selftest" in argv:
        from sinsr_gui.selftest import main as selftest_main

        return selftest_main()
    from sinsr_gui.qt.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
