"""Hook logic shared by this repository's templates (``django-template``, ``express-template``).

The hook scripts cookiecutter runs (``pre_gen_project.py``, ``post_gen_project.py``) are thin:
they find this module through the template's ``hooks`` folder and call :func:`pre_gen` or
:func:`post_gen` with the cookiecutter context (a dict of answers plus cookiecutter's private
``_template``, ``_repo_dir``, ``_checkout``, ``_output_dir`` keys, cookiecutter >= 2.6).

Validation is keyed by which answers exist, so one pre-generation hook serves both templates:
a question a template does not ask is not checked. A refusal is one line naming the question,
the bad value and what is allowed (:class:`AnswerError`); the hook prints it to stderr and
exits 1, and cookiecutter removes the half-made project.

The record ``cookiepatcher.json`` is written in the format of ``cookiepatcher/record.py``
(sorted keys, 2-space indent, final newline). This module cannot import cookiepatcher: a
developer running plain ``cookiecutter`` does not have it, so the few lines are repeated here.
"""
from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

RECORD_FILE = "cookiepatcher.json"
RENDER_ENV = "COOKIEPATCHER_RENDER"

# Regions where Elastic Beanstalk runs (the choice list of ``aws_region`` is a subset).
AWS_REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ca-central-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
    "me-central-1", "me-south-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2",
})

# Top-level modules a Django service imports besides the standard library: a project
# package with one of these names would shadow it.
RESERVED_PACKAGES = frozenset({
    "django", "rest_framework", "drf_spectacular", "drf_spectacular_sidecar", "whitenoise",
    "gunicorn", "dj_database_url", "sentry_sdk", "newrelic", "pytest", "pytest_django",
    "requests", "test", "tests", "site", "manage", "conftest", "setup", "e2etests", "static",
    "staticfiles", "templates", "config", "settings", "app", "api",
})

_TEMPLATE_SYNTAX = ("{{", "{%", "{#")
_REPO_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_EB_APP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_NPM_SCOPE_RE = re.compile(r"@[a-z0-9][a-z0-9._-]{0,213}")
_HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")


class AnswerError(ValueError):
    """An answer the templates refuse.

    Args:
        question: the cookiecutter variable name, e.g. ``repo_name``.
        value: the answer given.
        allowed: what is allowed, in words.
    """

    def __init__(self, question: str, value: Any, allowed: str) -> None:
        self.question = question
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid answer for '{question}': {json.dumps(value, ensure_ascii=False)}; {allowed}")


# --- validation -------------------------------------------------------------------------

def _check_repo_name(value: str) -> str | None:
    if _REPO_NAME_RE.fullmatch(value):
        return None
    return "use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit, at most 100 characters"


def _check_subdomain(value: str) -> str | None:
    if _DNS_LABEL_RE.fullmatch(value):
        return None
    return "use a DNS label (RFC 1123): lowercase letters, digits and '-', not starting or ending with '-', at most 63 characters"


def _check_project_name(value: str) -> str | None:
    rule = "use a lowercase Python identifier (letters, digits, '_'; not starting with a digit)"
    if not (value.isascii() and value.isidentifier() and value == value.lower()) or keyword.iskeyword(value):
        return rule
    if value in sys.stdlib_module_names or value in RESERVED_PACKAGES:
        return f"'{value}' would shadow a standard-library or Django/DRF module; pick another package name"
    return None


def _check_text(value: str) -> str | None:
    if not value.strip():
        return "give one line of text"
    if any(ch in value for ch in "\r\n") or any(ord(ch) < 32 for ch in value):
        return "give one line of text without control characters"
    if len(value) > 200:
        return "at most 200 characters"
    return None


def _check_eb_application(value: str) -> str | None:
    if _EB_APP_RE.fullmatch(value):
        return None
    return "use letters, digits, '-', '_' or '.', starting with a letter or digit, at most 100 characters"


