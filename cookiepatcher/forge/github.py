"""GitHub and GitHub Enterprise Server through PyGithub (REST v3; GraphQL only to toggle drafts).

Requests made, all documented in GitHub's REST description (the tests check each one
against ``@octokit/openapi``):

- ``GET /repos/{owner}/{repo}`` — default branch and clone URL;
- ``GET /repos/{owner}/{repo}/pulls?state=all&head=OWNER:BRANCH`` — the bot's pull requests;
- ``POST /repos/{owner}/{repo}/pulls``, ``PATCH /repos/{owner}/{repo}/pulls/{n}``;
- ``POST``/``DELETE /repos/{owner}/{repo}/issues/{n}/labels[/{name}]``;
- ``GET``/``POST /repos/{owner}/{repo}/issues/{n}/comments``;
- ``GET /orgs/{org}/repos`` (falling back to ``GET /users/{user}/repos``) for the fleet;
- ``POST /graphql`` ``convertPullRequestToDraft`` / ``markPullRequestReadyForReview``
  when an existing pull request gains or loses conflicts (REST cannot change drafts).

Retries follow PyGithub's :class:`github.GithubRetry`: 5xx and 429 with exponential
backoff, primary rate limits until ``X-RateLimit-Reset``, secondary ones after
``Retry-After``.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cookiepatcher.forge.base import ChangeRequest, Forge, ForgeError, RepoInfo

DEFAULT_API_URL = "https://api.github.com"
T = TypeVar("T")


def web_url_for(api_url: str) -> str:
    """The web root for an API root: ``https://api.github.com`` -> ``https://github.com``,
    ``https://ghe.example.com/api/v3`` -> ``https://ghe.example.com``; other URLs unchanged."""
    parts = urlsplit(api_url.rstrip("/"))
    if parts.hostname == "api.github.com":
        return "https://github.com"
    path = parts.path[: -len("/api/v3")] if parts.path.endswith("/api/v3") else parts.path
    return f"{parts.scheme}://{parts.netloc}{path}"


