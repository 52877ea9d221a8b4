"""The record ``cookiepatcher.json``: which template a project follows and with what answers.

Format (stable: sorted keys, 2-space indent, UTF-8, final newline)::

    {
      "checkout": null,              # branch or tag followed; null = template's default branch
      "commit": "<40-hex sha>",      # template commit last applied
      "context": {"project_name": "Demo"},   # the answers (no private ``_`` keys)
      "directory": null,             # subfolder of the template repo holding cookiecutter.json
      "skip": ["docs/**"],           # optional: gitignore-style patterns never taken from the template
      "template": "gh:org/repo"      # as the user gave it, never with credentials
    }

The post-generation hook of this repository's templates writes the same bytes (it cannot
import this package, so it keeps its own ten-line copy of :func:`dumps_record`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cookiepatcher.answers import not_unicode, printable
from cookiepatcher.errors import RecordError, RefusedError

RECORD_FILE = "cookiepatcher.json"
_SHA_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass
class Record:
    """One project's record.

    Attributes:
        template: template location as given (path, git URL or abbreviation such as
            ``gh:org/repo``), credentials removed.
        directory: subfolder of the template repository holding ``cookiecutter.json``,
            or ``None`` for the repository root.
        checkout: branch or tag the project follows, or ``None`` for the default branch.
        commit: full sha of the template commit last applied.
        context: the answers, keyed by question name; private (``_``) keys excluded.
        skip: gitignore-style patterns (relative to the project folder) whose paths are
            never changed by an upgrade.
    """

    template: str
    commit: str
    context: dict[str, Any]
    directory: str | None = None
    checkout: str | None = None
    skip: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object written to disk (``skip`` omitted when empty)."""
        data: dict[str, Any] = {
            "template": self.template,
            "directory": self.directory,
            "checkout": self.checkout,
            "commit": self.commit,
            "context": self.context,
        }
        if self.skip:
            data["skip"] = list(self.skip)
        return data


