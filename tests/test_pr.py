"""`cookiepatcher pr` against real git remotes (bare repositories on disk) and the fake forge on loopback."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from bot_support.fake_forge import FakeForge
from bot_support.fixtures import (  # noqa: F401
    bot_env,
    fake,
    files_containing,
    github_spec,
    spec_or_reason,
    token,
)
from bot_support.scenario import (
    SETTINGS,
    clone,
    git,
    make_service,
    make_template,
    push_human_commit,
    template_commit,
)
from click.testing import CliRunner

from cookiepatcher.cli import main

BRANCH = "cookiepatcher/update"


@dataclass
class Service:
    tmp: Path
    tpl: Path
    bare: Path
    work: Path
    repo: str
    fake: FakeForge

    def run(self, *extra: str, forge: str = "github") -> tuple[int, dict | str, str]:
        """Run `cookiepatcher pr` in the clone; returns (exit code, parsed JSON or stdout, stderr)."""
        args = ["pr", "--project-dir", str(self.work), "--repo", self.repo, "--base-url", self.fake.url, "--forge", forge, *extra]
        result = CliRunner().invoke(main, args)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        out = json.loads(result.stdout) if "--json" in extra and result.stdout.startswith("{") else result.stdout
        return result.exit_code, out, result.stderr

    def pushes(self) -> int:
        log = self.bare / "push.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def branch_sha(self) -> str | None:
        return self.fake.branch_sha(self.repo, BRANCH)

    def show(self, rev: str, path: str) -> str:
        return git(self.bare, "show", f"{rev}:{path}")


def _service(tmp_path: Path, fake: FakeForge, changes: dict | None = None, name: str = "alpha") -> Service:
    tpl = make_template(tmp_path)
    bare = make_service(tmp_path, tpl, name, changes)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >> \"$(dirname \"$0\")/../push.log\"\n")
    hook.chmod(0o755)
    repo = f"org/{name}"
    fake.add_repo(repo, bare)
    return Service(tmp_path, tpl, bare, clone(bare, tmp_path / "work"), repo, fake)


@pytest.fixture
def svc(tmp_path: Path, fake: FakeForge) -> Service:
    return _service(tmp_path, fake)


@pytest.fixture
def conflicted(tmp_path: Path, fake: FakeForge) -> Service:
    return _service(tmp_path, fake, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = service")})


def test_up_to_date_service_gets_no_pr(svc: Service) -> None:
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "up-to-date"
    assert svc.fake.writes() == [] and svc.pushes() == 0 and svc.fake.pulls == []


def test_first_run_opens_pr_with_reviewable_body(svc: Service) -> None:
    base_before = git(svc.bare, "rev-parse", "main")
    to = template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_2 = 2", "setting_2 = two"), "new.txt": "new\n"},
                         "Tune setting two, ping @someone about #12")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "opened" and out["to_commit"] == to

    [pr] = svc.fake.pulls
    assert (pr.number, pr.head, pr.base, pr.draft, pr.state) == (1, BRANCH, "main", False, "open")
    assert pr.title == f"Update template template to {to[:12]}"
    assert pr.labels == ["cookiepatcher"]
    body = pr.body
    assert body.startswith('<!-- cookiepatcher:pr {"v":1,"branch":"cookiepatcher/update","from":"')
    assert f"`{to[:12]}`" in body and "1 template commit" in body
    assert "Tune setting two, ping @\u200bsomeone about #\u200b12" in body  # no mention, no issue link
    assert "<summary>Updated: 1</summary>" in body and "- `settings.txt`" in body
    assert "<summary>Added: 1</summary>" in body and "- `new.txt`" in body
    assert "Conflicts" not in body

    # one bot commit on top of main, carrying the upgrade and the trailer; main untouched
    assert git(svc.bare, "rev-parse", "main") == base_before
    assert git(svc.bare, "rev-list", "--count", f"main..{BRANCH}") == "1"
    message = git(svc.bare, "log", "-1", "--format=%B", BRANCH)
    assert f"Cookiepatcher-Template-Commit: {to}" in message
    assert svc.show(BRANCH, "settings.txt") == SETTINGS.replace("setting_2 = 2", "setting_2 = two").rstrip("\n")
    assert json.loads(svc.show(BRANCH, "cookiepatcher.json"))["commit"] == to
    # the person's clone is untouched: still on main, clean, no worktree left behind
    assert git(svc.work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(svc.work, "status", "--porcelain") == ""
    assert len(git(svc.work, "worktree", "list").splitlines()) == 1
    assert svc.pushes() == 1


def test_rerun_without_new_template_commit_changes_nothing(svc: Service) -> None:
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    assert svc.run()[0] == 0
    writes, pushes, sha, body = len(svc.fake.writes()), svc.pushes(), svc.branch_sha(), svc.fake.pulls[0].body
    log_len = len(svc.fake.log)

    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "current" and out["number"] == 1
    assert len(svc.fake.writes()) == writes, "no API write"
    assert all(e.method == "GET" for e in svc.fake.log[log_len:])
    assert svc.pushes() == pushes and svc.branch_sha() == sha, "no push"
    assert svc.fake.pulls[0].body == body


def test_newer_template_commit_updates_same_branch_and_pr(svc: Service) -> None:
    first = template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.run()
    old_sha = svc.branch_sha()
    second = template_commit(svc.tpl, {"ci.yml": "steps:\n  - run: make lint test\n"}, "Lint in CI")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "updated" and out["number"] == 1
    [pr] = svc.fake.pulls
    assert second[:12] in pr.title and "2 template commits" in pr.body
    assert pr.body.index("Lint in CI") < pr.body.index("Add new.txt")  # newest first
    assert svc.branch_sha() != old_sha
    assert git(svc.bare, "rev-list", "--count", f"main..{BRANCH}") == "1", "force-pushed, not stacked"
    assert svc.show(BRANCH, "ci.yml") == "steps:\n  - run: make lint test"
    assert json.loads(svc.show(BRANCH, "cookiepatcher.json"))["commit"] == second != first


def test_pr_that_gains_conflicts_becomes_a_labelled_draft(conflicted: Service) -> None:
    svc = conflicted
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    assert svc.run()[0] == 0
    [pr] = svc.fake.pulls
    assert pr.draft is False and pr.labels == ["cookiepatcher"]
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = template")}, "Change setting five")
    code, out, _ = svc.run("--json")
    assert code == 1 and out["status"] == "updated" and out["conflicts"] == ["settings.txt"]
    assert pr.draft is True and sorted(pr.labels) == ["cookiepatcher", "cookiepatcher:conflicts"]
    assert any(e.path == "/graphql" and "convertPullRequestToDraft" in e.body["query"] for e in svc.fake.log)


def test_human_commits_on_the_bot_branch_are_not_overwritten(svc: Service) -> None:
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.run()
    human = push_human_commit(svc.bare, BRANCH, svc.tmp, {"new.txt": "new, edited by a person\n"})
    newer = template_commit(svc.tpl, {"ci.yml": "steps: []\n"}, "Empty CI")

    code, out, _ = svc.run("--json")
    assert code == 1 and out["status"] == "blocked"
    assert svc.branch_sha() == human
    [pr] = svc.fake.pulls
    [comment] = pr.comments
    assert f"<!-- cookiepatcher:blocked {newer} -->" in comment and human[:10] in comment
    assert newer[:12] not in pr.title, "the request was not edited"

    writes = len(svc.fake.writes())
    code, out, _ = svc.run("--json")
    assert code == 1 and out["status"] == "blocked"
    assert len(svc.fake.writes()) == writes and len(pr.comments) == 1, "one comment per template commit"


def test_conflicted_upgrade_opens_labelled_draft_listing_conflicts(conflicted: Service) -> None:
    svc = conflicted
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = template")}, "Change setting five")
    code, out, err = svc.run("--json")
    assert code == 1 and out["status"] == "opened" and out["conflicts"] == ["settings.txt"]
    [pr] = svc.fake.pulls
    assert pr.draft is True
    assert sorted(pr.labels) == ["cookiepatcher", "cookiepatcher:conflicts"]
    assert "### Conflicts (1)" in pr.body and f"git switch {BRANCH}" in pr.body
    assert '"conflicts":["settings.txt"]' in pr.body
    committed = svc.show(BRANCH, "settings.txt")
    assert "<<<<<<< " in committed and "setting_5 = service" in committed and "setting_5 = template" in committed
    assert "settings.txt" in git(svc.bare, "log", "-1", "--format=%B", BRANCH)
    assert git(svc.work, "status", "--porcelain") == ""

    # the conflict is resolved upstream: the same PR becomes ready, loses the label
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = service")}, "Adopt service value")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "updated" and out["conflicts"] == []
    assert pr.draft is False and pr.labels == ["cookiepatcher"]


def test_conflicts_committed_without_markers_are_named_as_such(tmp_path: Path, fake: FakeForge) -> None:
    """git keeps the service's side of a file the template deleted: no marker says the
    template's change is missing, so the body and the commit message must."""
    svc = _service(tmp_path, fake, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = service"),
                                    "ci.yml": "steps:\n  - run: make service-test\n"})
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = template"), "ci.yml": None},
                    "Change setting five, drop ci.yml")
    code, out, _ = svc.run("--json")
    assert code == 1 and sorted(out["conflicts"]) == ["ci.yml", "settings.txt"]
    [pr] = svc.fake.pulls
    marked, unmarked = pr.body.split("### Conflicts (2)", 1)[1].split("committed **as the service has them, without markers**", 1)
    assert "with conflict markers" in marked and "- `settings.txt`" in marked and "ci.yml" not in marked
    assert unmarked.split("To resolve them locally")[0].count("- `") == 1 and "- `ci.yml`" in unmarked
    message = git(svc.bare, "log", "-1", "--format=%B", BRANCH)
    assert "committed with conflict markers:\n  settings.txt\n" in message
    assert "committed as the service has them (no markers: a binary file, or one side deleted it):\n  ci.yml" in message
    assert svc.show(BRANCH, "ci.yml") == "steps:\n  - run: make service-test"


