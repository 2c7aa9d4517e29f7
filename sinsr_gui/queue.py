"""The app's queue of photos, Qt-free: which photos are queued, in which order, and what became of each.

The desktop app shows it (``sinsr_gui.qt.queue_panel``) and its controllers change it; nothing here knows
about Qt, so the rules are tested with plain pytest:

* adding dedupes (a photo is queued once, however it was named) and keeps folders in natural order;
* a job is ``waiting``, ``running``, ``done``, ``failed`` or ``cancelled`` (:class:`JobState`), and only the
  queue's transition methods change that (``start``, ``finish``, ``fail``, ``cancel``, ``retry``, and
  ``saved`` for where a result went, ``note_size`` for the photo's size once read): a job has one owner;
* every change is one :class:`QueueEvent` to the subscribers (``subscribe``): the views follow the queue
  instead of each writer telling them (the Qt layer relays it as a signal, ``sinsr_gui.qt.queue_events``);
* where a result is saved: the output folder rule shared with the command line
  (:func:`sinsr_gui.engine.naming.output_folder_for`), except that pasted images, which live in the app's
  cache folder, go to the pictures folder the caller names (the app asks Qt for it).

A result stays in memory (``job.result``) until it is saved; a batch run releases its pixels after saving
(``result.rgb`` is None then, its metadata stays), and ``engine.photo.reopen_saved`` brings them back from a
lossless saved copy.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sinsr_gui.engine.discovery import find_images
from sinsr_gui.engine.naming import output_folder_for, output_path_for
from sinsr_gui.engine.options import OutputOptions
from sinsr_gui.engine.types import UpscaleResult


class JobState(str, enum.Enum):
    """What became of a photo. A ``str``: ``job.state == "done"`` reads as before."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


STATES = tuple(JobState)
RETRYABLE = (JobState.FAILED, JobState.CANCELLED, JobState.DONE)  # what "Retry" puts back in the queue


class InvalidTransition(ValueError):
    """A state change the queue's rules do not allow (a bug in the caller, never the user's doing)."""


@dataclass(frozen=True)
class QueueEvent:
    """One change of the queue: ``added``/``removed`` jobs, a new ``order``, or a ``job`` whose state,
    message, result or size changed (``ids``: the jobs concerned)."""

    kind: Literal["added", "removed", "order", "job"]
    ids: tuple[int, ...]


