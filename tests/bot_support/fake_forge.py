"""A fake GitHub + GitLab API served on 127.0.0.1 for the bot's tests.

One :class:`FakeForge` holds repositories (each backed by a bare git repository on
disk, whose ``file://`` URL is the clone URL the API reports) and their change
requests, and answers the REST endpoints the bot uses in each forge's response
shapes: GitHub (``/repos/...``, ``/orgs/...``, ``/graphql``) and GitLab
(``/api/v4/...``). Every exchange is logged (:attr:`FakeForge.log`) so tests can count
writes and check GitHub exchanges against GitHub's OpenAPI description
(:mod:`tests.bot_support.openapi`). Faults (rate limits, 5xx) are injected with
:meth:`FakeForge.inject`.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

TS = "2026-01-01T00:00:00Z"
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


@dataclass
class Exchange:
    """One logged request and the fake's answer."""

    api: str  # "github" | "gitlab"
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    response: Any
    raw: bytes = b""
    injected: bool = False  # an answer from :meth:`FakeForge.inject` (rate limits, 5xx: documented globally, not per operation)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class FakePull:
    number: int
    repo: str
    head: str
    base: str
    title: str
    body: str
    draft: bool
    state: str = "open"  # open | closed | merged
    labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


@dataclass
class Fault:
    method: str
    path_re: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