def test_a_push_the_server_refuses_is_reported_with_its_reason(svc: Service) -> None:
    hook = svc.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch cookiepatcher/update is protected: ask an admin' >&2\nexit 1\n")
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    code, out, err = svc.run()
    assert code == 2 and svc.fake.pulls == []
    assert err.splitlines() == [f"cookiepatcher: error: push to {BRANCH} refused (pre-receive hook declined: branch "
                                "cookiepatcher/update is protected: ask an admin); the server refused it: check the "
                                "branch's protection rules, the repository's hooks and the token's scopes"]


def test_closed_pr_is_not_reopened_until_the_template_moves(svc: Service) -> None:
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.run()
    svc.fake.set_state(svc.repo, 1, "closed")
    writes, pushes = len(svc.fake.writes()), svc.pushes()
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "declined" and out["number"] == 1
    assert len(svc.fake.writes()) == writes and svc.pushes() == pushes

    template_commit(svc.tpl, {"ci.yml": "steps: []\n"}, "Empty CI")
    code, out, _ = svc.run("--json")
    assert out["status"] == "opened" and out["number"] == 2
    assert [p.state for p in svc.fake.pulls] == ["closed", "open"]


def test_merged_pr_means_the_next_run_starts_from_the_new_record(svc: Service) -> None:
    first = template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.run()
    git(svc.bare, "update-ref", "refs/heads/main", f"refs/heads/{BRANCH}")  # merged (fast-forward)
    svc.fake.set_state(svc.repo, 1, "merged")
    writes = len(svc.fake.writes())
    code, out, _ = svc.run("--json")
    assert out["status"] == "up-to-date" and len(svc.fake.writes()) == writes

    second = template_commit(svc.tpl, {"ci.yml": "steps: []\n"}, "Empty CI")
    code, out, _ = svc.run("--json")
    assert out["status"] == "opened" and out["number"] == 2
    assert out["from_commit"] == first and out["to_commit"] == second
    assert "1 template commit" in svc.fake.pulls[1].body


