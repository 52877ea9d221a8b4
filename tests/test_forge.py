"""The forge layer: remote parsing, token handling for git, the fake's fidelity to GitHub's
OpenAPI description, retries giving up cleanly, and the request body."""
from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

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
from bot_support.openapi import GitHubSpec
from bot_support.scenario import git

from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.forge import ForgeError, detect_kind, open_forge, repo_from_remote
from cookiepatcher.forge.body import (
    MAX_BODY,
    escape,
    marker_data,
    render_body,
    render_title,
)
from cookiepatcher.forge.github import GitHubForge, web_url_for
from cookiepatcher.forge.gitlab import GitLabForge


@pytest.mark.parametrize(("url", "repo"), [
    ("git@github.com:org/svc.git", "org/svc"),
    ("https://github.com/org/svc", "org/svc"),
    ("https://oauth2@gitlab.example.com/group/sub/svc.git", "group/sub/svc"),
    ("ssh://git@ghe.example.com:2222/org/svc.git", "org/svc"),
    ("/srv/git/svc.git", None),
    ("file:///srv/git/svc.git", None),
])
def test_repo_from_remote(url: str, repo: str | None) -> None:
    assert repo_from_remote(url) == repo


def test_forge_kind_and_web_urls() -> None:
    assert detect_kind("https://gitlab.example.com/g/r.git", env={}) == "gitlab"
    assert detect_kind("git@github.com:o/r.git", env={"GITLAB_CI": "true"}) == "gitlab"
    assert detect_kind("git@github.com:o/r.git", env={}) == "github"
    assert web_url_for("https://api.github.com") == "https://github.com"
    assert web_url_for("https://ghe.example.com/api/v3/") == "https://ghe.example.com"


def test_open_forge_needs_the_token_variable() -> None:
    with pytest.raises(CookiepatcherError, match=r"\$GITLAB_TOKEN is not set"):
        open_forge("gitlab", env={})
    with pytest.raises(CookiepatcherError, match=r"\$BOT_TOKEN is not set"):
        open_forge("github", token_env="BOT_TOKEN", env={"GITHUB_TOKEN": "x"})
    forge = open_forge("github", env={"GITHUB_TOKEN": "s3cret", "GITHUB_API_URL": "https://ghe.example.com/api/v3"})
    assert forge.web_url == "https://ghe.example.com" and "s3cret" not in repr(forge)
    assert forge.redact("a s3cret b") == "a *** b"


def test_git_auth_env_is_scoped_to_the_forge_host(monkeypatch: pytest.MonkeyPatch) -> None:
    forge = GitHubForge("s3cret", "https://ghe.example.com/api/v3")
    assert forge.git_auth_env("https://elsewhere.example.com/o/r.git") == {}
    assert forge.git_auth_env("git@ghe.example.com:o/r.git") == {}
    assert forge.git_auth_env("/srv/git/r.git") == {}
    monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
    env = forge.git_auth_env("https://ghe.example.com/o/r.git")
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_2"] == "http.https://ghe.example.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_2"].startswith("Authorization: Basic ")


def test_git_sends_the_token_as_a_header_and_writes_it_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        forge = GitLabForge("glpat-s3cret", url)
        repo = tmp_path / "clone"
        git(tmp_path, "init", "-q", str(repo))
        git(repo, "remote", "add", "origin", f"{url}/g/r.git")
        import os
        env = {**os.environ, **forge.git_auth_env(f"{url}/g/r.git"), "GIT_TERMINAL_PROMPT": "0"}
        subprocess.run(["git", "ls-remote", "origin"], cwd=repo, env=env, capture_output=True)
    finally:
        server.shutdown()
    import base64
    assert seen and seen[0] == "Basic " + base64.b64encode(b"oauth2:glpat-s3cret").decode()
    assert files_containing(tmp_path, "glpat-s3cret") == []


