"""A run's status: one enum for the engine, the store, sweeps and the page.

Members are strings ("finished" == Status.FINISHED), so the store keeps plain text and
JSON carries them as they are.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    IDLE = "idle"  # the runner has no run
    STARTING = "starting"  # created, loading its data
    CREATED = "created"  # a loop built, not yet fitted
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # trained to its last epoch
    STOPPED = "stopped"  # by the user, or a sweep that did not come back to it
    DIVERGED = "diverged"  # its loss exploded (see engine/loop.py)
    FAILED = "failed"  # an error; the run's `error` says which
    PRUNED = "pruned"  # a sweep stopped it early: not promising
    INTERRUPTED = "interrupted"  # its process died (the store finds it without heartbeat)


TERMINAL = frozenset({Status.FINISHED, Status.STOPPED, Status.DIVERGED, Status.FAILED,
                      Status.PRUNED, Status.INTERRUPTED})  # a run in one of these is over
LIVE = frozenset({Status.RUNNING, Status.PAUSED})  # a saved run some process still owns
ACTIVE = frozenset({Status.STARTING, Status.RUNNING, Status.PAUSED})  # the runner has a run
TROUBLE = frozenset({Status.DIVERGED, Status.FAILED})  # worth a reason in red
SAVED = LIVE | TERMINAL  # what the store keeps
