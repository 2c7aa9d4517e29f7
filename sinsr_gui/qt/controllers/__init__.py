"""One small controller per flow of the window, each owning its work through one WorkerSlot:

* :mod:`.run`: upscale the queue, one photo at a time (progress, ETA, auto-save, throughput, cancel);
* :mod:`.preview`: upscale the region in view, exactly as the run will;
* :mod:`.save`: Save, Save as, Save all (never over an input);
* :mod:`.display`: decode the current photo (and its result) for the compare view;
* :mod:`.thumbnails`: queue thumbnails, and unreadable files at once;
* :mod:`.weights`: the first-run download/import of the SinSR weights.
* :mod:`.settings`: the shared settings, their panel, the window layout and saving them (no worker).

They call the engine's use cases (``sinsr_gui.engine.photo``) and change the Qt-free queue
(``sinsr_gui.queue``); none knows the main window, which wires their signals to the views.
"""