def test_every_endpoint_the_bot_uses_matches_github_openapi(fake: FakeForge, github_spec: GitHubSpec, tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "w"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "commit", "-q", "--allow-empty", "-m", "x")
    git(work, "push", "-q", "origin", "HEAD:main", "HEAD:bot")
    fake.add_repo("org/r", bare)
    forge = GitHubForge(fake.token, fake.url)
    assert forge.repo_info("org/r").default_branch == "main"
    cr = forge.open_change_request("org/r", head="bot", base="main", title="T", body="B", draft=True, labels=["a", "b"])
    cr = forge.edit_change_request("org/r", cr, title="T2", body="B2", draft=False, add_labels=["c"], remove_labels=["a"])
    forge.add_comment("org/r", cr.number, "hi")
    assert forge.comments("org/r", cr.number) == ["hi"]
    [found] = forge.find_change_requests("org/r", "bot")
    assert (found.title, found.body, found.draft, found.labels) == ("T2", "B2", False, ["b", "c"])
    assert [r.full_name for r in forge.list_repos("org")] == ["org/r"]
    checked = [e for e in fake.log if e.path != "/graphql"]
    assert {(e.method, e.path) for e in checked} >= {
        ("GET", "/repos/org/r"), ("POST", "/repos/org/r/pulls"), ("PATCH", "/repos/org/r/pulls/1"),
        ("POST", "/repos/org/r/issues/1/labels"), ("DELETE", "/repos/org/r/issues/1/labels/a"),
        ("GET", "/repos/org/r/issues/1/comments"), ("POST", "/repos/org/r/issues/1/comments"),
        ("GET", "/repos/org/r/pulls"), ("GET", "/orgs/org/repos"),
    }
    for e in checked:
        assert github_spec.check(e.method, e.path, e.query, e.body, e.status, e.response) == []


def test_openapi_check_catches_a_drifted_fake(github_spec: GitHubSpec) -> None:
    problems = github_spec.check("GET", "/repos/o/r/pulls", {"state": "all", "colour": "red"}, None, 200,
                                 [{"number": "7", "title": "x"}])
    assert "GET /repos/{owner}/{repo}/pulls: undeclared query parameter 'colour'" in problems
    assert any("0/number: '7' is not of type 'integer'" in p for p in problems)
    assert any("'_links' is a required property" in p for p in problems)
    assert github_spec.check("POST", "/repos/o/r/issues/1/labels", {}, ["bare", "array"], 200, []) != []
    assert github_spec.check("PUT", "/repos/o/r/pulls", {}, None, 200, None) == ["PUT /repos/{owner}/{repo}/pulls: method not documented"]


def test_retries_give_up_with_a_clear_error(fake: FakeForge, tmp_path: Path, token: str) -> None:
    fake.add_repo("org/r", tmp_path)
    fake.inject("GET", r"^/repos/org/r$", 503, {"message": "unavailable"}, times=10)
    forge = GitHubForge(token, fake.url, retries=2, backoff=0.01)
    with pytest.raises(ForgeError, match=r"GitHub API: GET repository org/r failed"):
        forge.repo_info("org/r")
    assert [e.status for e in fake.log] == [503, 503, 503]


def _result(files: list[tuple[str, str]], defaulted: dict | None = None) -> SimpleNamespace:
    outcomes = [SimpleNamespace(path=p, status=s, old_path="old.txt" if s == "renamed" else None) for p, s in files]
    return SimpleNamespace(from_commit="a" * 40, to_commit="b" * 40, to_ref="v2.0", files=outcomes,
                           conflicts=[p for p, s in files if s == "conflicted"], defaulted=defaulted or {})


