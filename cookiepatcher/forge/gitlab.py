"""GitLab (gitlab.com or self-managed) through python-gitlab (REST v4).

Requests made: ``GET /projects/:id``; ``GET /projects/:id/merge_requests?source_branch=..&state=all``;
``POST /projects/:id/merge_requests``; ``PUT /projects/:id/merge_requests/:iid``;
``GET``/``POST /projects/:id/merge_requests/:iid/notes``; ``GET /groups/:id/projects``
(with subgroups) for the fleet. A draft is a merge request whose title starts with
``Draft:`` (GitLab's own convention). Retries follow python-gitlab: 429 after
``Retry-After``, 500/502/503/504 with exponential backoff (``retry_transient_errors``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from cookiepatcher.forge.base import ChangeRequest, Forge, ForgeError, RepoInfo

DEFAULT_URL = "https://gitlab.com"
DRAFT_PREFIX = "Draft: "
T = TypeVar("T")


def _undraft(title: str) -> str:
    for prefix in ("Draft: ", "Draft:", "[Draft]", "(Draft)", "WIP: "):
        if title.startswith(prefix):
            return title[len(prefix):].lstrip()
    return title


class GitLabForge(Forge):
    """GitLab at ``url`` (the web root, e.g. ``https://gitlab.example.com``).

    Args:
        token: a project, group or personal access token with ``api`` and
            ``write_repository`` scopes; ``None`` for read-only use of public projects.
        url: web root; the API is ``<url>/api/v4``.
        retries: attempts after the first on 429 / transient 5xx.
    """

    name = "gitlab"
    noun = "merge request"

    def __init__(self, token: str | None, url: str | None = None, *, retries: int = 5) -> None:
        url = (url or DEFAULT_URL).rstrip("/")
        if url.endswith("/api/v4"):
            url = url[: -len("/api/v4")]
        super().__init__(token, url)
        self._retries = retries
        self._projects: dict[str, Any] = {}

    @functools.cached_property
    def _gl(self) -> Any:
        """The python-gitlab client, built (and python-gitlab imported) on first use;
        ``--dry-run`` without a token never uses it."""
        import gitlab

        return gitlab.Gitlab(self.web_url, private_token=self._token, retry_transient_errors=True, timeout=30)

    def load_client(self) -> None:
        self._gl  # noqa: B018 - builds the client

    def _git_basic_user(self) -> str:
        return "oauth2"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        import requests
        from gitlab.exceptions import GitlabError

        try:
            return fn()
        except GitlabError as exc:
            raise ForgeError(self.redact(f"GitLab API: {what} failed with HTTP {exc.response_code}: {exc.error_message}")) from None
        except (requests.RequestException, OSError) as exc:
            raise ForgeError(self.redact(f"GitLab API: {what} failed: {exc}")) from None

    def _project(self, repo: str) -> Any:
        if repo not in self._projects:
            self._projects[repo] = self._call(
                f"GET project {repo}", lambda: self._gl.projects.get(repo, max_retries=self._retries)
            )
        return self._projects[repo]

    @staticmethod
    def _info(p: Any) -> RepoInfo:
        return RepoInfo(
            full_name=p.path_with_namespace,
            default_branch=getattr(p, "default_branch", None) or "main",
            clone_url=p.http_url_to_repo,
            archived=bool(getattr(p, "archived", False)),
        )

    def repo_info(self, repo: str) -> RepoInfo:
        return self._info(self._project(repo))

    def list_repos(self, owner: str) -> list[RepoInfo]:
        group = self._gl.groups.get(owner, lazy=True)
        projects = self._call(
            f"list projects of group {owner}",
            lambda: group.projects.list(include_subgroups=True, get_all=True, max_retries=self._retries),
        )
        return [self._info(p) for p in projects]

    @staticmethod
    def _cr(mr: Any) -> ChangeRequest:
        state = {"opened": "open", "locked": "open"}.get(mr.state, mr.state)
        return ChangeRequest(
            number=mr.iid,
            url=mr.web_url,
            state=state,
            draft=bool(getattr(mr, "draft", False)) or _undraft(mr.title) != mr.title,
            title=_undraft(mr.title),
            body=mr.description or "",
            head_branch=mr.source_branch,
            labels=list(mr.labels or []),
        )

    def find_change_requests(self, repo: str, branch: str) -> list[ChangeRequest]:
        p = self._project(repo)
        mrs = self._call(
            f"list merge requests of {repo}",
            lambda: p.mergerequests.list(
                source_branch=branch, state="all", order_by="created_at", sort="desc", get_all=True,
                max_retries=self._retries,
            ),
        )
        return [self._cr(mr) for mr in mrs if mr.source_branch == branch]

    def open_change_request(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> ChangeRequest:
        p = self._project(repo)
        data = {
            "source_branch": head,
            "target_branch": base,
            "title": (DRAFT_PREFIX + title) if draft else title,
            "description": body,
            "labels": ",".join(labels),
            "remove_source_branch": True,
        }
        mr = self._call(f"open a merge request on {repo}", lambda: p.mergerequests.create(data))
        return self._cr(mr)

    def edit_change_request(
        self,
        repo: str,
        cr: ChangeRequest,
        *,
        title: str,
        body: str,
        draft: bool,
        add_labels: list[str],
        remove_labels: list[str],
    ) -> ChangeRequest:
        p = self._project(repo)
        data: dict[str, Any] = {"title": (DRAFT_PREFIX + title) if draft else title, "description": body}
        if add_labels:
            data["add_labels"] = ",".join(add_labels)
        if remove_labels:
            data["remove_labels"] = ",".join(remove_labels)
        mr = p.mergerequests.get(cr.number, lazy=True)
        result = self._call(f"edit merge request !{cr.number}", lambda: p.mergerequests.update(mr.get_id(), data))
        return self._cr(SimpleNamespace(**result))

    def comments(self, repo: str, number: int) -> list[str]:
        mr = self._project(repo).mergerequests.get(number, lazy=True)
        notes = self._call(
            f"read notes of !{number}", lambda: mr.notes.list(get_all=True, sort="asc", order_by="created_at")
        )
        return [n.body for n in notes if not getattr(n, "system", False)]

    def add_comment(self, repo: str, number: int, body: str) -> None:
        mr = self._project(repo).mergerequests.get(number, lazy=True)
        self._call(f"comment on !{number}", lambda: mr.notes.create({"body": body}))
