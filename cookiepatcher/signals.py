"""SIGTERM for the ``cookiepatcher`` program: a cancelled CI job stops a command as Ctrl-C
in a terminal does.

Python's default SIGTERM ends the process at once: its temporary folders stay, and a
running hook (and whatever the hook started) keeps running, holding the job's output
open. Ctrl-C in a terminal instead reaches the whole foreground process group and
raises ``KeyboardInterrupt``, which removes the temporary folders on its way out and
ends with exit code 130 (click's ``Abort``). :func:`stop_on_sigterm` makes SIGTERM do
the same: it passes the signal on to every process below this one, then raises
``KeyboardInterrupt``.
"""
from __future__ import annotations

import os
import signal
from typing import Any


def stop_on_sigterm() -> None:
    """Install the SIGTERM handler (main thread only, as Python requires)."""
    signal.signal(signal.SIGTERM, _terminated)


def ignore_sigterm() -> None:
    """Ignore SIGTERM from now on: once the command has finished, a late signal must not
    raise into the interpreter's shutdown (the exit code is already decided)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _terminated(signum: int, frame: Any) -> None:
    # once: a second SIGTERM must not interrupt the stop the first one started (its
    # KeyboardInterrupt raised inside this handler, or inside the cleanup)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:  # ended meanwhile
            pass
    raise KeyboardInterrupt


def descendants(root: int) -> list[int]:
    """The processes below ``root`` (children, their children, ...), parents before their
    children, read from ``/proc/<pid>/stat`` (Linux); ``[]`` where ``/proc`` is missing.

    A process whose parent ended meanwhile was adopted by another and is not listed.
    """
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    children: dict[int, list[int]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may itself hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 1:].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found
