"""pytest fixtures shared by the bot's tests (imported by tests/test_forge.py, test_pr.py, test_fleet.py).

- ``bot_env`` (autouse in those modules): pinned git config/identity, a private
  template cache, no write pacing, and a fresh random token in ``GITHUB_TOKEN`` and
  ``GITLAB_TOKEN``.
- ``fake``: the fake forge on loopback; at teardown every GitHub exchange of the test is
  checked against GitHub's OpenAPI description (when npm could fetch it).
- ``github_spec``: the checker, or a skip naming why it is unavailable.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot_support.fake_forge import FakeForge
from bot_support.openapi import GitHubSpec, load_github_spec


@pytest.fixture
def token() -> str:
    return "ghp_" + secrets.token_hex(16)


@pytest.fixture(autouse=True)
def bot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_CONFIG_COUNT", "GITHUB_REPOSITORY", "CI_PROJECT_PATH", "CIRCLE_PROJECT_USERNAME",
                "CIRCLE_PROJECT_REPONAME", "GITLAB_CI", "GITHUB_API_URL", "CI_SERVER_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COOKIEPATCHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COOKIEPATCHER_API_PACE", "0")
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("GITLAB_TOKEN", token)


@pytest.fixture(scope="session")
def spec_or_reason() -> tuple[GitHubSpec | None, str]:
    return load_github_spec()


@pytest.fixture
def github_spec(spec_or_reason: tuple[GitHubSpec | None, str]) -> GitHubSpec:
    spec, reason = spec_or_reason
    if spec is None:
        pytest.skip(reason)
    return spec


@pytest.fixture
def fake(token: str, spec_or_reason: tuple[GitHubSpec | None, str]) -> Iterator[FakeForge]:
    with FakeForge(token) as server:
        yield server
    spec = spec_or_reason[0]
    if spec is None:
        return
    problems = []
    for e in server.log:
        if e.api == "github" and e.path != "/graphql" and not e.injected:
            problems += spec.check(e.method, e.path, e.query, e.body, e.status, e.response)
    assert not problems, "fake GitHub drifted from GitHub's OpenAPI description:\n" + "\n".join(problems[:20])


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file below ``root`` whose bytes contain ``needle``."""
    hits = []
    data = needle.encode()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if data in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


__all__ = ["token", "bot_env", "spec_or_reason", "github_spec", "fake", "files_containing", "os"]
