"""The timed parts of the benchmark: updates (interleaved), ``check`` and the fleet.

Every timed run's result is judged (:func:`bench_tools.judge`) before its time counts.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import bench_fixtures as F
import bench_setup as S
import bench_tools as T
from bench_report import Series, say

# --------------------------------------------------------------------------- update runs
def run_update(tool: T.Tool, sc: S.Scenario, work: Path, cache: Path | None, log: Path,
               keep: bool = False) -> tuple[T.Measure, list[str]]:
    """Update a fresh copy of ``tool``'s project; return the measure and the problems found.

    ``cache`` is the cache dir to use (warm runs); ``None`` gives the run a new empty one.
    ``keep`` leaves the updated copy in ``work/runs/<tool>/`` instead of removing it.
    """
    runs = work / "runs" / tool.name
    project = S.fresh_copy(sc.projects[tool.name], runs)
    cold = runs / "cache"
    env = T.tool_env(S.home_of(work, tool), cache or cold)
    env["COOKIEPATCHER_CACHE_DIR"] = str((cache or cold) / "cookiepatcher")
    m = T.measure(tool.update_cmd(), project, env, log)
    problems = T.judge(tool, project, m.rc, sc.expect[tool.fmt])
    if not keep:
        shutil.rmtree(runs, ignore_errors=True)
    return m, problems


def time_scenario(sc: S.Scenario, tools: list[T.Tool], work: Path, repeat: int, warm: bool) -> dict[str, Series]:
    """Time every tool's update of ``sc`` ``repeat`` times, interleaved, rotating the order.

    With ``warm``, cookiepatcher is also timed with a cache primed by one untimed update
    (series ``cookiepatcher+warm``).
    """
    lanes: list[tuple[str, T.Tool, Path | None]] = [(t.name, t, None) for t in tools if t.name in sc.projects]
    cp = next((t for t in tools if t.name == "cookiepatcher" and t.name in sc.projects), None)
    if warm and cp:
        warm_cache = sc.root / "warm-cache"
        run_update(cp, sc, work, warm_cache, sc.root / "update-cookiepatcher+warm.log")
        lanes.append(("cookiepatcher+warm", cp, warm_cache))
    series = {name: Series() for name, _, _ in lanes}
    for r in range(repeat):
        order = lanes[r % len(lanes):] + lanes[: r % len(lanes)]
        for name, tool, cache in order:
            m, problems = run_update(tool, sc, work, cache, sc.root / f"update-{name}.log")
            s = series[name]
            if problems:
                s.failures.append("; ".join(problems))
                say(f"  {sc.spec.name} {name} run {r + 1}: WRONG RESULT: {'; '.join(problems)}")
            else:
                s.times.append(m.wall)
                s.rss_kib.append(m.maxrss_kib)
                s.cpu.append(m.cpu)
        say(f"  {sc.spec.name} repeat {r + 1}/{repeat}: " + ", ".join(
            f"{n} {series[n].times[-1]:.2f}s" if series[n].times else f"{n} -" for n, _, _ in lanes))
    return series


# --------------------------------------------------------------------------- check
def time_check(sc: S.Scenario, tools: list[T.Tool], work: Path, repeat: int) -> dict[str, Series]:
    """Time ``check --checkout v2`` on the v1 project (must exit 1: out of date) after one
    untimed run that fills the cache; cruft (no cache) is timed the same way for reference."""
    out: dict[str, Series] = {}
    for tool in tools:
        if tool.name not in ("cookiepatcher", "cruft") or tool.name not in sc.projects:
            continue
        cmd = [str(tool.exe), "check"]
        if "--checkout" in T.help_text([str(tool.exe), "check", "--help"]):
            cmd += ["--checkout", "v2"]
        project = S.fresh_copy(sc.projects[tool.name], work / "runs" / f"check-{tool.name}")
        cache = sc.root / "check-cache"
        env = T.tool_env(S.home_of(work, tool), cache)
        env["COOKIEPATCHER_CACHE_DIR"] = str(cache / "cookiepatcher")
        log = sc.root / f"check-{tool.name}.log"
        T.measure(cmd, project, env, log)
        s = out[tool.name] = Series()
        for _ in range(repeat):
            m = T.measure(cmd, project, env, log)
            if m.rc == 1:  # the project (v1) is behind v2: both tools must say so with exit 1
                s.times.append(m.wall)
                s.rss_kib.append(m.maxrss_kib)
                s.cpu.append(m.cpu)
            else:
                s.failures.append(f"exit code {m.rc}, want 1 (out of date)")
        shutil.rmtree(project.parent, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- fleet
FLEET_OWNER = "bench"


def service_author(i: int) -> str:
    """The ``author`` answer of fleet service ``i``: every service has answers of its own,
    as real services do, so no two share a render."""
    return f"Dev {i:03d}"


def as_service(files: dict[str, bytes], i: int) -> dict[str, bytes]:
    """Expected files of fleet service ``i``: the fixture's, with its own author."""
    default = F.CONTEXT["author"].encode()
    return {path: data.replace(default, service_author(i).encode()) for path, data in files.items()}


