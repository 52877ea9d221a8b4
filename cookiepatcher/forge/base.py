"""What the upgrade bot needs from a code forge, independent of GitHub or GitLab.

A forge here is the web API that holds pull requests (GitHub) or merge requests
(GitLab) — both are called *change requests* below — plus the way ``git`` authenticates
to the forge's repositories. Implementations: :mod:`cookiepatcher.forge.github`
(PyGithub) and :mod:`cookiepatcher.forge.gitlab` (python-gitlab).

Secrets: a forge object holds its token but never returns it in an error message,
a repr or a URL; :meth:`Forge.git_auth_env` hands it to ``git`` through
``GIT_CONFIG_*`` environment variables (``http.<url>.extraHeader``), so nothing
with the token is written to ``.git/config`` or shown in ``ps``.
"""
from __future__ import annotations

import base64
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cookiepatcher.errors import CookiepatcherError


class ForgeError(CookiepatcherError):
    """The forge API refused a request or could not be reached (after retries)."""


@dataclass
class RepoInfo:
    """A repository on the forge.

    Attributes:
        full_name: ``owner/name`` (GitHub) or ``group/sub/name`` (GitLab).
        default_branch: the branch change requests target by default.
        clone_url: HTTPS (or, in tests, file) URL to clone from, without credentials.
        archived: archived repositories are skipped by the fleet.
    """

    full_name: str
    default_branch: str
    clone_url: str
    archived: bool = False


@dataclass
class ChangeRequest:
    """A pull request (GitHub) or merge request (GitLab), reduced to what the bot reads.

    Attributes:
        number: the number shown in the web UI (GitHub ``number``, GitLab ``iid``).
        url: web link.
        state: ``"open"``, ``"closed"`` (closed without merge) or ``"merged"``.
        draft: whether it is a draft.
        title, body: as on the forge (``body`` is ``""`` when empty).
        head_branch: the source branch.
        labels: label names.
    """

    number: int
    url: str
    state: str
    draft: bool
    title: str
    body: str
    head_branch: str
    labels: list[str] = field(default_factory=list)


class Forge(ABC):
    """One authenticated connection to a forge (GitHub, GitHub Enterprise, GitLab).

    Every method raises :class:`ForgeError` when the API answers with an error that
    retries (with backoff, on rate limits and 5xx) did not clear; the message names
    the call and the status, never the token.
    """

    #: short name, ``"github"`` or ``"gitlab"``
    name: str = ""
    #: what the forge calls a change request, e.g. ``"pull request"``
    noun: str = "change request"

    def __init__(self, token: str | None, web_url: str) -> None:
        self._token = token or None
        self.web_url = web_url.rstrip("/")

    def __repr__(self) -> str:  # never show the token
        return f"<{type(self).__name__} {self.web_url}>"

    def load_client(self) -> None:
        """Import the forge's client library and build its API client now, rather than
        on the first API call (``cookiepatcher fleet`` does this before forking its runs,
        so they share it). The base class has nothing to load."""

    @property
    def has_token(self) -> bool:
        """Whether the forge was given a token (writes need one)."""
        return self._token is not None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the token replaced by ``***``."""
        if self._token and len(self._token) >= 6 and self._token in text:
            text = text.replace(self._token, "***")
        return text

    # -- git -------------------------------------------------------------------
    @abstractmethod
    def _git_basic_user(self) -> str:
        """User name git sends with the token in HTTP Basic auth."""

    def git_auth_env(self, remote_url: str) -> dict[str, str]:
        """Environment variables that make ``git`` send the token to ``remote_url``.

        Only for ``http(s)`` remotes on the forge's own host; other remotes (another
        host, ``ssh``, local paths) get ``{}`` so the token never travels elsewhere.
        The header is scoped to the forge's web URL (``http.<url>.extraHeader``, git's
        URL matching) and passed with ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/
        ``GIT_CONFIG_VALUE_n`` (git >= 2.31), appended after any such variables already
        set, so ``.git/config`` and the command line never hold it.
        """
        if not self._token:
            return {}
        remote = urlsplit(remote_url)
        forge = urlsplit(self.web_url)
        if remote.scheme not in ("http", "https") or remote.hostname != forge.hostname:
            return {}
        creds = base64.b64encode(f"{self._git_basic_user()}:{self._token}".encode()).decode()
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        scope = f"{forge.scheme}://{forge.netloc}/"
        return {
            "GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": f"http.{scope}.extraHeader",
            f"GIT_CONFIG_VALUE_{count}": f"Authorization: Basic {creds}",
        }

    def push_url(self, remote_url: str, repo: str) -> str | None:
        """HTTPS URL to use instead of an ssh remote on the forge's host, or ``None``.

        CI checkouts often clone over ssh with a read-only deploy key (CircleCI's
        default); with a token the bot fetches and pushes over HTTPS instead
        (``<web url>/<repo>.git``), authenticated by :meth:`git_auth_env`. Remotes that
        are already HTTP(S), local paths and other hosts give ``None`` (use the remote).
        """
        if not self._token or urlsplit(remote_url).scheme in ("http", "https", "file"):
            return None
        m = re.match(r"^(?:ssh://)?(?:[^@/]+@)?(?P<host>[^:/]+)(?::\d+)?[:/]", remote_url)
        if m is None or m.group("host") != urlsplit(self.web_url).hostname:
            return None
        return f"{self.web_url}/{repo}.git"

    # -- API -------------------------------------------------------------------
    @abstractmethod
    def repo_info(self, repo: str) -> RepoInfo:
        """Look up ``repo`` (``owner/name``)."""

    @abstractmethod
    def list_repos(self, owner: str) -> list[RepoInfo]:
        """Repositories of an organisation (GitHub) or group with subgroups (GitLab)."""

    @abstractmethod
    def find_change_requests(self, repo: str, branch: str) -> list[ChangeRequest]:
        """Change requests of any state whose source branch is ``branch`` (same repository), newest first."""

    @abstractmethod
    def open_change_request(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> ChangeRequest:
        """Open a change request from ``head`` into ``base`` and label it."""

    @abstractmethod
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
        """Replace title and body of ``cr``, set its draft state and adjust labels."""

    @abstractmethod
    def comments(self, repo: str, number: int) -> list[str]:
        """Bodies of the comments on change request ``number``, oldest first."""

    @abstractmethod
    def add_comment(self, repo: str, number: int, body: str) -> None:
        """Comment on change request ``number``."""

    def link(self, text: str, url: str | None) -> str:
        """Markdown link when ``url`` is given, else ``text`` (both forges render Markdown)."""
        return f"[{text}]({url})" if url else text