def test_dry_run_prints_the_pr_and_writes_nothing(svc: Service) -> None:
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    code, out, _ = svc.run("--dry-run")
    assert code == 0
    assert "would open a pull request: Update template template to" in out
    assert "<summary>Added: 1</summary>" in out
    assert svc.fake.writes() == [] and svc.pushes() == 0 and svc.branch_sha() is None


def test_token_appears_in_no_output_file_or_request_text(conflicted: Service, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = conflicted
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = template")}, "Change setting five")
    outputs = []
    for _ in range(2):
        code, out, err = svc.run()
        outputs += [out, err]
    # an API error that echoes the token is redacted before it is shown
    template_commit(svc.tpl, {"ci.yml": "steps: []\n"}, "Empty CI")
    svc.fake.inject("PATCH", r"/pulls/\d+$", 422, {"message": f"token {token} is not allowed", "documentation_url": "https://docs.example.invalid"})
    code, out, err = svc.run()
    assert code == 2 and "***" in err
    outputs += [out, err]

    assert not any(token in text for text in outputs)
    assert files_containing(svc.tmp, token) == []  # clones, .git/config, bare remotes, template, cache
    for pr in svc.fake.pulls:
        assert token not in pr.title + pr.body + "".join(pr.comments)
    assert not any(token.encode() in e.raw for e in svc.fake.log)
    assert "extraheader" not in (svc.work / ".git" / "config").read_text().lower()


def test_rate_limits_and_server_errors_are_retried(svc: Service) -> None:
    import time

    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.fake.inject("GET", r"/pulls$", 403, {"message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.example.invalid"},
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()))})
    svc.fake.inject("POST", r"/pulls$", 502, {"message": "Server Error"})
    svc.fake.inject("POST", r"/labels$", 429, {"message": "You have exceeded a secondary rate limit.", "documentation_url": "https://docs.example.invalid"},
                    {"Retry-After": "1"})
    code, out, err = svc.run("--json")
    assert code == 0 and out["status"] == "opened", err
    calls = [(e.method, e.path.rsplit("/", 1)[-1], e.status) for e in svc.fake.log]
    assert ("GET", "pulls", 403) in calls and ("GET", "pulls", 200) in calls
    assert ("POST", "pulls", 502) in calls and ("POST", "pulls", 201) in calls
    assert ("POST", "labels", 429) in calls and ("POST", "labels", 200) in calls
    assert len(svc.fake.pulls) == 1, "a retried create did not open two pull requests"


