import sys

from sinsr_gui.cli.upscale import main

sys.exit(main())
