"""SIGTERM handling of the program (:mod:`cookiepatcher.signals`); the whole path through
an update is in test_cli.py (`test_a_terminated_update_stops_as_ctrl_c_does`)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cookiepatcher import signals

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")


def test_descendants_lists_children_and_their_children() -> None:
    # a shell (child) that starts a sleep (grandchild) and waits for it
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(proc.stdout.readline())
        below = signals.descendants(os.getpid())
        assert proc.pid in below and grandchild in below and below.index(proc.pid) < below.index(grandchild)
        assert signals.descendants(proc.pid) == [grandchild]
        assert signals.descendants(grandchild) == []
    finally:
        subprocess.run(["kill", str(proc.pid), str(grandchild)])
        proc.wait()


_SCRIPT = """
import os, signal, subprocess, sys
from cookiepatcher import signals
signals.stop_on_sigterm()
child = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
grandchild = int(child.stdout.readline())
print(child.pid, grandchild, flush=True)
try:
    os.kill(os.getpid(), signal.SIGTERM)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted", flush=True)
os.kill(os.getpid(), signal.SIGTERM)  # a second one, while stopping: ignored
child.wait()
print("second ignored", flush=True)
"""


def test_sigterm_interrupts_once_and_stops_every_process_below() -> None:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=20)
    assert time.monotonic() - start < 10, "a process below outlived the signal"
    pids, *rest = proc.stdout.splitlines()
    assert rest == ["interrupted", "second ignored"], (proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    for pid in map(int, pids.split()):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                assert stat.read().split()[2] == "Z", f"{pid} still runs"
        except FileNotFoundError:
            pass