def test_gitlab_merge_request_draft_then_noop(conflicted: Service) -> None:
    svc = conflicted
    template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_5 = 5", "setting_5 = template")}, "Change setting five")
    code, out, _ = svc.run("--json", forge="gitlab")
    assert code == 1 and out["status"] == "opened" and out["url"].endswith("/-/merge_requests/1")
    [mr] = svc.fake.pulls
    assert mr.title.startswith("Draft: Update template template to") and mr.draft
    assert sorted(mr.labels) == ["cookiepatcher", "cookiepatcher:conflicts"]
    assert "This merge request updates" in mr.body
    writes, pushes = len(svc.fake.writes()), svc.pushes()
    code, out, _ = svc.run("--json", forge="gitlab")
    assert out["status"] == "current" and out["conflicts"] == ["settings.txt"] and code == 1
    assert len(svc.fake.writes()) == writes and svc.pushes() == pushes
    assert all(e.api == "gitlab" for e in svc.fake.log)


def test_missing_token_is_a_clear_error(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    code, out, err = svc.run()
    assert code == 2 and "$GITHUB_TOKEN is not set" in err


def test_shallow_ci_checkout_does_not_mistake_history_for_human_commits(svc: Service) -> None:
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    svc.run()
    main_moved = svc.tmp / "mover"
    clone(svc.bare, main_moved)
    for i in range(3):  # the base branch moves on after the bot's commit
        (main_moved / f"feature{i}.txt").write_text("x\n")
        git(main_moved, "add", "-A")
        git(main_moved, "commit", "-q", "-m", f"Feature {i}")
    git(main_moved, "push", "-q", "origin", "main")
    shallow = svc.tmp / "shallow"
    git(svc.tmp, "clone", "-q", "--depth", "1", svc.bare.as_uri(), str(shallow))
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    svc.work = shallow
    template_commit(svc.tpl, {"ci.yml": "steps: []\n"}, "Empty CI")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "updated"
    assert git(svc.bare, "rev-list", "--count", f"main..{BRANCH}") == "1"


def test_the_services_own_git_hooks_do_not_run_on_the_bots_worktree(svc: Service) -> None:
    hooks = svc.tmp / "hooks"
    hooks.mkdir()
    for name in ("post-checkout", "post-commit", "pre-commit"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {svc.tmp / 'hooks.log'}\nexit 1\n")
        (hooks / name).chmod(0o755)
    git(svc.work, "config", "core.hooksPath", str(hooks))
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "opened"
    assert not (svc.tmp / "hooks.log").exists()


def test_the_clone_is_read_only_to_the_bot(svc: Service) -> None:
    """The upgrade is computed in git's object database: a clone with uncommitted and
    staged edits keeps its files, index and HEAD byte for byte, and no worktree appears."""
    (svc.work / "settings.txt").write_text("my local edit\n")
    (svc.work / "staged.txt").write_text("staged\n")
    git(svc.work, "add", "staged.txt")
    index = (svc.work / ".git" / "index").read_bytes()
    head = git(svc.work, "rev-parse", "HEAD")
    status = git(svc.work, "status", "--porcelain")
    to = template_commit(svc.tpl, {"settings.txt": SETTINGS.replace("setting_2 = 2", "setting_2 = two")}, "Tune two")
    code, out, _ = svc.run("--json")
    assert code == 0 and out["status"] == "opened" and out["to_commit"] == to
    assert svc.show(BRANCH, "settings.txt") == SETTINGS.replace("setting_2 = 2", "setting_2 = two").rstrip("\n")
    assert (svc.work / "settings.txt").read_text() == "my local edit\n"
    assert (svc.work / ".git" / "index").read_bytes() == index
    assert git(svc.work, "rev-parse", "HEAD") == head and git(svc.work, "status", "--porcelain") == status
    assert len(git(svc.work, "worktree", "list").splitlines()) == 1


def test_a_fresh_clone_needs_no_second_look_at_the_remote(svc: Service) -> None:
    """``--fresh-clone`` (what the fleet passes) trusts the clone's remote-tracking refs and
    makes the same commit as a run that asks the remote."""
    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    code, out, _ = svc.run("--json", "--dry-run")
    assert code == 0 and out["status"] == "dry-run"
    fresh = clone(svc.bare, svc.tmp / "fresh")
    args = ["pr", "--project-dir", str(fresh), "--repo", svc.repo, "--base-url", svc.fake.url, "--forge", "github",
            "--json", "--dry-run", "--fresh-clone"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["status"], data["to_commit"], data["title"], data["body"]) == (out["status"], out["to_commit"], out["title"], out["body"])


def test_a_base_branch_moved_while_it_is_read_gives_the_record_of_the_commit_used(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """pr reads the base commit and its record with one ``git cat-file``, where each request
    resolves the branch again; when a fetch moves it in between (simulated: the
    re-resolve answers another commit), the record is read again from the base commit."""
    from cookiepatcher import git as git_module

    template_commit(svc.tpl, {"new.txt": "new\n"}, "Add new.txt")
    _code, expected, _ = svc.run("--json", "--dry-run")
    real = git_module.batch
    calls: list[list[tuple[str, str]]] = []

    def moved(repo, requests, max_size=None):
        calls.append(list(requests))
        answers = real(repo, requests, max_size)
        if len(calls) == 1:
            answers[1] = (None, None, None)  # as if the record vanished from the moved branch
            answers[2] = ("f" * 40, "commit", None)
        return answers

    monkeypatch.setattr(git_module, "batch", moved)
    code, out, _ = svc.run("--json", "--dry-run")
    assert code == 0 and (out["status"], out["to_commit"], out["body"]) == (expected["status"], expected["to_commit"], expected["body"])
    base = git(svc.work, "rev-parse", "refs/remotes/origin/main").strip()
    assert calls[1] == [("contents", f"{base}:cookiepatcher.json")]