def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` from a URL-shaped template location.

    ``https://tok@github.com/o/r.git`` -> ``https://github.com/o/r.git``. scp-style
    locations (``git@host:o/r``) keep their user: it is a login name, not a secret.
    Paths and abbreviations are returned unchanged.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    if parts.scheme == "ssh":  # ssh://git@host/... : the user is a login name
        user = parts.netloc.rsplit("@", 1)[0]
        if ":" not in user:
            return url
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def public_context(context: dict[str, Any]) -> dict[str, Any]:
    """The answers worth recording: every key of a cookiecutter context not starting with ``_``."""
    return {k: v for k, v in context.items() if not k.startswith("_")}


def dumps_record(record: Record) -> str:
    """Serialise ``record`` in the stable format (sorted keys, 2-space indent, final newline)."""
    return json.dumps(record.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_record(text: str, where: str = RECORD_FILE) -> Record:
    """Parse and validate the text of a record.

    Args:
        text: the file's content.
        where: name used in error messages.

    Raises:
        RecordError: not JSON, not an object, a key missing or of the wrong type, or
            holding what no file can (a lone surrogate, a NUL in a path); the message
            names the key.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}); fix or recreate it with `cookiepatcher link`") from None
    if not isinstance(data, dict):
        raise RecordError(f"{where} must hold a JSON object; recreate it with `cookiepatcher link`")

    def need(key: str, kinds: tuple[type, ...], nullable: bool = False) -> Any:
        if key not in data:
            if nullable:
                return None
            raise RecordError(f"{where} has no key '{key}'; add it or recreate the record with `cookiepatcher link`")
        value = data[key]
        if value is None and nullable:
            return None
        if not isinstance(value, kinds) or (isinstance(value, str) and not value):
            kind = " or ".join(k.__name__ for k in kinds) + (" or null" if nullable else "")
            # ("non-empty" only for text: an empty context or skip list is a valid record)
            raise RecordError(f"{where}: key '{key}' must be a {'non-empty ' if str in kinds else ''}{kind}, "
                              f"got {json.dumps(value)}")
        return value

    for key in ("template", "directory", "checkout"):  # (names and paths: no NUL, which no path can hold)
        if isinstance(data.get(key), str) and "\0" in data[key]:
            raise RecordError(f"{where}: key '{key}' holds a NUL character (\\u0000), which no name or path can have; "
                              f"fix it or recreate the record with `cookiepatcher link`")
    template = need("template", (str,))
    if strip_credentials(template) != template:  # (the message must not show them)
        raise RecordError(f"{where}: key 'template' holds credentials, which must not be committed; remove them "
                          f"(`cookiepatcher link {strip_credentials(template)}`) and let git find them (a credential "
                          f"helper) or the forge token variable")
    commit = need("commit", (str,))
    if not _SHA_RE.fullmatch(commit):
        raise RecordError(f"{where}: key 'commit' must be a full commit sha, got {json.dumps(commit)}; set it with `cookiepatcher link --commit SHA`")
    context = need("context", (dict,))
    directory = need("directory", (str,), nullable=True)
    checkout = need("checkout", (str,), nullable=True)
    skip = need("skip", (list,), nullable=True) or []
    if not all(isinstance(p, str) and p for p in skip):
        raise RecordError(f"{where}: key 'skip' must be a list of non-empty pattern strings")
    unknown = sorted(set(data) - {"template", "commit", "context", "directory", "checkout", "skip"})
    if unknown:
        raise RecordError(f"{where}: unknown key '{unknown[0]}'; remove it")
    # a \udXXX escape decodes to a lone surrogate, which no file can hold: the render
    # would fail while writing
    for key in sorted(data):
        if not_unicode(key) or not_unicode(data[key]):
            raise RecordError(f"{where}: key '{key}' holds a \\u escape that is no character (a lone surrogate, "
                              f"\\ud800-\\udfff); fix that text or recreate the record with `cookiepatcher link`")
    return Record(template=template, commit=commit, context=context, directory=directory, checkout=checkout, skip=skip)


def check_recordable(what: str, value: str | None) -> None:
    """Refuse ``value`` (named ``what`` in the message: a flag or "the template
    location") when it is not UTF-8 text (see :func:`cookiepatcher.answers.not_unicode`):
    the record is UTF-8 and could not hold it.

    Raises:
        RefusedError: naming ``what`` and the value, escaped.
    """
    if value is not None and not_unicode(value):
        raise RefusedError(f"{what} {printable(value)} is not UTF-8 text, and {RECORD_FILE} records it as UTF-8; use a UTF-8 name")
    if value is not None and "\0" in value:
        raise RefusedError(f"{what} {printable(value)} holds a NUL character, which no name or path can have")


def load_record(project_dir: Path) -> Record:
    """Read ``cookiepatcher.json`` from ``project_dir``.

    Raises:
        RecordError: the file is missing (the way out is ``cookiepatcher link``) or invalid.
    """
    path = Path(project_dir) / RECORD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"no {RECORD_FILE} in {project_dir}; run inside a generated project or adopt this one with `cookiepatcher link TEMPLATE`") from None
    except UnicodeDecodeError:
        raise RecordError(f"{RECORD_FILE} is not UTF-8 text; recreate it with `cookiepatcher link`") from None
    except OSError as exc:  # a folder, unreadable, ...
        raise RecordError(f"cannot read {RECORD_FILE} ({exc.strerror}); it must be a readable file: recreate it with `cookiepatcher link`") from None
    return parse_record(text)


def find_project_dir(start: Path) -> Path:
    """The folder holding ``cookiepatcher.json``: ``start`` or its nearest parent that has
    one, not above the git work tree (as git finds ``.git``). Returns ``start`` when none
    has one, so the caller's error names the folder the user gave.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / RECORD_FILE).exists():
            return folder
        if (folder / ".git").exists():
            break
    return start


def write_record(project_dir: Path, record: Record) -> None:
    """Write ``record`` to ``project_dir/cookiepatcher.json`` in the stable format."""
    (Path(project_dir) / RECORD_FILE).write_text(dumps_record(record), encoding="utf-8")
