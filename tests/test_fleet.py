"""`cookiepatcher fleet` and `fleet plan`: list parsing, sharding, CI matrices, the runner's
isolation of failures, and a real run over 20 services with mixed outcomes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bot_support.fake_forge import FakeForge
from bot_support.fixtures import bot_env, fake, files_containing, spec_or_reason, token  # noqa: F401
from bot_support.scenario import (
    SETTINGS,
    clone,
    git,
    make_service,
    make_template,
    template_commit,
)
from click.testing import CliRunner

from cookiepatcher import fleet
from cookiepatcher.cli import main
from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.fleet import FleetEntry, RepoResult
from cookiepatcher.pr import run_pr


def _entries(n: int) -> list[FleetEntry]:
    return [FleetEntry(f"org/svc{i:02}") for i in range(n)]


def test_repo_list_file(tmp_path: Path) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text("# services\norg/a\n\norg/b  https://example.com/org/b.git  # pinned URL\norg/a\ngroup/sub/c\n")
    assert fleet.read_repo_list(listing) == [FleetEntry("org/a"), FleetEntry("org/b", "https://example.com/org/b.git"),
                                             FleetEntry("group/sub/c")]
    listing.write_text("org/a\nnot a repo line here\n")
    with pytest.raises(CookiepatcherError, match=r"repos.txt:2: expected 'owner/name \[clone-url\]'"):
        fleet.read_repo_list(listing)


def test_shards_partition_the_list_exactly() -> None:
    for size in range(0, 26):
        entries = _entries(size)
        for total in range(1, 8):
            slices = [fleet.shard(entries, i, total) for i in range(1, total + 1)]
            assert [e for s in slices for e in s] == entries
            sizes = [len(s) for s in slices]
            assert max(sizes) - min(sizes) <= 1
    assert fleet.parse_shard("2/5") == (2, 5)
    for bad in ("0/3", "4/3", "1-3", "a/b"):
        with pytest.raises(CookiepatcherError):
            fleet.parse_shard(bad)


def _workflow_with_matrix(matrix: dict) -> str:
    import yaml

    return yaml.safe_dump({
        "name": "template upgrades", "on": {"workflow_dispatch": {}},
        "jobs": {"upgrade": {"runs-on": "ubuntu-latest", "strategy": {"fail-fast": False, "matrix": matrix},
                             "steps": [{"run": "cookiepatcher fleet --repos repos.txt --shard ${{ matrix.shard }}"}]}},
    }, sort_keys=False)


def test_plan_is_a_valid_github_actions_matrix(tmp_path: Path) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text("".join(f"org/svc{i:02}\n" for i in range(7)))
    runner = CliRunner()
    by_repo = runner.invoke(main, ["fleet", "plan", "--repos", str(listing)])
    by_shard = runner.invoke(main, ["fleet", "plan", "--repos", str(listing), "--shards", "3"])
    assert by_repo.exit_code == 0 and by_shard.exit_code == 0
    repo_matrix, shard_matrix = json.loads(by_repo.stdout), json.loads(by_shard.stdout)
    assert repo_matrix == {"repo": [f"org/svc{i:02}" for i in range(7)]}
    assert shard_matrix == {"shard": ["1/3", "2/3", "3/3"]}
    for i, matrix in enumerate((repo_matrix, shard_matrix)):
        wf = tmp_path / f"wf{i}.yml"
        wf.write_text(_workflow_with_matrix(matrix))
        proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(wf)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with pytest.raises(CookiepatcherError, match="matrix limit of 256"):
        fleet.plan(_entries(300))
    assert json.loads(fleet.plan(_entries(300), shards=4)) == {"shard": ["1/4", "2/4", "3/4", "4/4"]}


def test_plan_circleci_matrix_parameters(tmp_path: Path) -> None:
    import yaml

    text = fleet.plan(_entries(3), fmt="circleci")
    assert yaml.safe_load(text) == {"matrix": {"parameters": {"repo": ["org/svc00", "org/svc01", "org/svc02"]}}}
    assert yaml.safe_load(fleet.plan(_entries(3), fmt="circleci", shards=2)) == {"matrix": {"parameters": {"shard": ["1/2", "2/2"]}}}


def test_one_failure_never_stops_the_others_and_concurrency_is_bounded() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def runner(entry: FleetEntry) -> RepoResult:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        if entry.repo.endswith("03"):
            raise RuntimeError("clone exploded with s3cret")
        return RepoResult(entry.repo, "opened", "opened pull request")

    report = fleet.run_fleet(_entries(12), runner, jobs=3, redact=lambda s: s.replace("s3cret", "***"))
    assert [r.repo for r in report.results] == [e.repo for e in _entries(12)]
    assert report.results[3].status == "failed" and report.results[3].reason == "clone exploded with ***"
    assert report.counts()["PR opened"] == 11 and report.exit_code == 2
    assert peak[0] == 3


@pytest.mark.parametrize(("results", "code"), [
    ([RepoResult("a", "up-to-date", ""), RepoResult("b", "opened", ""), RepoResult("c", "current", "")], 0),
    ([RepoResult("a", "opened", ""), RepoResult("b", "updated", "", conflicts=["x"])], 1),
    ([RepoResult("a", "blocked", "")], 1),
    ([RepoResult("a", "updated", "", conflicts=["x"]), RepoResult("b", "failed", "boom")], 2),
])
def test_exit_code(results: list[RepoResult], code: int) -> None:
    assert fleet.FleetReport(results).exit_code == code


def test_shard_option_runs_exactly_its_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text("".join(f"org/svc{i:02} file:///nowhere/{i}\n" for i in range(10)))
    seen: list[str] = []

    class Recording:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __call__(self, entry: FleetEntry) -> RepoResult:
            seen.append(entry.repo)
            return RepoResult(entry.repo, "up-to-date", "fine")

    monkeypatch.setattr(fleet, "ProcessRunner", Recording)
    union = []
    for i in (1, 2, 3):
        seen.clear()
        result = CliRunner().invoke(main, ["fleet", "--repos", str(listing), "--shard", f"{i}/3"])
        assert result.exit_code == 0, result.output
        union += sorted(seen)
    assert union == [f"org/svc{i:02}" for i in range(10)]


def test_fleet_of_twenty_services_with_mixed_outcomes(tmp_path: Path, fake: FakeForge, token: str) -> None:
    tpl = make_template(tmp_path)
    names: dict[str, list[str]] = {"opened": [f"open{i}" for i in range(8)], "conflicts": [f"conflict{i}" for i in range(3)],
                                   "updated": [f"update{i}" for i in range(3)], "current": [f"current{i}" for i in range(4)]}
    for name in names["opened"] + names["updated"]:
        fake.add_repo(f"org/{name}", make_service(tmp_path, tpl, name))
    for name in names["conflicts"]:
        fake.add_repo(f"org/{name}", make_service(tmp_path, tpl, name, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = ours")}))
    template_commit(tpl, {"settings.txt": SETTINGS.replace("setting_2 = 2", "setting_2 = two")}, "Setting two")
    from cookiepatcher.forge.github import GitHubForge

    forge = GitHubForge(token, fake.url)
    for name in names["updated"]:  # these already have the bot's PR, for the previous template commit
        work = clone(tmp_path / "remotes" / f"{name}.git", tmp_path / f"work-{name}")
        assert run_pr(work, forge=forge, repo=f"org/{name}").status == "opened"
    template_commit(tpl, {"settings.txt": SETTINGS.replace("setting_2 = 2", "setting_2 = two").replace("setting_5 = 5", "setting_5 = five")},
                    "Setting five")
    for name in names["current"]:
        fake.add_repo(f"org/{name}", make_service(tmp_path, tpl, name))
    norecord = tmp_path / "plain"
    norecord.mkdir()
    git(norecord, "init", "-q", "-b", "main")
    (norecord / "README.md").write_text("not generated\n")
    git(norecord, "add", "-A")
    git(norecord, "commit", "-q", "-m", "plain")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "remotes" / "plain.git"))
    git(norecord, "push", "-q", str(tmp_path / "remotes" / "plain.git"), "main")
    fake.add_repo("org/plain", tmp_path / "remotes" / "plain.git")

    every = [n for group in names.values() for n in group] + ["plain", "ghost"]
    assert len(every) == 20
    listing = tmp_path / "repos.txt"
    listing.write_text("".join(f"org/{n}\n" for n in every))
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["fleet", "--repos", str(listing), "--forge", "github", "--base-url", fake.url,
                                       "--jobs", "2", "--report", str(report)])
    assert result.exit_code == 2, result.output
    print(result.output)
    data = json.loads(report.read_text())
    assert data["summary"] == {"up to date": 4, "PR opened": 8, "PR updated": 3, "PR unchanged": 0, "conflicts": 3,
                               "blocked": 0, "declined": 0, "failed": 2}
    assert data["exit_code"] == 2
    by_repo = {r["repo"]: r for r in data["repositories"]}
    assert [r["repo"] for r in data["repositories"]] == [f"org/{n}" for n in every]
    assert "has no cookiepatcher.json" in by_repo["org/plain"]["reason"]
    assert "HTTP 404" in by_repo["org/ghost"]["reason"]
    assert by_repo["org/conflict0"]["conflicts"] == ["settings.txt"]
    assert all(len(fake.pulls_of(f"org/{n}")) == 1 for n in names["opened"] + names["updated"] + names["conflicts"])
    assert all(p.draft for n in names["conflicts"] for p in fake.pulls_of(f"org/{n}"))
    for line in ("up to date: 4", "PR opened: 8", "PR updated: 3", "conflicts: 3", "failed: 2"):
        assert line in result.stdout
    assert token not in result.output and files_containing(tmp_path, token) == []

    # a re-run over the healthy ones changes nothing; conflicts remain -> 1; clean ones only -> 0
    writes = len(fake.writes())
    some = tmp_path / "some.txt"
    some.write_text("org/conflict0\norg/open0\norg/current0\n")
    again = CliRunner().invoke(main, ["fleet", "--repos", str(some), "--base-url", fake.url, "--report", str(report)])
    assert again.exit_code == 1, again.output
    assert json.loads(report.read_text())["summary"]["conflicts"] == 1
    some.write_text("org/open0\norg/update0\norg/current0\n")
    clean = CliRunner().invoke(main, ["fleet", "--repos", str(some), "--base-url", fake.url, "--report", str(report)])
    assert clean.exit_code == 0, clean.output
    assert json.loads(report.read_text())["summary"]["PR unchanged"] == 2
    assert len(fake.writes()) == writes


def test_fleet_passes_its_labels_to_every_request(tmp_path: Path, fake: FakeForge, token: str) -> None:
    tpl = make_template(tmp_path)
    fake.add_repo("org/clean", make_service(tmp_path, tpl, "clean"))
    fake.add_repo("org/clash", make_service(tmp_path, tpl, "clash", {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = ours")}))
    template_commit(tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = five")}, "Setting five")
    listing = tmp_path / "repos.txt"
    listing.write_text("org/clean\norg/clash\n")
    result = CliRunner().invoke(main, ["fleet", "--repos", str(listing), "--forge", "github", "--base-url", fake.url,
                                       "--label", "platform", "--label", "-deps", "--conflict-label", "needs-hands"])
    assert result.exit_code == 1, result.output
    [clean] = fake.pulls_of("org/clean")
    [clash] = fake.pulls_of("org/clash")
    assert sorted(clean.labels) == ["-deps", "platform"]
    assert sorted(clash.labels) == ["-deps", "needs-hands", "platform"]


@pytest.mark.parametrize(("command", "option", "value", "words"), [
    ("fleet", "--label", "", "a label name cannot be empty"),
    ("fleet", "--conflict-label", "needs,merge", "holds a comma, which GitLab reads as two labels"),
    ("pr", "--label", " ", "a label name cannot be empty"),
    ("pr", "--conflict-label", "a,b", "holds a comma"),
    ("pr", "--label", "deps ", "starts or ends with a space"),
    ("fleet", "--conflict-label", "cookiepatcher", "is both a --label and the --conflict-label"),  # the default label
    ("pr", "--conflict-label", "cookiepatcher", "is both a --label and the --conflict-label"),
])
def test_label_names_the_forges_cannot_keep_are_refused(tmp_path: Path, command: str, option: str, value: str,
                                                         words: str) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text("org/a\n")
    args = ["--repos", str(listing)] if command == "fleet" else []
    result = CliRunner().invoke(main, [command, *args, "--dry-run", option, value])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"cookiepatcher: error: Invalid value for '{option}'") and words in line, line


def test_fleet_plan_from_an_organisation(tmp_path: Path, fake: FakeForge) -> None:
    for name in ("b", "a"):
        bare = tmp_path / f"{name}.git"
        git(tmp_path, "init", "-q", "--bare", str(bare))
        fake.add_repo(f"org/{name}", bare)
    fake.add_repo("org/old", tmp_path / "b.git", archived=True)
    result = CliRunner().invoke(main, ["fleet", "plan", "--org", "org", "--forge", "github", "--base-url", fake.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"repo": ["org/b", "org/a"]}


SNIPPETS = Path(__file__).parent / "bot_support" / "snippets"


@pytest.mark.parametrize(("snippet", "schema"), [
    ("github-workflow.yml", "vendor.github-workflows"),
    ("fleet-github.yml", "vendor.github-workflows"),
    ("circleci-config.yml", "vendor.circle-ci"),
])
def test_ci_snippets_are_valid(snippet: str, schema: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(SNIPPETS / snippet)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (SNIPPETS / snippet).read_text()
    assert "cookiepatcher pr" in text or "cookiepatcher fleet" in text
    assert "ghp_" not in text and "glpat-" not in text


def test_a_repository_that_runs_too_long_is_killed_and_counted_as_failed(tmp_path: Path) -> None:
    import time

    from cookiepatcher.fleet import _wait

    pid = os.fork()
    if pid == 0:  # a stuck run
        time.sleep(30)
        os._exit(0)
    start = time.monotonic()
    assert _wait(pid, 0.3) is None
    assert time.monotonic() - start < 5
    with pytest.raises(ChildProcessError):  # already reaped: nothing left behind
        os.waitpid(pid, 0)
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    assert _wait(pid, 5) == 3


def _slow_hook_template(tmp_path: Path) -> Path:
    """The bot fixture template plus a post-gen hook that, in upgrade renders, records its
    pid and then hangs (a stuck tool, a network call without a timeout)."""
    tpl = make_template(tmp_path)
    hook = tpl / "hooks" / "post_gen_project.py"
    hook.parent.mkdir()
    hook.write_text("import os, time\n"
                    "if os.environ.get('COOKIEPATCHER_RENDER') == 'upgrade':\n"
                    f"    open({str(tmp_path / 'hook.pids')!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                    "    time.sleep(60)\n")
    git(tpl, "add", "-A")
    git(tpl, "commit", "-q", "-m", "hook")
    return tpl


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): count it as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked runs")
def test_a_timed_out_repository_takes_its_hooks_and_temporary_files_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tpl = _slow_hook_template(tmp_path)
    bare = make_service(tmp_path, tpl, "slow")
    fast = make_service(tmp_path, make_template(tmp_path / "other"), "fast")
    template_commit(tpl, {"ci.yml": "steps:\n  - run: make check\n"}, "Check")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.delenv("GITHUB_TOKEN")  # a dry run without a token asks no API
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"org/slow {bare.as_uri()}\norg/fast {fast.as_uri()}\n")
    start = time.monotonic()
    result = CliRunner().invoke(main, ["fleet", "--repos", str(listing), "--forge", "github", "--dry-run",
                                       "--timeout", "4", "--report", str(tmp_path / "report.json")])
    assert time.monotonic() - start < 30
    assert result.exit_code == 2, result.output
    data = json.loads((tmp_path / "report.json").read_text())
    slow, quick = data["repositories"]
    assert (slow["category"], slow["reason"]) == ("failed", "timed out after 4s")
    assert quick["category"] == "up to date"
    pids = [int(p) for p in (tmp_path / "hook.pids").read_text().split()]
    assert pids
    time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "the hung hook outlived its repository's timeout"
    assert list(tmp.iterdir()) == [], "temporary files left behind"


def test_stopping_a_fleet_kills_what_runs_and_starts_nothing_more() -> None:
    started: list[str] = []
    aborted = threading.Event()

    class Runner:
        def __call__(self, entry: FleetEntry) -> RepoResult:
            started.append(entry.repo)
            if entry.repo != "org/svc00":
                aborted.wait(10)  # a long run, until abort() kills it
                raise fleet.Interrupted()
            return RepoResult(entry.repo, "up-to-date", "fine")

        def abort(self) -> None:
            aborted.set()

    def ctrl_c(result: RepoResult, done: int, total: int) -> None:
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fleet.run_fleet(_entries(20), Runner(), jobs=2, on_done=ctrl_c)
    assert time.monotonic() - start < 5
    assert aborted.is_set() and len(started) <= 3


class _HungForge:
    """A forge whose API never answers a clone URL lookup (until ``release``)."""

    has_token = False

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked: list[str] = []

    def repo_info(self, repo: str) -> object:
        self.asked.append(repo)
        self.release.wait(30)
        raise RuntimeError("the API answered too late")

    def git_auth_env(self, url: str) -> dict[str, str]:
        return {}


def _in_thread(call: object) -> tuple[threading.Thread, dict[str, object]]:
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["result"] = call()  # type: ignore[operator]
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_a_hung_clone_url_lookup_counts_against_the_repositorys_timeout(tmp_path: Path) -> None:
    forge = _HungForge()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    runner = fleet.ProcessRunner(forge, [], scratch, timeout=0.5)
    try:
        thread, out = _in_thread(lambda: runner(FleetEntry("org/hung")))
        thread.join(10)
        assert not thread.is_alive(), "the lookup outlived the repository's timeout"
        result = out["result"]
        assert isinstance(result, RepoResult)
        assert (result.status, result.reason) == ("failed", "timed out after 0.5s")
        assert list(scratch.iterdir()) == []  # its scratch folder is gone
    finally:
        forge.release.set()


def test_stopping_a_fleet_is_not_held_up_by_a_hung_clone_url_lookup(tmp_path: Path) -> None:
    forge = _HungForge()
    runner = fleet.ProcessRunner(forge, [], tmp_path, timeout=60)
    try:
        first, first_out = _in_thread(lambda: runner(FleetEntry("org/one")))
        second, second_out = _in_thread(lambda: runner(FleetEntry("org/two")))  # waits for the first's lookup
        deadline = time.monotonic() + 5
        while not forge.asked and time.monotonic() < deadline:
            time.sleep(0.01)
        aborting, _ = _in_thread(runner.abort)
        for thread in (aborting, first, second):
            thread.join(5)
            assert not thread.is_alive(), "abort() waited for the forge's API"
        assert isinstance(first_out.get("error"), fleet.Interrupted)
        assert isinstance(second_out.get("error"), fleet.Interrupted)
        assert len(forge.asked) == 1  # the other one never asked: the run was stopped
    finally:
        forge.release.set()


def test_a_failed_clone_names_gits_reason(tmp_path: Path) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text(f"org/ghost {(tmp_path / 'nowhere.git').as_uri()}\n")
    result = CliRunner().invoke(main, ["fleet", "--repos", str(listing), "--forge", "github", "--dry-run",
                                       "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 2
    [repo] = json.loads((tmp_path / "report.json").read_text())["repositories"]
    assert repo["reason"].startswith("fatal:") and "nowhere.git" in repo["reason"], repo["reason"]


def test_the_runner_loads_the_forge_client_before_forking_only_when_runs_use_it(tmp_path: Path) -> None:
    """With a token every run calls the forge's API: its client library is imported once,
    before the runs are forked; without one (``--dry-run``) it is never imported."""
    calls = []

    class Forge:
        def __init__(self, token: bool) -> None:
            self.has_token = token

        def load_client(self) -> None:
            calls.append(self.has_token)

    fleet.ProcessRunner(Forge(True), [], tmp_path)
    fleet.ProcessRunner(Forge(False), [], tmp_path)
    assert calls == [True]
