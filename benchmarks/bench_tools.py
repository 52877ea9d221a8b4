"""How the benchmark drives each tool, measures one run, and judges its result.

Tools run non-interactively from their own virtualenvs, with a private ``HOME`` and a
pinned git identity, so nothing from the user's configuration leaks in:

- cruft: ``cruft create TEMPLATE --checkout v1 --no-input`` then, in the project,
  ``cruft update --checkout v2 --skip-apply-ask --allow-untracked-files``.
- copier: ``copier copy --vcs-ref v1 --defaults TEMPLATE DST`` then
  ``copier update --vcs-ref v2 --defaults --conflict inline``.
- cookiepatcher: ``cookiepatcher create TEMPLATE --checkout v1 --no-input --output-dir OUT``
  then ``cookiepatcher update --checkout v2 --no-input`` (exit 1 = conflicts reported).

A run is measured with ``os.wait4`` in a small helper process (:mod:`bench_spawn`): wall
time around spawn-to-reap, and ``ru_maxrss`` of the child's whole process tree (the largest
single process in it, as ``/usr/bin/time`` reports), in KiB.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bench_fixtures as F

PEER_PINS = ("cruft==2.16.0", "copier==9.19.1")
TEXT_EXTENSIONS = (".py", ".md", ".yaml", ".toml", ".js")


@dataclass
class Measure:
    """One measured process: exit code, wall seconds, peak RSS (KiB), CPU seconds."""

    rc: int
    wall: float
    maxrss_kib: int
    cpu: float


class _Spawner:
    """The :mod:`bench_spawn` process, started once while the benchmark is still small."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bench_spawn.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Measure:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"cmd": cmd, "cwd": str(cwd), "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark's spawner process died")
        return Measure(**json.loads(line))


_spawner: _Spawner | None = None


def start_spawner() -> None:
    """Start the small process that runs every measured command (call first thing)."""
    global _spawner
    if _spawner is None:
        _spawner = _Spawner()


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Measure:
    """Run ``cmd`` in ``cwd`` with stdin closed, output appended to ``log``, and measure it.

    The command is started by the spawner process (see :mod:`bench_spawn`) and reaped
    with ``os.wait4``: wall seconds from spawn to exit, ``ru_maxrss`` (KiB) and CPU
    seconds of its process tree.
    """
    start_spawner()
    assert _spawner is not None
    return _spawner.run(cmd, cwd, env, log)


def tool_env(home: Path, cache: Path) -> dict[str, str]:
    """Environment for a tool run: private HOME and cache dir, pinned git identity, no colour."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    return {**keep, **F.GIT_ENV, "HOME": str(home), "XDG_CACHE_HOME": str(cache), "XDG_CONFIG_HOME": str(home / ".config"),
            "NO_COLOR": "1", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1", "GIT_TERMINAL_PROMPT": "0"}


@dataclass
class Tool:
    """One tool under test.

    Attributes:
        name: ``cruft``, ``copier`` or ``cookiepatcher``.
        exe: its console script.
        fmt: template format it reads: ``cc`` (Cookiecutter) or ``copier``.
        record: the record file it keeps in the project.
    """

    name: str
    exe: Path
    fmt: str
    record: str

    def create_cmd(self, template: Path, out: Path) -> list[str]:
        """The command generating the project at v1 under ``out`` (project folder ``bench_service``)."""
        if self.name == "cruft":
            return [str(self.exe), "create", str(template), "--checkout", "v1", "--no-input", "--output-dir", str(out)]
        if self.name == "copier":
            return [str(self.exe), "copy", "--vcs-ref", "v1", "--defaults", "--quiet", str(template), str(out / F.CONTEXT["project_slug"])]
        return [str(self.exe), "create", str(template), "--checkout", "v1", "--no-input", "--output-dir", str(out)]

    def update_cmd(self) -> list[str]:
        """The command updating the project in the current directory to v2."""
        if self.name == "cruft":
            return [str(self.exe), "update", "--checkout", "v2", "--skip-apply-ask", "--allow-untracked-files"]
        if self.name == "copier":
            return [str(self.exe), "update", "--vcs-ref", "v2", "--defaults", "--conflict", "inline", "--quiet"]
        return [str(self.exe), "update", "--checkout", "v2", "--no-input"]

    def recorded_commit(self, project: Path) -> str:
        """The template version the project's record names after an update ('' if unreadable)."""
        path = project / self.record
        try:
            text = path.read_text()
        except OSError:
            return ""
        if self.name == "copier":
            m = re.search(r"^_commit:\s*['\"]?([^'\"\s]+)", text, re.M)
            return m.group(1) if m else ""
        try:
            return str(json.loads(text).get("commit", ""))
        except (json.JSONDecodeError, AttributeError):
            return ""


def peer_tools(venv: Path) -> list[Tool]:
    """cruft and copier from the peers' virtualenv ``venv``."""
    return [Tool("cruft", venv / "bin" / "cruft", "cc", ".cruft.json"), Tool("copier", venv / "bin" / "copier", "copier", ".copier-answers.yml")]


def cookiepatcher_tool(exe: Path) -> Tool:
    """cookiepatcher from its console script ``exe``."""
    return Tool("cookiepatcher", exe, "cc", "cookiepatcher.json")


