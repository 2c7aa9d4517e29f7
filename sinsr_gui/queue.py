"""The app's queue of photos, Qt-free: which photos are queued, in which order, and what became of each.

The desktop app shows it (``sinsr_gui.qt.queue_panel``) and its controllers change it; nothing here knows
about Qt, so the rules are tested with plain pytest:

* adding dedupes (a photo is queued once, however it was named) and keeps folders in natural order;
* a job is ``waiting``, ``running``, ``done``, ``failed`` or ``cancelled``; retry puts finished ones back;
* where a result is saved: the output folder rule shared with the command line
  (:func:`sinsr_gui.engine.naming.output_folder_for`), except that pasted images, which live in the app's
  cache folder, go to the pictures folder the caller names (the app asks Qt for it).

A result stays in memory (``job.result``) until it is saved; a batch run releases its pixels after saving
(``result.rgb`` is None then, its metadata stays), and ``engine.photo.reopen_saved`` brings them back from a
lossless saved copy.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sinsr_gui.engine.discovery import find_images
from sinsr_gui.engine.naming import output_folder_for, output_path_for

if TYPE_CHECKING:
    from sinsr_gui.engine.options import OutputOptions

STATES = ("waiting", "running", "done", "failed", "cancelled")
RETRYABLE = ("failed", "cancelled", "done")  # what "Retry" puts back in the queue


class Result(Protocol):
    """What the queue needs of an ``engine.photo.UpscaleResult`` (named without importing the engine's torch)."""

    rgb: Any  # the pixels; None once released after a batch auto-save


@dataclass
class Job:
    """One photo in the queue and what became of it."""

    id: int
    path: Path
    root: Path  # the folder it was found under; sub-folders are mirrored into an output folder
    pasted: bool = False
    state: str = "waiting"
    message: str = ""  # why it failed or was cancelled, or where it was saved
    size: tuple[int, int] | None = None  # (width, height) of the input, once read
    result: Result | None = None  # an engine.photo.UpscaleResult
    saved_path: Path | None = None
    # The result before the latest "Upscale again" (another model, seed or sampler), kept in memory so the
    # two can be compared (A/B); None once a newer retry replaces it or it was not in memory.
    previous: Result | None = None
    previous_saved: Path | None = None

    @property
    def unsaved(self) -> bool:
        return self.result is not None and self.saved_path is None

    @property
    def in_memory(self) -> bool:
        """The result's pixels are still here (not released after a batch auto-save)."""
        return self.result is not None and self.result.rgb is not None


class PhotoQueue:
    """Jobs in queue order (the order the user sees and runs). ``pictures`` receives pasted images' results."""

    def __init__(self, pictures: Path) -> None:
        self.pictures = pictures
        self._jobs: dict[int, Job] = {}  # insertion order is the queue order
        self._next_id = 1

    # ------------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: int | None) -> Job | None:
        return self._jobs.get(job_id) if job_id is not None else None

    def ids(self) -> list[int]:
        return list(self._jobs)

    def waiting(self) -> list[Job]:
        return [j for j in self if j.state == "waiting"]

    def next_waiting(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state == "waiting"), None)

    def counts(self) -> Counter[str]:
        """How many jobs are in each state."""
        return Counter(j.state for j in self._jobs.values())

    def unsaved(self) -> list[Job]:
        return [j for j in self if j.unsaved]

    def inputs(self) -> tuple[Path, ...]:
        """Every queued input: saving never writes over one of them."""
        return tuple(j.path for j in self._jobs.values())

    # ------------------------------------------------------------------------------------------ changing
    def add(self, paths: Iterable[str | os.PathLike[str]], *, pasted: bool = False) -> tuple[list[Job], list[Path]]:
        """Queue the files named, and the photos inside the folders named (natural order); returns the jobs
        added and the paths that do not exist. A photo already queued is not added again."""
        given = [Path(p) for p in paths]
        missing = [p for p in given if not p.exists()]
        known = {j.path.resolve() for j in self._jobs.values()}
        added: list[Job] = []
        for file, root in find_images([p for p in given if p.exists()]):
            key = file.resolve()
            if key in known:
                continue
            known.add(key)
            job = Job(self._next_id, file, root, pasted=pasted)
            self._next_id += 1
            self._jobs[job.id] = job
            added.append(job)
        return added, missing

    def remove(self, ids: Iterable[int]) -> list[Job]:
        return [job for job in (self._jobs.pop(i, None) for i in ids) if job is not None]

    def reorder(self, ids: Iterable[int]) -> None:
        """Put the jobs in the order of ``ids``; jobs not named keep their relative order, after them."""
        order = [i for i in dict.fromkeys(ids) if i in self._jobs]
        order += [i for i in self._jobs if i not in order]
        self._jobs = {i: self._jobs[i] for i in order}

    def retry(self, ids: Iterable[int]) -> list[Job]:
        """Put finished jobs (done, failed, cancelled) back to waiting. A result still in memory becomes the
        job's ``previous`` one (for comparing the two); an older previous result is dropped."""
        jobs = [self._jobs[i] for i in ids if i in self._jobs and self._jobs[i].state in RETRYABLE]
        for job in jobs:
            if job.in_memory:
                job.previous, job.previous_saved = job.result, job.saved_path
            job.state, job.message, job.result, job.saved_path = "waiting", "", None, None
        return jobs

    def retry_drops_unsaved(self, ids: Iterable[int]) -> list[Job]:
        """The jobs whose retry would drop a result that is not saved (an unsaved previous result, or an
        unsaved result that is no longer in memory and so cannot be kept for comparison)."""
        jobs = [self._jobs[i] for i in ids if i in self._jobs and self._jobs[i].state in RETRYABLE]
        return [j for j in jobs if (j.previous is not None and j.previous_saved is None and j.in_memory)
                or (j.unsaved and not j.in_memory)]

    def swap_results(self, job_id: int) -> Job | None:
        """Make the previous result the job's result and the other way round (Save then saves the chosen one)."""
        job = self._jobs.get(job_id)
        if job is None or job.previous is None or job.result is None:
            return None
        job.result, job.previous = job.previous, job.result
        job.saved_path, job.previous_saved = job.previous_saved, job.saved_path
        return job

    # ------------------------------------------------------------------------------------------- outputs
    def output_path(self, job: Job, output: OutputOptions, scale: int, output_dir: Path | None) -> Path:
        """Where ``job``'s result is saved: ``output_dir`` (mirroring sub-folders below the dropped folder),
        else next to the photo, and for a pasted image, the pictures folder. Raises ValueError for a bad
        name pattern."""
        folder = output_folder_for(job.path, job.root, output_dir)
        if folder is None and job.pasted:
            folder = self.pictures
        return output_path_for(job.path, folder, fmt=output.fmt, pattern=output.name_pattern, scale=scale)