def _check_region(value: str) -> str | None:
    if value in AWS_REGIONS:
        return None
    return "use an AWS region code such as ap-northeast-1"


def _choice(*allowed: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value in allowed:
            return None
        return "choose one of " + ", ".join(f"'{a}'" for a in allowed)
    return check


def _check_optional_https_url(value: str) -> str | None:
    if value == "":
        return None
    rule = "leave empty or give an https URL without credentials, e.g. https://pypi.example.com/simple/"
    if any(ch.isspace() for ch in value):
        return rule
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or "@" in parts.netloc:
        return rule
    if not _HOST_RE.fullmatch(parts.netloc):
        return rule
    return None


def _check_npm_scope(value: str) -> str | None:
    if value == "" or _NPM_SCOPE_RE.fullmatch(value):
        return None
    return "leave empty or give an npm scope such as @myorg (lowercase, '@' then letters, digits, '-', '_', '.')"


# question -> (check, is a name: refuse path separators with their own message)
CHECKS: dict[str, tuple[Callable[[str], str | None], bool]] = {
    "repo_name": (_check_repo_name, True),
    "project_name": (_check_project_name, True),
    "subdomain": (_check_subdomain, True),
    "short_description": (_check_text, False),
    "eb_application": (_check_eb_application, True),
    "aws_region": (_check_region, True),
    "use_sentry": (_choice("no", "yes"), True),
    "use_newrelic": (_choice("no", "yes"), True),
    "log_shipping": (_choice("stdout", "fluentd"), True),
    "python_version": (_choice("3.11", "3.12", "3.13"), True),
    "node_version": (_choice("20", "22"), True),
    "private_index_url": (_check_optional_https_url, False),
    "npm_registry_url": (_check_optional_https_url, False),
    "npm_scope": (_check_npm_scope, True),
}


def validate(context: Mapping[str, Any]) -> None:
    """Check every answer in ``context`` that one of the templates asks.

    Args:
        context: cookiecutter answers (private ``_`` keys are ignored).

    Raises:
        AnswerError: the first answer refused, in the order of :data:`CHECKS` (so a bad
            ``repo_name`` is named rather than the answers derived from it), then the rest.
    """
    order = [q for q in CHECKS if q in context] + [q for q in context if q not in CHECKS]
    for question in order:
        raw = context[question]
        if question.startswith("_"):
            continue
        value = raw if isinstance(raw, str) else str(raw)
        for marker in _TEMPLATE_SYNTAX:
            if marker in value:
                raise AnswerError(question, value, f"template syntax ('{marker}') is not allowed in answers")
        if ".." in value:
            raise AnswerError(question, value, "'..' is not allowed in answers")
        check = CHECKS.get(question)
        if check is None:
            continue
        func, is_name = check
        if is_name and ("/" in value or "\\" in value):
            raise AnswerError(question, value, "a name must not contain a path separator ('/' or '\\')")
        problem = func(value)
        if problem:
            raise AnswerError(question, value, problem)
    if "npm_scope" in context or "npm_registry_url" in context:
        registry, scope = str(context.get("npm_registry_url", "")), str(context.get("npm_scope", ""))
        if bool(registry) != bool(scope):
            question, value = ("npm_scope", scope) if registry else ("npm_registry_url", registry)
            raise AnswerError(question, value, "give npm_scope and npm_registry_url together "
                                               "(the scope's packages come from the private registry), or neither")


def pre_gen(context: Mapping[str, Any]) -> int:
    """Run the pre-generation checks; print one line to stderr on refusal.

    Returns:
        0 when every answer is accepted, 1 when one is refused (cookiecutter then stops
        and removes the project folder).
    """
    try:
        validate(context)
    except AnswerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# --- files for options that are off -----------------------------------------------------

# (question, value that keeps the paths) -> paths relative to the project root. When the
# answer differs, the paths are removed; paths a template lacks are ignored.
OPTION_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("log_shipping", "fluentd"): ("docker-compose.fluentd.yml", "fluentd"),
    ("use_newrelic", "yes"): ("newrelic.ini", "newrelic.js"),
}


