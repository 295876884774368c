"""Test-only crash points: the system tests kill a process at an exact step of a job's life.

A crash point does nothing unless ``APS_TEST_FAULT`` names it, so production never
triggers one; the tests set it on the one process they mean to crash. Signals from
outside cannot hit "after the commit, before the publish" reliably, hence these hooks.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

#: Exit status of a process stopped at a crash point (tests check it was this one).
CRASH_EXIT = 86

#: The API process, right after the transaction that stored a new job and its outbox row.
AFTER_SUBMIT_COMMIT = "crash_after_submit_commit"
#: The relay, after it claimed outbox rows (committed) and before publishing them.
BEFORE_PUBLISH = "crash_before_publish"


def crash_point(name: str) -> None:
    """Exit the whole process at once, as a power cut would, when ``name`` is armed."""
    if os.environ.get("APS_TEST_FAULT") != name:
        return
    sys.stderr.write(f"aps: test fault {name}: exiting with {CRASH_EXIT}\n")
    sys.stderr.flush()
    os._exit(CRASH_EXIT)
