"""The job's scratch folders on this machine's disk, and their clean-up.

A job's run works in a folder named by the job; an analysis task (``jobs.analysis_task``) in
one of its own process, named by the job too, since workers on one machine share the scratch
folder and a redelivered copy of a task may run beside another. A killed task leaves its folder
behind: the job's last run clears those. Whatever is left (a process killed with its job)
goes with the dispatcher's clean-up, or with retention's purge of old folders.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..settings import Settings


def job_scratch(settings: Settings, job_id: str) -> Path:
    """The folder a run of ``job_id`` works in."""
    return settings.scratch_dir / job_id


def task_scratch(settings: Settings, job_id: str, index: int) -> Path:
    """The folder this process analyses source ``index`` of ``job_id`` in, as a task."""
    return settings.scratch_dir / f"{job_id}-source-{index}-{os.getpid()}"


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def clear_job_scratch(settings: Settings, job_id: str) -> None:
    """What a run of ``job_id`` left in its folder: its process was ended, or died."""
    clear(job_scratch(settings, job_id))


def clear_task_scratch(settings: Settings, job_id: str) -> None:
    """Folders analysis tasks of the job left behind on this machine (killed)."""
    for folder in settings.scratch_dir.glob(f"{job_id}-source-*"):
        clear(folder)


def purge_old_scratch(settings: Settings, before: float) -> None:
    """Scratch folders of attempts that died long ago."""
    if not settings.scratch_dir.is_dir():
        return
    for folder in settings.scratch_dir.iterdir():
        try:
            if folder.stat().st_mtime < min(before, time.time() - 3600):
                clear(folder)
        except FileNotFoundError:
            continue
