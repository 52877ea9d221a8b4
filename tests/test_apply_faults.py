"""Fault injection: an update killed with SIGKILL at any phase loses nothing.

After the kill, ``git status`` works and ``git checkout -- .`` brings back every tracked
file byte for byte (once the ``index.lock`` a kill while writing leaves is removed, as
git's own message says); HEAD and the index are as before; untracked files the user had
are untouched. New files the killed update had already written can only show up as
untracked files in ``git status`` (and the next update reuses them).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import files_with_modes

N_FILES = 240
PHASES = ["render", "merge", "write-modified", "write-deleted", "write-added", "write-index"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project generated at v1 of a template whose v2 modifies, adds and deletes many files."""
    tpl = tmp_path / "template"
    slug = tpl / "{{cookiecutter.slug}}"
    (slug / "src").mkdir(parents=True)
    (tpl / "cookiecutter.json").write_text('{"slug": "svc"}\n')
    for i in range(N_FILES):
        (slug / "src" / f"m{i}.py").write_text(f"# module {i} of {{{{ cookiecutter.slug }}}}\nVALUE = {i}\n" * 20)
    _git(tpl, "init", "-q")
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v1")
    _git(tpl, "tag", "v1")
    for i in range(0, N_FILES, 3):  # a third modified
        (slug / "src" / f"m{i}.py").write_text(f"# module {i} v2\nVALUE = {i * 2}\n" * 20)
    for i in range(1, N_FILES, 6):  # a sixth deleted
        (slug / "src" / f"m{i}.py").unlink()
    (slug / "new").mkdir()
    for i in range(N_FILES // 3):  # a third as many added
        (slug / "new" / f"n{i}.txt").write_text(f"new {i}\n" * 50)
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v2")
    _git(tpl, "tag", "v2")
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "cookiepatcher", "create", str(tpl), "--checkout", "v1", "--no-input",
                    "--output-dir", str(out)], check=True, capture_output=True)
    proj = out / "svc"
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "generated")
    with open(proj / "src" / "m5.py", "a") as fh:  # a committed user edit
        fh.write("# user edit\n")
    _git(proj, "commit", "-qam", "user edit")
    (proj / "notes.txt").write_text("untracked scratch notes\n")  # untracked, must survive
    return proj


# Runs the update through the public API in a child process that SIGKILLs itself when
# the given phase starts (write phases: at once, so every boundary between the write
# steps is hit exactly) or shortly after (render, merge: from inside the phase).
_KILLER = """
import os, signal, sys, threading
from pathlib import Path
from cookiepatcher.update import update_project
target, delay = sys.argv[1], float(sys.argv[2])
def on_phase(name):
    print(name, file=sys.stderr, flush=True)
    if name == target:
        if delay:
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
        else:
            os.kill(os.getpid(), signal.SIGKILL)
update_project(Path("."), checkout="v2", no_input=True, on_phase=on_phase)
"""


def _kill_during(proj: Path, phase: str) -> str:
    """Run an update that is SIGKILLed in ``phase``; return the last phase it announced."""
    delay = {"render": "0.05", "merge": "0.005"}.get(phase, "0")
    tmp = proj.parent / "tmp"  # a killed update cannot remove its scratch folder
    tmp.mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _KILLER, phase, delay], cwd=proj, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    seen = [line for line in proc.stderr.splitlines() if line in PHASES]
    return seen[-1] if seen else ""


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_during_update_is_recoverable(project: Path, phase: str) -> None:
    before = files_with_modes(project)
    head = _git(project, "rev-parse", "HEAD")
    tracked = set(_git(project, "ls-files").split("\n")) - {""}

    last = _kill_during(project, phase)
    assert last == phase, f"the update never reached {phase} (last phase {last!r})"

    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    lock = project / ".git" / "index.lock"
    # the update holds the index's lock while it writes, as git merge does; git's own
    # message then says to remove it
    assert lock.exists() == phase.startswith("write-"), phase
    blocked = subprocess.run(["git", "checkout", "--", "."], cwd=project, capture_output=True, text=True)
    if lock.exists():
        assert blocked.returncode != 0 and "index.lock" in blocked.stderr and "remove the file" in blocked.stderr
        lock.unlink()
    subprocess.run(["git", "checkout", "--", "."], cwd=project, check=True, capture_output=True)

    assert _git(project, "rev-parse", "HEAD") == head
    assert _git(project, "diff", "--cached", "--name-only") == ""
    assert _git(project, "ls-files", "-u") == ""
    after = files_with_modes(project)
    for path in tracked | {"notes.txt"}:
        assert after.get(path) == before[path], f"{path} not restored"
    leftovers = set(after) - set(before)
    assert all(p.startswith("new/") for p in leftovers), leftovers
    untracked = {ln[3:] for ln in _git(project, "status", "--porcelain", "-uall").splitlines() if ln.startswith("??")}
    assert leftovers <= untracked

    # the next update runs normally over the leftovers and lands the template change
    rerun = subprocess.run([sys.executable, "-m", "cookiepatcher", "update", "--checkout", "v2", "--no-input"],
                           cwd=project, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert (project / "new" / "n0.txt").read_text() == "new 0\n" * 50
    assert not (project / "src" / "m1.py").exists()
    assert (project / "src" / "m5.py").read_bytes() == before["src/m5.py"][0]
    assert (project / "notes.txt").read_text() == "untracked scratch notes\n"