class GitHubForge(Forge):
    """GitHub (or Enterprise Server at ``api_url``, e.g. ``https://ghe.example.com/api/v3``).

    Args:
        token: a token with ``contents: write`` and ``pull-requests: write`` (``repo`` for
            classic tokens); ``None`` allows read-only use on public repositories.
        api_url: REST API root.
        retries: attempts after the first on 5xx / rate limits.
        backoff: urllib3 backoff factor in seconds (waits 0, 2b, 4b, ... between tries).
        pace: seconds between write requests (GitHub asks integrations to space
            mutations to avoid secondary rate limits); ``None`` = PyGithub's default
            (1 s); the environment variable ``COOKIEPATCHER_API_PACE`` overrides it.
    """

    name = "github"
    noun = "pull request"

    def __init__(
        self,
        token: str | None,
        api_url: str | None = None,
        *,
        retries: int = 5,
        backoff: float = 1.0,
        pace: float | None = None,
    ) -> None:
        api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        super().__init__(token, web_url_for(api_url))
        env_pace = os.environ.get("COOKIEPATCHER_API_PACE")
        if env_pace is not None:
            pace = float(env_pace)
        pacing: dict[str, Any] = {}
        if pace is not None:
            pacing = {"seconds_between_requests": min(pace, 0.25), "seconds_between_writes": pace}
        self._client_options: dict[str, Any] = {"api_url": api_url, "retries": retries, "backoff": backoff, **pacing}
        self._repos: dict[str, Any] = {}
        self._pulls: dict[tuple[str, int], Any] = {}

    @functools.cached_property
    def _gh(self) -> Any:
        """The PyGithub client, built (and PyGithub imported: about 0.15 s) on first use;
        ``--dry-run`` without a token never uses it."""
        from github import Auth, Github, GithubRetry

        options = dict(self._client_options)
        api_url, retries, backoff = options.pop("api_url"), options.pop("retries"), options.pop("backoff")
        retry = GithubRetry(
            total=retries,
            backoff_factor=backoff,
            status_forcelist=[429, *range(500, 600)],
            secondary_rate_wait=60,
            max_rate_limit_wait=900,
        )
        return Github(auth=Auth.Token(self._token) if self._token else None, base_url=api_url, retry=retry, timeout=30,
                      lazy=True, **options)

    def load_client(self) -> None:
        self._gh  # noqa: B018 - builds the client

    def _git_basic_user(self) -> str:
        return "x-access-token"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        import requests
        from github import GithubException

        try:
            return fn()
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            raise ForgeError(self.redact(f"GitHub API: {what} failed with HTTP {exc.status}: {message}")) from None
        except (requests.RequestException, OSError) as exc:
            raise ForgeError(self.redact(f"GitHub API: {what} failed: {exc}")) from None

    def _repo(self, repo: str) -> Any:
        if repo not in self._repos:
            self._repos[repo] = self._gh.get_repo(repo)  # lazy: fetched on first attribute read
        return self._repos[repo]

    @staticmethod
    def _info(r: Any) -> RepoInfo:
        return RepoInfo(
            full_name=r.full_name,
            default_branch=r.default_branch or "main",
            clone_url=r.clone_url,
            archived=bool(r.archived),
        )

    def repo_info(self, repo: str) -> RepoInfo:
        r = self._repo(repo)
        return self._call(f"GET repository {repo}", lambda: self._info(r))

    def list_repos(self, owner: str) -> list[RepoInfo]:
        def org_repos() -> list[RepoInfo]:
            return [self._info(r) for r in self._gh.get_organization(owner).get_repos(type="all")]

        from github import GithubException

        try:
            return org_repos()
        except GithubException as exc:
            if exc.status != 404:
                return self._call(f"list repositories of {owner}", org_repos)
        return self._call(
            f"list repositories of {owner}",
            lambda: [self._info(r) for r in self._gh.get_user(owner).get_repos(type="owner")],
        )

    def _cr(self, repo: str, pr: Any) -> ChangeRequest:
        self._pulls[(repo, pr.number)] = pr
        state = "merged" if pr.merged_at is not None else pr.state
        return ChangeRequest(
            number=pr.number,
            url=pr.html_url,
            state=state,
            draft=bool(pr.draft),
            title=pr.title or "",
            body=pr.body or "",
            head_branch=pr.head.ref,
            labels=[label.name for label in pr.labels],
        )

    def find_change_requests(self, repo: str, branch: str) -> list[ChangeRequest]:
        r = self._repo(repo)
        owner = repo.split("/", 1)[0]
        pulls = self._call(
            f"list pull requests of {repo}",
            lambda: list(r.get_pulls(state="all", head=f"{owner}:{branch}", sort="created", direction="desc")),
        )
        return [self._cr(repo, p) for p in pulls if p.head.ref == branch]

    def open_change_request(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> ChangeRequest:
        r = self._repo(repo)
        pr = self._call(
            f"open a pull request on {repo}",
            lambda: r.create_pull(base=base, head=head, title=title, body=body, draft=draft, maintainer_can_modify=True),
        )
        if labels:
            self._add_labels(r, pr.number, labels)
        cr = self._cr(repo, pr)
        cr.labels = sorted(set(cr.labels) | set(labels))
        return cr

    def _add_labels(self, r: Any, number: int, labels: list[str]) -> None:
        # PyGithub's Issue.add_to_labels posts a bare JSON array; GitHub's description
        # documents the ``{"labels": [...]}`` object, so send that through the public requester.
        issue = r.get_issue(number)
        self._call(
            f"label #{number}",
            lambda: issue.requester.requestJsonAndCheck("POST", f"{issue.url}/labels", input={"labels": labels}),
        )

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
        r = self._repo(repo)
        pr = self._pulls.get((repo, cr.number)) or r.get_pull(cr.number)
        self._call(f"edit pull request #{cr.number}", lambda: pr.edit(title=title, body=body))
        if draft != cr.draft:
            toggle = pr.convert_to_draft if draft else pr.mark_ready_for_review
            self._call(f"change draft state of pull request #{cr.number}", toggle)
        issue = r.get_issue(cr.number)
        if add_labels:
            self._add_labels(r, cr.number, add_labels)
        for label in remove_labels:
            self._call(f"unlabel pull request #{cr.number}", functools.partial(issue.remove_from_labels, label))
        labels = sorted((set(cr.labels) | set(add_labels)) - set(remove_labels))
        return ChangeRequest(cr.number, cr.url, cr.state, draft, title, body, cr.head_branch, labels)

    def comments(self, repo: str, number: int) -> list[str]:
        issue = self._repo(repo).get_issue(number)
        return self._call(f"read comments of #{number}", lambda: [c.body or "" for c in issue.get_comments()])

    def add_comment(self, repo: str, number: int, body: str) -> None:
        issue = self._repo(repo).get_issue(number)
        self._call(f"comment on #{number}", lambda: issue.create_comment(body))


__all__ = ["GitHubForge", "web_url_for"]