def build_fleet(sc: S.Scenario, tool: T.Tool, root: Path, size: int) -> list[str]:
    """``size`` bare service repositories for ``tool``: its pristine project (user edits
    included), each with its own ``author`` answer (as if generated with it: the answer
    only appears in file contents and the record), following the template's default
    branch, which is at v2; their ``file://`` URLs."""
    urls = []
    default = F.CONTEXT["author"].encode()
    for i in range(size):
        work = root / f"work{i:03d}"
        F.git(root, "clone", "-q", str(sc.projects[tool.name]), str(work))
        for path in work.rglob("*"):
            if path.is_file() and ".git" not in path.relative_to(work).parts:
                data = path.read_bytes()
                if default in data:
                    path.write_bytes(data.replace(default, service_author(i).encode()))
        record = work / tool.record
        data = json.loads(record.read_text())
        data["checkout"] = None
        if tool.name == "cookiepatcher":
            record.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        else:
            record.write_text(json.dumps(data, indent=2) + "\n")
        F.git(work, "commit", "-q", "-am", f"service {i}: its own author; follow the template's default branch", date=F.USER_DATE)
        bare = root / f"svc{i:03d}.git"
        F.git(root, "clone", "-q", "--bare", str(work), str(bare))
        shutil.rmtree(work)
        urls.append(bare.as_uri())
    return urls


def time_fleet(sc: S.Scenario, tools: list[T.Tool], work: Path, size: int, repeat: int) -> tuple[dict[str, Series], str]:
    """Time bringing ``size`` service repositories to v2.

    cruft: a shell loop that clones each repository, runs ``cruft update`` and commits.
    cookiepatcher: ``cookiepatcher fleet --repos LIST --dry-run`` (it clones each
    repository, updates it and commits in a scratch clone; ``--dry-run`` skips the push
    and the forge API). Every service has its own ``author`` answer (:func:`build_fleet`),
    so no render is shared between them. cruft's clones are judged file by file;
    cookiepatcher's scratch clones are gone, so its JSON report must list every
    repository as a request that would be opened, without conflicts.
    """
    out: dict[str, Series] = {}
    by_name = {t.name: t for t in tools if t.name in sc.projects}
    cp = by_name.get("cookiepatcher")
    if cp is not None and not T.works([str(cp.exe), "fleet", "--help"]):
        by_name.pop("cookiepatcher")
        note = "cookiepatcher fleet skipped: `cookiepatcher fleet --help` fails"
    else:
        note = "" if cp else "cookiepatcher fleet skipped: cookiepatcher not available"
    lanes = [by_name[n] for n in ("cruft", "cookiepatcher") if n in by_name]
    if not lanes:
        return out, note
    fleet_root = work / "runs" / "fleet"
    shutil.rmtree(fleet_root, ignore_errors=True)
    urls = {}
    for tool in lanes:
        (fleet_root / tool.name).mkdir(parents=True)
        urls[tool.name] = build_fleet(sc, tool, fleet_root / tool.name, size)
    for r in range(repeat):
        for tool in lanes if r % 2 == 0 else lanes[::-1]:
            run = fleet_root / f"run-{tool.name}"
            shutil.rmtree(run, ignore_errors=True)
            run.mkdir()
            env = T.tool_env(S.home_of(work, tool), run / "cache")
            env["COOKIEPATCHER_CACHE_DIR"] = str(run / "cache" / "cookiepatcher")
            log = sc.root / f"fleet-{tool.name}.log"
            if tool.name == "cruft":
                update = " ".join(tool.update_cmd()).replace(" --checkout v2", "")
                script = ('i=0; for url in "$@"; do i=$((i+1)); d="clones/svc$i"; '
                          f'git clone -q --no-tags "$url" "$d" && (cd "$d" && {update} && git add -A && git commit -qm "template update") || exit 1; done')
                m = T.measure(["bash", "-c", script, "fleet", *urls[tool.name]], run, env, log)
                clones = sorted((run / "clones").glob("svc*"), key=lambda c: int(c.name[3:])) if (run / "clones").exists() else []
                exp = sc.expect[tool.fmt]
                problems = [f"{c.name}: {p}" for n, c in enumerate(clones)
                            for p in T.judge(tool, c, m.rc, dataclasses.replace(exp, files=as_service(exp.files, n)))]
                if len(clones) != size:
                    problems.insert(0, f"{len(clones)} of {size} repositories updated (exit {m.rc})")
            else:
                listing = run / "repos.txt"
                listing.write_text("".join(f"{FLEET_OWNER}/svc{i:03d} {u}\n" for i, u in enumerate(urls[tool.name])))
                cmd = [str(tool.exe), "fleet", "--repos", str(listing), "--forge", "github", "--dry-run", "--report", str(run / "report.json")]
                m = T.measure(cmd, run, env, log)
                problems = fleet_report_problems(run / "report.json", size, m.rc)
            s = out.setdefault(tool.name, Series())
            if problems:
                s.failures.append(f"{len(problems)} problem(s), first: {problems[0]}")
                say(f"  fleet {tool.name} run {r + 1}: WRONG RESULT: {problems[0]} (+{len(problems) - 1} more)")
            else:
                s.times.append(m.wall)
                s.rss_kib.append(m.maxrss_kib)
                s.cpu.append(m.cpu)
                say(f"  fleet of {size} {tool.name} run {r + 1}: {m.wall:.2f}s")
            shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(fleet_root, ignore_errors=True)
    return out, note


def fleet_report_problems(report: Path, size: int, rc: int) -> list[str]:
    """Problems in a ``cookiepatcher fleet --dry-run --report`` result; empty = every
    repository would get a request, without conflicts."""
    if rc != 0:
        return [f"exit code {rc}, want 0"] + fleet_report_problems(report, size, 0)[:3] if report.exists() else [f"exit code {rc}, no report"]
    try:
        data = json.loads(report.read_text())
        repos = data["repositories"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"unreadable report: {exc}"]
    problems = [f"{r.get('repo')}: {r.get('status')} {r.get('reason', '')}".strip() for r in repos
                if r.get("status") != "dry-run" or r.get("conflicts")]
    if len(repos) != size:
        problems.insert(0, f"{len(repos)} of {size} repositories in the report")
    return problems