@dataclass
class Job:
    """One photo in the queue and what became of it. Read it freely; change it through the queue."""

    id: int
    path: Path
    root: Path  # the folder it was found under; sub-folders are mirrored into an output folder
    pasted: bool = False
    _state: JobState = field(default=JobState.WAITING, repr=False)
    message: str = ""  # why it failed or was cancelled, or where it was saved
    _size: tuple[int, int] | None = field(default=None, repr=False)
    result: UpscaleResult | None = None  # rgb None once a batch saved it and released its pixels
    saved_path: Path | None = None
    # The result before the latest "Upscale again" (another model, seed or sampler), kept in memory so the
    # two can be compared (A/B); None once a newer retry replaces it or it was not in memory.
    previous: UpscaleResult | None = None
    previous_saved: Path | None = None

    @property
    def state(self) -> JobState:
        """Changed only by the queue's transitions."""
        return self._state

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the input, once read; set by the queue (:meth:`PhotoQueue.note_size`)."""
        return self._size

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
        self._subscribers: list[Callable[[QueueEvent], object]] = []

    # ------------------------------------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[QueueEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns the function that unsubscribes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _emit(self, kind: Literal["added", "removed", "order", "job"], ids: Iterable[int]) -> None:
        ids = tuple(ids)
        if ids or kind == "order":
            event = QueueEvent(kind, ids)
            for callback in list(self._subscribers):
                callback(event)

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
        return [j for j in self if j.state is JobState.WAITING]

    def next_waiting(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state is JobState.WAITING), None)

    def counts(self) -> Counter[str]:
        """How many jobs are in each state (keyed by the state's name)."""
        return Counter(j.state.value for j in self._jobs.values())

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
        self._emit("added", (j.id for j in added))
        return added, missing

    def remove(self, ids: Iterable[int]) -> list[Job]:
        removed = [job for job in (self._jobs.pop(i, None) for i in ids) if job is not None]
        self._emit("removed", (j.id for j in removed))
        return removed

    def reorder(self, ids: Iterable[int]) -> None:
        """Put the jobs in the order of ``ids``; jobs not named keep their relative order, after them."""
        order = [i for i in dict.fromkeys(ids) if i in self._jobs]
        order += [i for i in self._jobs if i not in order]
        self._jobs = {i: self._jobs[i] for i in order}
        self._emit("order", order)

    # -------------------------------------------------------------------------------------- transitions
    def _move(self, job_id: int | None, allowed: tuple[JobState, ...], to: JobState) -> Job | None:
        """``job_id``'s job, moved to ``to``; None when it is no longer queued (removed while it ran)."""
        job = self.get(job_id)
        if job is None:
            return None
        if job.state not in allowed:
            raise InvalidTransition(f"job {job.id} ({job.path.name}) cannot go from {job.state} to {to}")
        job._state = to
        return job

    def start(self, job_id: int) -> Job:
        """A waiting photo starts running."""
        job = self._move(job_id, (JobState.WAITING,), JobState.RUNNING)
        if job is None:
            raise InvalidTransition(f"job {job_id} is not in the queue")
        job.message = ""
        self._emit("job", (job.id,))
        return job

    def finish(self, job_id: int, result: UpscaleResult, *, saved_path: Path | None = None,
               message: str = "") -> Job | None:
        """The running photo has its result (saved at ``saved_path`` when the run saved it); ``message``
        says what the user can do with it (the front-end's words)."""
        job = self._move(job_id, (JobState.RUNNING,), JobState.DONE)
        if job is not None:
            job.result, job.saved_path = result, saved_path
            job._size = job._size or result.input_size
            job.message = message or (f"Saved as {saved_path}" if saved_path else "")
            self._emit("job", (job.id,))
        return job

    def fail(self, job_id: int | None, message: str) -> Job | None:
        """The photo cannot be upscaled: its run failed, or (still waiting) its file cannot be read."""
        job = self._move(job_id, (JobState.WAITING, JobState.RUNNING), JobState.FAILED)
        if job is not None:
            job.message = message
            self._emit("job", (job.id,))
        return job

    def cancel(self, job_id: int | None, message: str) -> Job | None:
        """The user stopped the running photo; it can be retried."""
        job = self._move(job_id, (JobState.RUNNING,), JobState.CANCELLED)
        if job is not None:
            job.message = message
            self._emit("job", (job.id,))
        return job

    def saved(self, job_id: int, path: Path) -> Job | None:
        """The job's result is saved at ``path``."""
        job = self.get(job_id)
        if job is not None:
            job.saved_path, job.message = path, f"Saved as {path}"
            self._emit("job", (job.id,))
        return job

    def note_size(self, job_id: int, size: tuple[int, int]) -> Job | None:
        """The photo's (width, height), once read (the thumbnail or the view, whichever decodes it first): one
        event when it becomes known, none when it was known already."""
        job = self.get(job_id)
        if job is not None and job.size is None:
            job._size = size
            self._emit("job", (job.id,))
        return job

    def retry(self, ids: Iterable[int]) -> list[Job]:
        """Put finished jobs (done, failed, cancelled) back to waiting. A result still in memory, or saved
        (a batch released its pixels: the view reads them back), becomes the job's ``previous`` one (for
        comparing the two); an older previous result is dropped."""
        jobs = [self._jobs[i] for i in ids if i in self._jobs and self._jobs[i].state in RETRYABLE]
        for job in jobs:
            if job.in_memory or (job.result is not None and job.saved_path is not None):
                job.previous, job.previous_saved = job.result, job.saved_path
            job._state, job.message, job.result, job.saved_path = JobState.WAITING, "", None, None
        self._emit("job", (j.id for j in jobs))
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
        self._emit("job", (job.id,))
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