def ensure_venv(venv: Path, requirements: list[str], say: Callable[[str], None], stamp: str = "") -> None:
    """Create ``venv`` and pip-install ``requirements`` unless a marker says it is done.

    ``stamp`` is stored in the marker too (e.g. a hash of ``pyproject.toml``): when it
    changes, the requirements are installed again.

    Raises:
        RuntimeError: venv creation or pip failed (pip's last lines in the message).
    """
    marker = venv / ".bench-installed"
    wanted = "\n".join([*requirements, stamp])
    if marker.exists() and marker.read_text() == wanted:
        return
    say(f"setting up {venv} ({' '.join(requirements)}) ...")
    if not (venv / "bin" / "python").exists():
        subprocess.run([shutil.which("python3") or "python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    res = subprocess.run([*pip, *requirements], capture_output=True, text=True)
    if res.returncode == 0 and marker.exists():
        # same version number, new code (a local source tree): install it again, without its dependencies
        res = subprocess.run([*pip, "--no-deps", "--force-reinstall", *requirements], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"pip install into {venv} failed:\n" + "\n".join((res.stdout + res.stderr).splitlines()[-15:]))
    marker.write_text(wanted)


def works(cmd: list[str], env: dict[str, str] | None = None) -> bool:
    """True when ``cmd`` (a ``--help`` call) exits 0 within 60 s."""
    try:
        return subprocess.run(cmd, capture_output=True, env=env, timeout=60, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def help_text(cmd: list[str], env: dict[str, str] | None = None) -> str:
    """The output of a ``--help`` call ('' when it fails)."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout + res.stderr if res.returncode == 0 else ""


# --------------------------------------------------------------------------- checks
def tree(project: Path) -> dict[str, bytes]:
    """Every file under ``project`` outside ``.git``, as ``{posix relative path: bytes}``."""
    out = {}
    for path in project.rglob("*"):
        rel = path.relative_to(project)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        out[rel.as_posix()] = path.read_bytes()
    return out


def has_conflict(project: Path, rel: str) -> bool:
    """The conflict on ``rel`` is visible: markers in it, a ``.rej`` beside it, or an unmerged index entry."""
    path = project / rel
    if path.exists() and b"<<<<<<<" in path.read_bytes():
        return True
    if (project / (rel + ".rej")).exists():
        return True
    res = subprocess.run(["git", "ls-files", "-u", "--", rel], cwd=project, capture_output=True, text=True)
    return bool(res.stdout.strip())


@dataclass
class Expectation:
    """What a correct update of one scenario's project produces."""

    files: dict[str, bytes]  # expected files (record and conflict file excluded)
    v2_shas: set[str]  # accepted recorded versions ("v2" and its sha)
    renamed: tuple[str, str] | None  # rendered (old, new) paths
    deleted: str | None
    conflict: str | None  # rendered path of the conflicting file


def expectation(spec: F.Spec, v2: dict[str, F.TFile], plan: F.Plan, v2_sha: str) -> Expectation:
    """Build the :class:`Expectation` of ``spec`` (``v2_sha`` = the template's v2 commit)."""
    ren = (F.render(plan.renamed[0], "out"), F.render(plan.renamed[1], "out")) if plan.renamed else None
    return Expectation(
        files=F.expected_after_update(spec, v2, plan),
        v2_shas={"v2", v2_sha},
        renamed=ren,
        deleted=F.render(plan.deleted, "out") if plan.deleted else None,
        conflict=F.render(plan.user_conflict, "out") if plan.user_conflict else None,
    )


def judge(tool: Tool, project: Path, rc: int, exp: Expectation) -> list[str]:
    """Problems with ``tool``'s update of ``project`` (exit code ``rc``); empty = correct.

    Checks: exit code (0, or for cookiepatcher 1 when a conflict is expected), every
    expected file's bytes (merged edits, additions, binary), the deleted file gone, the
    renamed file present at its new path, no stray files, the record names v2, and on the
    conflicting fixture that the conflict is visible in the tree.
    """
    problems: list[str] = []
    if exp.conflict:
        if tool.name == "cookiepatcher" and rc != 1:
            problems.append(f"exit code {rc}, want 1 (conflicts)")
        elif tool.name != "cookiepatcher" and rc not in (0, 1):
            problems.append(f"exit code {rc}")
        if not has_conflict(project, exp.conflict):
            problems.append(f"conflict on {exp.conflict} not reported (no markers, .rej or unmerged entry)")
    elif rc != 0:
        problems.append(f"exit code {rc}, want 0")
    got = tree(project)
    got.pop(tool.record, None)
    if exp.conflict:
        got.pop(exp.conflict, None)
        got.pop(exp.conflict + ".rej", None)
    if exp.renamed and exp.renamed[0] in got and exp.renamed[1] in got:
        got.pop(exp.renamed[0])  # rename not followed but new file present: accepted
    if exp.deleted and exp.deleted in got:
        problems.append(f"deleted file {exp.deleted} still present")
        got.pop(exp.deleted)
    missing = sorted(set(exp.files) - set(got))
    extra = sorted(set(got) - set(exp.files))
    wrong = sorted(p for p in exp.files if p in got and got[p] != exp.files[p])
    if missing:
        problems.append(f"{len(missing)} file(s) missing: {', '.join(missing[:3])}")
    if extra:
        problems.append(f"{len(extra)} unexpected file(s): {', '.join(extra[:3])}")
    if wrong:
        problems.append(f"{len(wrong)} file(s) with wrong content: {', '.join(wrong[:3])}")
    recorded = tool.recorded_commit(project)
    if recorded not in exp.v2_shas:
        problems.append(f"record names {recorded or 'nothing'}, want v2")
    return problems
