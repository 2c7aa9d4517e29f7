# Packaging targets (see docs/packaging.md).
.PHONY: app app-nogui test

# The whole suite, with its install step (what CI runs).
test:
	bash scripts/test.sh

# The standalone app in dist/sinsr-gui, checked (self-test, Xvfb screenshot) and archived.
app:
	scripts/build_app.sh

# The same without the Xvfb run (headless build machines).
app-nogui:
	scripts/build_app.sh --skip-gui