class FakeForge:
    """The fake server. Use as a context manager or call :meth:`start` / :meth:`stop`.

    Args:
        token: the only token accepted (``Authorization: token/Bearer`` on GitHub,
            ``PRIVATE-TOKEN`` on GitLab); other requests get 401.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, dict[str, Any]] = {}
        self.pulls: list[FakePull] = []
        self.log: list[Exchange] = []
        self.faults: list[Fault] = []
        self.orgs: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> FakeForge:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeForge:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test-side helpers ------------------------------------------------------
    def add_repo(self, full_name: str, bare_repo: Path, default_branch: str = "main", archived: bool = False) -> None:
        """Register ``full_name`` backed by the bare repository ``bare_repo``."""
        self.repos[full_name] = {
            "id": len(self.repos) + 1,
            "default_branch": default_branch,
            "clone_url": bare_repo.resolve().as_uri(),
            "path": bare_repo,
            "archived": archived,
        }
        org = full_name.rsplit("/", 1)[0]
        self.orgs.setdefault(org, []).append(full_name)

    def inject(self, method: str, path_re: str, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_re`` with ``status``."""
        self.faults.append(Fault(method, path_re, status, body or {"message": "injected"}, headers or {}, times))

    def writes(self) -> list[Exchange]:
        return [e for e in self.log if e.is_write]

    def pulls_of(self, repo: str) -> list[FakePull]:
        return [p for p in self.pulls if p.repo == repo]

    def set_state(self, repo: str, number: int, state: str) -> None:
        """Close or merge a pull request as a person would in the web UI."""
        pr = next(p for p in self.pulls if p.repo == repo and p.number == number)
        pr.state = state

    def add_human_comment(self, repo: str, number: int, body: str) -> None:
        next(p for p in self.pulls if p.repo == repo and p.number == number).comments.append(body)

    def branch_sha(self, repo: str, branch: str) -> str | None:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            cwd=self.repos[repo]["path"], capture_output=True, text=True,
        )
        return proc.stdout.strip() or None

    # -- dispatch --------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            ctype = h.headers.get("Content-Type", "")
            if "json" in ctype or raw[:1] in (b"{", b"["):
                body = json.loads(raw)
            else:
                body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        api = "gitlab" if path.startswith("/api/v4/") else "github"
        headers: dict[str, str] = {}
        with self._lock:
            faults = sum(f.times for f in self.faults)
            status, payload = self._route(h, api, h.command, path, query, body, headers)
            injected = faults != sum(f.times for f in self.faults)
            self.log.append(Exchange(api, h.command, path, query, body, status, payload, raw, injected))
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, h: BaseHTTPRequestHandler, api: str, method: str, path: str, query: dict, body: Any, headers: dict) -> tuple[int, Any]:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and re.search(fault.path_re, path):
                fault.times -= 1
                headers.update(fault.headers)
                return fault.status, fault.body
        if api == "github":
            auth = h.headers.get("Authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.example.invalid/rest", "status": "401"}
            return self._github(method, path, query, body)
        if h.headers.get("PRIVATE-TOKEN") != self.token:
            return 401, {"message": "401 Unauthorized"}
        return self._gitlab(method, path[len("/api/v4"):], query, body)

    # -- GitHub -------------------------------------------------------------------
    def _gh_user(self, login: str = "cookiepatcher-bot", uid: int = 1) -> dict[str, Any]:
        api = f"{self.url}/users/{login}"
        return {
            "login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"{self.url}/avatars/{uid}",
            "gravatar_id": "", "url": api, "html_url": f"{self.url}/{login}",
            **{f"{k}_url": f"{api}/{k}" for k in ("followers", "following", "gists", "starred", "subscriptions", "organizations", "repos", "events", "received_events")},
            "type": "User", "site_admin": False,
        }

    _REPO_URLS = (
        "archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare", "contents",
        "contributors", "deployments", "downloads", "events", "forks", "git_commits", "git_refs", "git_tags", "hooks",
        "issue_comment", "issue_events", "issues", "keys", "labels", "languages", "merges", "milestones",
        "notifications", "pulls", "releases", "stargazers", "statuses", "subscribers", "subscription", "tags", "teams", "trees",
    )

    def _gh_repo(self, full: str) -> dict[str, Any]:
        r = self.repos[full]
        owner, name = full.rsplit("/", 1)
        api = f"{self.url}/repos/{full}"
        return {
            "id": r["id"], "node_id": f"R_{r['id']}", "name": name, "full_name": full, "license": None,
            "forks": 0, "owner": self._gh_user(owner, 100), "private": True, "description": None, "fork": False,
            "url": api, "html_url": f"{self.url}/{full}", "homepage": None, "language": None,
            **{f"{k}_url": f"{api}/{k}" for k in self._REPO_URLS},
            "clone_url": r["clone_url"], "git_url": r["clone_url"], "ssh_url": r["clone_url"], "svn_url": r["clone_url"],
            "mirror_url": None, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "watchers": 0,
            "size": 1, "default_branch": r["default_branch"], "open_issues_count": 0, "open_issues": 0,
            "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False, "has_downloads": False,
            "has_discussions": False, "archived": r["archived"], "disabled": False,
            "pushed_at": TS, "created_at": TS, "updated_at": TS, "network_count": 0, "subscribers_count": 0,
        }

    def _gh_label(self, repo: str, name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**6, "node_id": f"L_{name}", "url": f"{self.url}/repos/{repo}/labels/{quote(name)}",
                "name": name, "description": "", "color": "ededed", "default": False}

    def _gh_pull(self, pr: FakePull, full: bool) -> dict[str, Any]:
        api = f"{self.url}/repos/{pr.repo}"
        url = f"{api}/pulls/{pr.number}"
        html = f"{self.url}/{pr.repo}/pull/{pr.number}"
        head_sha = self.branch_sha(pr.repo, pr.head) or "0" * 40
        base_sha = self.branch_sha(pr.repo, pr.base) or "0" * 40
        owner = pr.repo.split("/")[0]
        link = lambda href: {"href": href}  # noqa: E731
        data: dict[str, Any] = {
            "url": url, "id": 1000 + pr.number, "node_id": f"PR_{pr.repo}_{pr.number}", "html_url": html,
            "diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": f"{api}/issues/{pr.number}",
            "commits_url": url + "/commits", "review_comments_url": url + "/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}", "comments_url": f"{api}/issues/{pr.number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}", "number": pr.number,
            "state": "open" if pr.state == "open" else "closed", "locked": False, "title": pr.title,
            "user": self._gh_user(), "body": pr.body or None, "labels": [self._gh_label(pr.repo, n) for n in pr.labels],
            "milestone": None, "active_lock_reason": None, "created_at": TS, "updated_at": TS,
            "closed_at": None if pr.state == "open" else TS, "merged_at": TS if pr.state == "merged" else None,
            "merge_commit_sha": None, "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": {"label": f"{owner}:{pr.head}", "ref": pr.head, "sha": head_sha, "user": self._gh_user(owner, 100), "repo": self._gh_repo(pr.repo)},
            "base": {"label": f"{owner}:{pr.base}", "ref": pr.base, "sha": base_sha, "user": self._gh_user(owner, 100), "repo": self._gh_repo(pr.repo)},
            "_links": {"self": link(url), "html": link(html), "issue": link(f"{api}/issues/{pr.number}"),
                       "comments": link(f"{api}/issues/{pr.number}/comments"), "review_comments": link(url + "/comments"),
                       "review_comment": link(f"{api}/pulls/comments{{/number}}"), "commits": link(url + "/commits"),
                       "statuses": link(f"{api}/statuses/{head_sha}")},
            "author_association": "NONE", "auto_merge": None, "draft": pr.draft,
        }
        if full:
            data.update({
                "merged": pr.state == "merged", "mergeable": None, "rebaseable": None, "mergeable_state": "unknown",
                "merged_by": None, "comments": len(pr.comments), "review_comments": 0, "maintainer_can_modify": True,
                "commits": 1, "additions": 0, "deletions": 0, "changed_files": 0,
            })
        return data

    def _gh_comment(self, pr: FakePull, i: int) -> dict[str, Any]:
        api = f"{self.url}/repos/{pr.repo}"
        return {"id": 5000 + i, "node_id": f"IC_{i}", "url": f"{api}/issues/comments/{5000 + i}",
                "html_url": f"{self.url}/{pr.repo}/pull/{pr.number}#issuecomment-{5000 + i}", "body": pr.comments[i],
                "user": self._gh_user(), "created_at": TS, "updated_at": TS, "issue_url": f"{api}/issues/{pr.number}",
                "author_association": "NONE"}

    def _find(self, repo: str, number: int) -> FakePull | None:
        return next((p for p in self.pulls if p.repo == repo and p.number == number), None)

    def _github(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        not_found = (404, {"message": "Not Found", "documentation_url": "https://docs.example.invalid/rest", "status": "404"})
        if method == "POST" and path == "/graphql":
            return self._graphql(body)
        m = re.fullmatch(r"/orgs/([^/]+)/repos", path)
        if m and method == "GET":
            if m.group(1) not in self.orgs:
                return not_found
            return 200, [self._gh_repo(r) for r in self.orgs[m.group(1)]]
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m or m.group(1) not in self.repos:
            return not_found
        repo, rest = m.group(1), m.group(2) or ""
        if rest == "" and method == "GET":
            return 200, self._gh_repo(repo)
        if rest == "/pulls" and method == "GET":
            found = [p for p in self.pulls_of(repo) if query.get("state", "open") in ("all", "open" if p.state == "open" else "closed")]
            if "head" in query:
                found = [p for p in found if f"{repo.split('/')[0]}:{p.head}" == query["head"]]
            found.sort(key=lambda p: p.number, reverse=query.get("direction", "desc") == "desc")
            return 200, [self._gh_pull(p, full=False) for p in found]
        if rest == "/pulls" and method == "POST":
            if self.branch_sha(repo, body["head"]) is None:
                return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}], "documentation_url": "https://docs.example.invalid/rest"}
            if any(p.head == body["head"] and p.state == "open" for p in self.pulls_of(repo)):
                return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": f"A pull request already exists for {body['head']}."}], "documentation_url": "https://docs.example.invalid/rest"}
            pr = FakePull(len(self.pulls_of(repo)) + 1, repo, body["head"], body["base"], body["title"], body.get("body") or "", bool(body.get("draft")))
            self.pulls.append(pr)
            return 201, self._gh_pull(pr, full=True)
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m and method in ("GET", "PATCH"):
            pr = self._find(repo, int(m.group(1)))
            if pr is None:
                return not_found
            if method == "PATCH":
                pr.title = body.get("title", pr.title)
                pr.body = body.get("body", pr.body)
                if body.get("state") in ("open", "closed"):
                    pr.state = body["state"]
            return 200, self._gh_pull(pr, full=True)
        m = re.fullmatch(r"/issues/(\d+)/(labels|comments)(?:/(.+))?", rest)
        if m:
            pr = self._find(repo, int(m.group(1)))
            if pr is None:
                return not_found
            kind, name = m.group(2), unquote(m.group(3) or "")
            if kind == "labels" and method == "POST":
                names = body["labels"] if isinstance(body, dict) else body
                pr.labels += [n for n in names if n not in pr.labels]
                return 200, [self._gh_label(repo, n) for n in pr.labels]
            if kind == "labels" and method == "DELETE" and name:
                if name not in pr.labels:
                    return 404, {"message": "Label does not exist", "documentation_url": "https://docs.example.invalid/rest"}
                pr.labels.remove(name)
                return 200, [self._gh_label(repo, n) for n in pr.labels]
            if kind == "comments" and method == "GET":
                return 200, [self._gh_comment(pr, i) for i in range(len(pr.comments))]
            if kind == "comments" and method == "POST":
                pr.comments.append(body["body"])
                return 201, self._gh_comment(pr, len(pr.comments) - 1)
        return not_found

    def _graphql(self, body: dict) -> tuple[int, Any]:
        query, node = body["query"], body["variables"]["input"]["pullRequestId"]
        pr = next((p for p in self.pulls if f"PR_{p.repo}_{p.number}" == node), None)
        if pr is None:
            return 200, {"errors": [{"message": f"Could not resolve to a node with the global id of '{node}'"}]}
        name = "convertPullRequestToDraft" if "convertPullRequestToDraft" in query else "markPullRequestReadyForReview"
        pr.draft = name == "convertPullRequestToDraft"
        return 200, {"data": {name: {"clientMutationId": None, "pullRequest": {"isDraft": pr.draft}}}}

    # -- GitLab -------------------------------------------------------------------
    def _gl_project(self, full: str) -> dict[str, Any]:
        r = self.repos[full]
        return {"id": r["id"], "path_with_namespace": full, "name": full.rsplit("/", 1)[1], "path": full.rsplit("/", 1)[1],
                "default_branch": r["default_branch"], "http_url_to_repo": r["clone_url"], "ssh_url_to_repo": r["clone_url"],
                "web_url": f"{self.url}/{full}", "archived": r["archived"]}

    def _gl_mr(self, pr: FakePull) -> dict[str, Any]:
        return {"id": 2000 + pr.number, "iid": pr.number, "project_id": self.repos[pr.repo]["id"], "title": pr.title,
                "description": pr.body, "state": {"open": "opened"}.get(pr.state, pr.state), "draft": pr.title.startswith("Draft:"),
                "source_branch": pr.head, "target_branch": pr.base, "labels": list(pr.labels),
                "web_url": f"{self.url}/{pr.repo}/-/merge_requests/{pr.number}", "sha": self.branch_sha(pr.repo, pr.head)}

    def _gitlab(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        not_found = (404, {"message": "404 Not found"})
        m = re.fullmatch(r"/groups/([^/]+)/projects", path)
        if m and method == "GET":
            group = unquote(m.group(1))
            names = [r for r in self.repos if r.startswith(group + "/")]
            return (200, [self._gl_project(r) for r in names]) if names else not_found
        m = re.fullmatch(r"/projects/([^/]+)(/.*)?", path)
        repo = unquote(m.group(1)) if m else ""
        if repo.isdigit():
            repo = next((name for name, r in self.repos.items() if str(r["id"]) == repo), "")
        if repo not in self.repos:
            return not_found
        rest = m.group(2) or ""
        if rest == "" and method == "GET":
            return 200, self._gl_project(repo)
        if rest == "/merge_requests" and method == "GET":
            found = [p for p in self.pulls_of(repo) if p.head == query.get("source_branch", p.head)]
            state = {"opened": "open"}.get(query.get("state", "all"), query.get("state", "all"))
            found = [p for p in found if state == "all" or p.state == state]
            return 200, [self._gl_mr(p) for p in sorted(found, key=lambda p: -p.number)]
        if rest == "/merge_requests" and method == "POST":
            if self.branch_sha(repo, body["source_branch"]) is None:
                return 400, {"message": ["Source branch does not exist"]}
            if any(p.head == body["source_branch"] and p.state == "open" for p in self.pulls_of(repo)):
                return 409, {"message": ["Another open merge request already exists for this source branch"]}
            labels = [x for x in (body.get("labels") or "").split(",") if x]
            pr = FakePull(len(self.pulls_of(repo)) + 1, repo, body["source_branch"], body["target_branch"], body["title"], body.get("description") or "", body["title"].startswith("Draft:"), labels=labels)
            self.pulls.append(pr)
            return 201, self._gl_mr(pr)
        m = re.fullmatch(r"/merge_requests/(\d+)(/notes)?", rest)
        if m:
            pr = self._find(repo, int(m.group(1)))
            if pr is None:
                return not_found
            if m.group(2) and method == "GET":
                return 200, [{"id": i + 1, "body": b, "system": False} for i, b in enumerate(pr.comments)]
            if m.group(2) and method == "POST":
                pr.comments.append(body["body"])
                return 201, {"id": len(pr.comments), "body": body["body"], "system": False}
            if method == "PUT":
                pr.title = body.get("title", pr.title)
                pr.body = body.get("description", pr.body)
                pr.draft = pr.title.startswith("Draft:")
                pr.labels += [x for x in (body.get("add_labels") or "").split(",") if x and x not in pr.labels]
                pr.labels = [x for x in pr.labels if x not in (body.get("remove_labels") or "").split(",")]
                return 200, self._gl_mr(pr)
            if method == "GET":
                return 200, self._gl_mr(pr)
        return not_found
