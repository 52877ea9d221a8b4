"""Benchmark ``cookiepatcher update`` against ``cruft update`` and ``copier update``.

One command builds deterministic fixtures, times the three tools interleaved on identical
fresh copies of a project generated at template v1 (with local edits), checks every
result before its time counts, and prints medians, ranges, ratios, peak memory and
PASS/FAIL per target of issue #6::

    python benchmarks/run.py                  # full run (N = 60, 300, 1500, typical, check, fleet)
    python benchmarks/run.py --quick          # N = 60 + conflict + typical, 3 repeats, no fleet
    python benchmarks/run.py --self-check     # build the smallest fixtures and verify them
    python benchmarks/run.py --sizes 60,300 --repeat 3 --no-fleet

It needs Python >= 3.11, git and access to the package index (first run only: it creates
``benchmarks/.work/venvs/peers`` with pinned cruft and copier, and
``benchmarks/.work/venvs/cookiepatcher`` with this repository installed, not editable).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench_fixtures as F
import bench_setup as S
import bench_tools as T
from bench_report import Series, report, say
from bench_timing import run_update, time_check, time_fleet, time_scenario

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# --------------------------------------------------------------------------- tools
def setup_tools(work: Path, args: argparse.Namespace) -> tuple[list[T.Tool], str]:
    """The tools to benchmark (peers always; cookiepatcher when its ``update --help`` works)."""
    venvs = work / "venvs"
    T.ensure_venv(venvs / "peers", list(T.PEER_PINS), say)
    tools = T.peer_tools(venvs / "peers")
    note = ""
    if args.cookiepatcher:
        exe = Path(args.cookiepatcher)
    else:
        exe = venvs / "cookiepatcher" / "bin" / "cookiepatcher"
        # a regular install, as users have it (compiled modules; no editable-import hook)
        digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
        for path in sorted((REPO / "cookiepatcher").rglob("*.py")):
            digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
        try:
            T.ensure_venv(venvs / "cookiepatcher", [str(REPO)], say, stamp=digest.hexdigest())
        except RuntimeError as exc:
            note = f"cookiepatcher not benchmarked: {exc}"
    if not note:
        if T.works([str(exe), "update", "--help"]) and T.works([str(exe), "create", "--help"]):
            tools.append(T.cookiepatcher_tool(exe))
        else:
            note = f"cookiepatcher not benchmarked: `{exe} update --help` or `create --help` fails (engine not ready?)"
    wanted = set(args.tools.split(",")) if args.tools else None
    if wanted:
        tools = [t for t in tools if t.name in wanted]
    return tools, note


def versions(tools: list[T.Tool]) -> str:
    """One line naming the machine, Python, git and each tool's version."""
    parts = [f"{platform.machine()} {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores",
             platform.platform(terse=True), f"Python {platform.python_version()}",
             subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()]
    for tool in tools:
        py = tool.exe.parent / "python"
        dist = {"cookiepatcher": "cookiepatcher-engine"}.get(tool.name, tool.name)
        res = subprocess.run([str(py), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"], capture_output=True, text=True)
        parts.append(f"{tool.name} {res.stdout.strip() or '?'}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- self-check
def self_check(work: Path, args: argparse.Namespace) -> int:
    """Build the smallest fixtures twice, verify determinism, and verify each peer's
    generated project and update against the expectation (plus one wrong tree that the
    checker must reject). Returns the exit code (0 = all verified)."""
    failures: list[str] = []

    def verify(label: str, ok: bool, detail: str = "") -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail and not ok else ''}")
        if not ok:
            failures.append(label)

    tools, note = setup_tools(work, args)
    t0 = time.perf_counter()
    specs = [F.churn_spec(20), F.churn_spec(20, conflict=True)]
    print("self-check: fixtures")
    for spec in specs:
        sc = S.build_scenario(spec, work, tools, True, say)
        again = S.build_templates(spec, _fresh(work / "selfcheck"), True)[1]
        verify(f"{spec.name}: template shas identical across builds", again == sc.shas, f"{again} != {sc.shas}")
        v1 = F.template_v1(spec)
        verify(f"{spec.name}: {spec.n_files} files, {spec.n_changed} changed", len(v1) == spec.n_files and spec.n_changed == 4 + spec.n_edit, f"{len(v1)} files")
        for name, why in sc.problems.items():
            verify(f"{spec.name}: {name} generates the expected v1 project", False, why)
        for tool in tools:
            if tool.name not in sc.projects:
                continue
            m, problems = run_update(tool, sc, work, None, sc.root / f"selfcheck-{tool.name}.log", keep=True)
            verify(f"{spec.name}: {tool.name} update judged correct", not problems, "; ".join(problems))
            if tool.name == "cruft" and not spec.conflict:
                exp = sc.expect[tool.fmt]
                project = work / "runs" / tool.name / S.PROJECT
                tampered = T.Expectation({**exp.files, "README.md": b"tampered\n"}, exp.v2_shas, exp.renamed, exp.deleted, exp.conflict)
                verify(f"{spec.name}: checker rejects a wrong file", bool(T.judge(tool, project, m.rc, tampered)))
                (project / (exp.deleted or "README.md")).write_text("back\n")
                verify(f"{spec.name}: checker rejects a deleted file brought back", bool(T.judge(tool, project, m.rc, exp)))
                verify(f"{spec.name}: checker rejects a record not at v2", bool(T.judge(tool, sc.projects[tool.name], 0, exp)))
            shutil.rmtree(work / "runs" / tool.name, ignore_errors=True)
    print(f"self-check: {len(failures)} failure(s), {time.perf_counter() - t0:.1f} s (venv setup excluded)")
    if note:
        print(f"note: {note}")
    return 1 if failures else 0


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="60,300,1500", help="template sizes N for the 20%% change scenarios (default 60,300,1500)")
    p.add_argument("--typical", type=int, default=300, help="template size of the typical 5-file upgrade; 0 = skip (default 300)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per tool and scenario (default 5)")
    p.add_argument("--quick", action="store_true", help="N=60, its conflict variant and the typical upgrade, 3 repeats, no fleet")
    p.add_argument("--self-check", action="store_true", help="build the smallest fixtures and verify them and the checker")
    p.add_argument("--repeat-large", type=int, default=3, help="cap on the repeats of scenarios with N >= 1000 (default 3)")
    p.add_argument("--fleet", type=int, default=50, help="fleet size; 0 = skip the fleet (default 50)")
    p.add_argument("--fleet-repeat", type=int, default=1, help="timed runs of each fleet (default 1)")
    p.add_argument("--no-conflict", action="store_true", help="skip the conflicting fixture")
    p.add_argument("--tools", default="", help="comma list restricting the tools (cruft,copier,cookiepatcher)")
    p.add_argument("--cookiepatcher", default="", help="cookiepatcher executable to use instead of the benchmark's own venv")
    p.add_argument("--path-templates", action="store_true", help="give tools template paths instead of file:// URLs")
    p.add_argument("--workdir", default=str(HERE / ".work"), help="working dir (default benchmarks/.work)")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.fleet = "60", min(args.repeat, 3), 0
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when all results were correct (targets do not set the exit code)."""
    T.start_spawner()  # before this process grows: see bench_spawn
    args = parse_args(argv)
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if shutil.which("git") is None:
        print("git is required", file=sys.stderr)
        return 2
    if args.self_check:
        return self_check(work, args)
    tools, note = setup_tools(work, args)
    notes = [note] if note else []
    header = versions(tools)
    load0 = os.getloadavg()[0]
    say(header)
    specs: list[F.Spec] = [F.churn_spec(int(n)) for n in args.sizes.split(",") if n.strip()]
    if not args.no_conflict:
        specs.insert(1 if specs else 0, F.churn_spec(60, conflict=True))
    if args.typical:
        specs.append(F.typical_spec(args.typical))
    results: dict[str, dict[str, Series]] = {}
    scenarios: dict[str, S.Scenario] = {}
    for spec in specs:
        say(f"building {spec.name}: {spec.n_files} files, {spec.n_changed} changed")
        sc = scenarios[spec.name] = S.build_scenario(spec, work, tools, not args.path_templates, say)
        notes += [f"{spec.name}: {tool}: {why}" for tool, why in sc.problems.items()]
        repeat = min(args.repeat, args.repeat_large) if spec.n_files >= 1000 else args.repeat
        say(f"timing {spec.name} ({repeat} repeats)")
        results[spec.name] = time_scenario(sc, tools, work, repeat, warm=True)
    base = scenarios.get("n60") or next(iter(scenarios.values()))
    say("timing check")
    check = time_check(base, tools, work, max(args.repeat, 5))
    fleet: dict[str, Series] = {}
    if args.fleet:
        say(f"timing fleet of {args.fleet} on {base.spec.name}")
        fleet, fnote = time_fleet(base, tools, work, args.fleet, args.fleet_repeat)
        notes += [fnote] if fnote else []
    else:
        notes.append("fleet skipped (--fleet 0 or --quick)")
    notes.append("update runs start with an empty cache (as on a fresh CI machine); 'cookiepatcher+warm' reuses a primed cache")
    notes.append("peak RSS = ru_maxrss of the child's process tree (largest single process), from wait4")
    header += f"; load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    rows = report(results, {s.name: s for s in specs}, check, fleet, args.fleet, notes, header)
    if args.json:
        data = {"header": header, "targets": rows,
                "update": {n: {t: vars(s) for t, s in r.items()} for n, r in results.items()},
                "check": {t: vars(s) for t, s in check.items()}, "fleet": {t: vars(s) for t, s in fleet.items()}}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    say("done")
    wrong = any(s.failures for r in (*results.values(), check, fleet) for s in r.values())
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