def test_body_links_commits_lists_every_outcome_and_defaults() -> None:
    files = [("a.txt", "updated"), ("b.txt", "added"), ("c.txt", "deleted"), ("d.txt", "renamed"),
             ("e.txt", "conflicted"), ("f.txt", "kept-deleted"), ("g.txt", "skipped")]
    body = render_body(_result(files, {"use_celery": True}), template="gh:org/tpl",
                       commits=[("c" * 40, "First <b>|", "https://example.com/c"), ("d" * 40, "Second", None)],
                       browse=lambda sha: f"https://example.com/commit/{sha}", branch="bot", base="main")
    assert marker_data(body) == {"v": 1, "branch": "bot", "from": "a" * 40, "to": "b" * 40, "conflicts": ["e.txt"]}
    assert f"[`{'b' * 12}`](https://example.com/commit/{'b' * 40})" in body and "(v2.0)" in body
    assert "- [`cccccccccccc`](https://example.com/c) First \\<b\\>\\|" in body
    assert "- `dddddddddddd` Second" in body
    for heading in ("Updated: 1", "Added: 1", "Deleted: 1", "Renamed: 1", "Conflicted (see above): 1",
                    "Kept deleted", "Skipped"):
        assert heading in body
    assert "- `old.txt` → `d.txt`" in body
    assert "| use\\_celery | true |" in body
    assert render_title("gh:org/django-template", "b" * 40, "v2.0") == f"Update template django-template to {'b' * 12} (v2.0)"


def test_body_stays_under_the_forge_limit_with_huge_upgrades() -> None:
    files = [(f"dir/file_{i:05}.txt", "updated") for i in range(20000)]
    body = render_body(_result(files), template="t", commits=[("c" * 40, "x" * 60, None)] * 3000,
                       browse=lambda sha: None, branch="bot", base="main")
    assert len(body) <= MAX_BODY and "… and" in body and marker_data(body)["to"] == "b" * 40


def test_escape_neutralises_markdown_and_mentions() -> None:
    assert escape("@team fix #1 [x](y) `c`") == "@\u200bteam fix #\u200b1 \\[x\\](y) \\`c\\`"


def test_ssh_checkouts_push_over_https_with_the_token() -> None:
    forge = GitHubForge("s3cret", "https://api.github.com")
    assert forge.push_url("git@github.com:org/svc.git", "org/svc") == "https://github.com/org/svc.git"
    assert forge.push_url("ssh://git@github.com/org/svc.git", "org/svc") == "https://github.com/org/svc.git"
    assert forge.push_url("https://github.com/org/svc.git", "org/svc") is None
    assert forge.push_url("git@gitlab.example.com:org/svc.git", "org/svc") is None
    assert forge.push_url("/srv/git/svc.git", "org/svc") is None
    assert GitHubForge(None).push_url("git@github.com:org/svc.git", "org/svc") is None


def test_gitlab_retries_rate_limits_and_server_errors(fake: FakeForge, tmp_path: Path, token: str) -> None:
    bare = tmp_path / "r.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "w"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "commit", "-q", "--allow-empty", "-m", "x")
    git(work, "push", "-q", "origin", "HEAD:main", "HEAD:bot")
    fake.add_repo("group/r", bare)
    fake.inject("GET", r"^/api/v4/projects/group%2Fr$", 502, {"message": "bad gateway"})
    fake.inject("POST", r"/merge_requests$", 429, {"message": "429 Too Many Requests"}, {"Retry-After": "1"})
    forge = GitLabForge(token, fake.url)
    cr = forge.open_change_request("group/r", head="bot", base="main", title="T", body="B", draft=False, labels=["x"])
    assert (cr.number, cr.labels, cr.draft) == (1, ["x"], False)
    assert [(e.method, e.status) for e in fake.log] == [("GET", 502), ("GET", 200), ("POST", 429), ("POST", 201)]
    assert [r.full_name for r in forge.list_repos("group")] == ["group/r"]


@pytest.mark.parametrize("kind, library", [("github", "github"), ("gitlab", "gitlab")])
def test_the_client_library_loads_on_first_use_only(kind, library):
    """``pr --dry-run`` and ``fleet --dry-run`` without a token never call the API, so
    they do not pay for importing PyGithub / python-gitlab (about 0.15 s)."""
    import subprocess
    import sys

    code = ("import sys\nfrom cookiepatcher.forge import open_forge\n"
            f"forge = open_forge({kind!r}, require_token=False, env={{}})\n"
            f"before = {library!r} in sys.modules\nforge.load_client()\n"
            f"print(before, {library!r} in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
