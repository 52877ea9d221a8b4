"""Building the benchmark's working tree: template repositories and v1 projects per tool.

Layout under the work dir (``benchmarks/.work`` by default, git-ignored)::

    venvs/peers/             cruft and copier (pinned, from the package index)
    venvs/cookiepatcher/     this repository installed (a regular install, reinstalled when its code changes)
    home/<tool>/             the HOME each tool runs with
    fixtures/<scenario>/tpl-cc.git, tpl-copier.git     bare template repos (tags v1, v2)
    fixtures/<scenario>/projects/<tool>/bench_service  the user's project (v1 + local edits)
    runs/                    fresh copies being updated (removed after each run)
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bench_fixtures as F
import bench_tools as T

PROJECT = F.CONTEXT["project_slug"]


@dataclass
class Scenario:
    """A built scenario: its spec, template locations, pristine projects and expectation."""

    spec: F.Spec
    root: Path
    templates: dict[str, str]  # fmt ("cc"/"copier") -> location given to the tools
    shas: dict[str, dict[str, str]]  # fmt -> {"v1": sha, "v2": sha}
    projects: dict[str, Path]  # tool name -> pristine project folder
    expect: dict[str, T.Expectation]  # fmt -> expectation
    problems: dict[str, str]  # tool name -> why its fixture could not be built


def build_templates(spec: F.Spec, root: Path, as_url: bool) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, T.Expectation]]:
    """Write ``spec``'s template in both formats as bare repos under ``root``.

    Args:
        as_url: hand the tools ``file://`` URLs (each tool then clones or mirrors the
            template as it would a remote one) instead of plain paths.

    Returns:
        (locations by format, ``{"v1","v2"}`` shas by format, expectations by format).
    """
    v1 = F.template_v1(spec)
    plan = F.plan(spec, v1)
    v2 = F.template_v2(spec, v1, plan)
    templates, shas, expect = {}, {}, {}
    for fmt, make in (("cc", F.cookiecutter_tree), ("copier", F.copier_tree)):
        work = root / f"tpl-{fmt}"
        shas[fmt] = F.commit_versions(work, make(v1), make(v2))
        bare = root / f"tpl-{fmt}.git"
        F.git(root, "clone", "-q", "--bare", str(work), str(bare))
        shutil.rmtree(work)
        templates[fmt] = bare.as_uri() if as_url else str(bare)
        expect[fmt] = T.expectation(spec, v2, plan, shas[fmt]["v2"])
    return templates, shas, expect


def make_project(tool: T.Tool, spec: F.Spec, template: str, dest_parent: Path, env: dict[str, str], log: Path) -> Path:
    """Generate ``tool``'s project at v1, commit it, make and commit the user's edits.

    Raises:
        RuntimeError: the tool failed, or its v1 project differs from the expected render.
    """
    dest_parent.mkdir(parents=True, exist_ok=True)
    m = T.measure(tool.create_cmd(template, dest_parent), dest_parent, env, log)  # type: ignore[arg-type]
    project = dest_parent / PROJECT
    if m.rc != 0 or not project.is_dir():
        raise RuntimeError(f"{tool.name} create failed (exit {m.rc}); see {log}")
    v1 = F.template_v1(spec)
    got = T.tree(project)
    got.pop(tool.record, None)
    want = F.rendered(v1)
    bad = sorted(set(got) ^ set(want)) + sorted(p for p in want if p in got and got[p] != want[p])
    if bad:
        raise RuntimeError(f"{tool.name}'s v1 project differs from the expected render: {', '.join(bad[:3])}")
    if not (project / ".git").exists():
        F.git(project, "init", "-q", "-b", "main")
    F.git(project, "add", "-A")
    F.git(project, "commit", "-q", "--allow-empty", "-m", "generated at template v1", date=F.USER_DATE)
    F.apply_user_edits(project, F.plan(spec, v1))
    F.git(project, "add", "-A")
    F.git(project, "commit", "-q", "-m", "local changes", date=F.USER_DATE)
    return project


def build_scenario(spec: F.Spec, work: Path, tools: list[T.Tool], as_url: bool, say: Callable[[str], None]) -> Scenario:
    """Build ``spec``'s templates and each tool's pristine project under ``work/fixtures``."""
    root = work / "fixtures" / spec.name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    templates, shas, expect = build_templates(spec, root, as_url)
    projects, problems = {}, {}
    for tool in tools:
        env = T.tool_env(home_of(work, tool), root / "create-cache")
        try:
            projects[tool.name] = make_project(tool, spec, templates[tool.fmt], root / "projects" / tool.name, env, root / f"create-{tool.name}.log")
        except RuntimeError as exc:
            problems[tool.name] = str(exc)
            say(f"  {spec.name}: {exc}")
    return Scenario(spec, root, templates, shas, projects, expect, problems)


def home_of(work: Path, tool: T.Tool) -> Path:
    """The private HOME ``tool`` runs with (created on first use)."""
    home = work / "home" / tool.name
    home.mkdir(parents=True, exist_ok=True)
    return home


def fresh_copy(project: Path, dest: Path) -> Path:
    """Copy the pristine ``project`` (with its ``.git``) to a new folder ``dest/<name>``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    target = dest / project.name
    shutil.copytree(project, target, symlinks=True)
    return target
