"""Code forges the upgrade bot talks to: :func:`open_forge` picks GitHub or GitLab.

Environment read (only here): ``GITHUB_TOKEN`` / ``GITLAB_TOKEN`` (the token; never
printed), ``GITHUB_API_URL`` (set by GitHub Actions, also on Enterprise Server),
``CI_SERVER_URL`` (set by GitLab CI on self-managed instances).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.forge.base import ChangeRequest, Forge, ForgeError, RepoInfo

__all__ = ["ChangeRequest", "Forge", "ForgeError", "RepoInfo", "open_forge", "detect_kind", "repo_from_remote"]

TOKEN_VARS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
KINDS = ("github", "gitlab")


def detect_kind(remote_url: str | None, env: Mapping[str, str] = os.environ) -> str:
    """``"gitlab"`` inside GitLab CI or when the remote's host name contains ``gitlab``, else ``"github"``."""
    if env.get("GITLAB_CI") or (remote_url and "gitlab" in remote_url.lower()):
        return "gitlab"
    return "github"


_REMOTE_RE = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?[^/]+(?::\d+)?/|[^@/]+@[^:/]+:)(?P<path>.+?)(?:\.git)?/?$")


def repo_from_remote(remote_url: str) -> str | None:
    """``owner/name`` (or ``group/sub/name``) from an HTTPS, ssh:// or scp-style git URL; ``None`` for paths."""
    m = _REMOTE_RE.match(remote_url.strip())
    if not m or remote_url.startswith("file:"):
        return None
    return m.group("path")


def open_forge(
    kind: str,
    *,
    base_url: str | None = None,
    token_env: str | None = None,
    env: Mapping[str, str] = os.environ,
    require_token: bool = True,
) -> Forge:
    """Connect to a forge.

    Args:
        kind: ``"github"`` or ``"gitlab"``.
        base_url: GitHub: API root (``https://ghe.example.com/api/v3``; default
            ``$GITHUB_API_URL`` or ``https://api.github.com``). GitLab: web root
            (default ``$CI_SERVER_URL`` or ``https://gitlab.com``).
        token_env: name of the environment variable holding the token (default
            ``GITHUB_TOKEN`` / ``GITLAB_TOKEN``).
        require_token: raise when the variable is unset or empty.

    Raises:
        CookiepatcherError: unknown ``kind``, or no token while ``require_token``.
    """
    if kind not in KINDS:
        raise CookiepatcherError(f"unknown forge '{kind}'; use one of: {', '.join(KINDS)}")
    var = token_env or TOKEN_VARS[kind]
    token = env.get(var) or None
    if token is None and require_token:
        raise CookiepatcherError(f"${var} is not set; export a token with write access to the repository (or use --dry-run)")
    if kind == "github":
        from cookiepatcher.forge.github import GitHubForge

        return GitHubForge(token, base_url or env.get("GITHUB_API_URL"))
    from cookiepatcher.forge.gitlab import GitLabForge

    return GitLabForge(token, base_url or env.get("CI_SERVER_URL"))