def prune_options(project_dir: Path, context: Mapping[str, Any]) -> list[str]:
    """Remove the files of options that are off.

    Args:
        project_dir: root of the generated project.
        context: the answers.

    Returns:
        The removed paths, relative and sorted.
    """
    removed = []
    for (question, keep_value), paths in OPTION_PATHS.items():
        if question not in context or str(context[question]) == keep_value:
            continue
        for rel in paths:
            path = project_dir / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            removed.append(rel)
    return sorted(removed)


# --- the record -------------------------------------------------------------------------

def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` from a URL-shaped template location (same rule as cookiepatcher).

    ``https://tok@github.com/o/r.git`` -> ``https://github.com/o/r.git``; ``ssh://git@host/r``
    keeps its login name; paths and abbreviations (``gh:o/r``) are returned unchanged.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    if parts.scheme == "ssh" and ":" not in user:
        return url
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def build_record(context: Mapping[str, Any], repo_dir: Path) -> dict[str, Any] | None:
    """The record for a project generated from the template at ``repo_dir``.

    Args:
        context: the cookiecutter context (answers plus ``_template``, ``_checkout``).
        repo_dir: absolute path of the template folder (the one holding ``cookiecutter.json``).

    Returns:
        The JSON object of ``cookiepatcher.json``, or ``None`` when ``repo_dir`` is not in a
        git checkout whose ``HEAD`` commit holds its ``cookiecutter.json`` (a record naming
        a commit without the template could never be updated from).
    """
    toplevel = _git(repo_dir, "rev-parse", "--show-toplevel")
    commit = _git(repo_dir, "rev-parse", "HEAD")
    if not toplevel or not commit or _git(repo_dir, "cat-file", "-e", "HEAD:./cookiecutter.json") is None:
        return None
    rel = Path(os.path.relpath(Path(repo_dir).resolve(), Path(toplevel).resolve())).as_posix()
    template = context.get("_template")
    checkout = context.get("_checkout")
    return {
        "template": strip_credentials(str(template if template is not None else repo_dir)),
        "directory": None if rel == "." else rel,
        "checkout": checkout or None,
        "commit": commit,
        "context": {k: v for k, v in context.items() if not k.startswith("_")},
    }


def dumps_record(record: Mapping[str, Any]) -> str:
    """The bytes of ``cookiepatcher.json`` (as ``cookiepatcher.record.dumps_record``)."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def post_gen(context: Mapping[str, Any], project_dir: Path, repo_dir: Path | None) -> int:
    """Remove files of options that are off and write ``cookiepatcher.json``.

    Args:
        context: the cookiecutter context.
        project_dir: the generated project (the hook's working directory).
        repo_dir: absolute template folder, or ``None`` when it could not be found.

    No record is written when ``$COOKIEPATCHER_RENDER`` is set (cookiepatcher writes its own)
    or when the template is not in a git checkout (one warning line on stderr).

    Returns:
        0 (the hook never fails the generation over the record).
    """
    prune_options(project_dir, context)
    if os.environ.get(RENDER_ENV):
        return 0
    record = build_record(context, repo_dir) if repo_dir else None
    if record is None:
        print(f"warning: the template is not committed in a git checkout; no {RECORD_FILE} written "
              "(adopt the project later with `cookiepatcher link`)", file=sys.stderr)
        return 0
    if _git(repo_dir, "status", "--porcelain", "--", "."):
        print(f"warning: the template has uncommitted changes; {RECORD_FILE} names its last commit "
              f"{record['commit'][:12]}", file=sys.stderr)
    (project_dir / RECORD_FILE).write_text(dumps_record(record), encoding="utf-8")
    return 0
