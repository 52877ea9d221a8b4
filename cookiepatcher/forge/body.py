"""Title and Markdown body of the upgrade pull/merge request (GitHub and GitLab flavoured Markdown).

The body has, in order: a hidden marker (``<!-- cookiepatcher:pr {json} -->``, how the
bot recognises its own requests and what they carry), the from/to template commits
with the template's commit subjects in between (linked when the template is hosted on
a forge), conflicts with how to resolve them locally, files by outcome, and the
questions that took their defaults. Text from the template (commit subjects, paths,
answers) is escaped so it cannot mention people, link issues or break the layout.
Bodies stay under GitHub's 65,536-character limit by shortening long lists.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

MARKER = "cookiepatcher:pr"
_MARKER_RE = re.compile(r"<!-- cookiepatcher:pr (\{.*?\}) -->")
MAX_BODY = 60_000
_OUTCOMES = (
    ("conflicted", "Conflicted (see above)"),
    ("updated", "Updated"),
    ("added", "Added"),
    ("deleted", "Deleted"),
    ("renamed", "Renamed"),
    ("kept-deleted", "Kept deleted (you deleted them; the template changed them)"),
    ("skipped", "Skipped (matched `skip` in cookiepatcher.json)"),
)


def marker_data(body: str | None) -> dict[str, Any]:
    """The JSON object in a body's marker, or ``{}`` when the body has none (not the bot's)."""
    m = _MARKER_RE.search(body or "")
    if not m:
        return {}
    try:
        data = json.loads(m.group(1))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def escape(text: str) -> str:
    """Markdown-escape one line of foreign text: no formatting, links, HTML, @mentions or #refs."""
    text = re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text.replace("\n", " "))
    return re.sub(r"([@#!])(?=\w)", "\\1\u200b", text)


def code(text: str) -> str:
    """Inline code span for a path (backticks in the path widen the fence)."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def render_title(template: str, to_commit: str, to_ref: str | None) -> str:
    """``Update template <name> to <short sha> (<ref>)``; ``name`` is the last path part of ``template``."""
    name = re.sub(r"\.git$", "", template.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]) or template
    ref = f" ({to_ref})" if to_ref else ""
    return f"Update template {name} to {to_commit[:12]}{ref}"


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def _file_line(f: Any) -> str:
    if f.status == "renamed" and f.old_path:
        return f"- {code(f.old_path)} → {code(f.path)}"
    return f"- {code(f.path)}"


def _listing(lines: list[str], limit: int) -> list[str]:
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"- … and {len(lines) - limit} more"]


def render_body(
    result: Any,
    *,
    template: str,
    commits: Sequence[tuple[str, str, str | None]],
    browse: Callable[[str], str | None],
    branch: str,
    base: str,
    noun: str = "pull request",
    limit: int = 200,
    unmarked: Sequence[str] = (),
) -> str:
    """The request body for one upgrade.

    Args:
        result: a :class:`cookiepatcher.update.UpdateResult` (``from_commit``,
            ``to_commit``, ``to_ref``, ``files``, ``conflicts``, ``defaulted``).
        template: the template location as recorded.
        commits: template commits after ``from`` up to ``to``: ``(sha, subject, url or None)``.
        browse: sha -> web URL of the template commit, or ``None``.
        branch / base: the bot's branch and the target branch (for the instructions).
        noun: ``"pull request"`` or ``"merge request"``.
        limit: most entries shown per list before "… and N more".
        unmarked: the conflicted files committed without conflict markers (a binary
            file, or one side deleted it: git keeps the other side's file).
    """
    while True:
        text = _render(result, template, commits, browse, branch, base, noun, limit, unmarked)
        if len(text) <= MAX_BODY or limit <= 5:
            return text[:MAX_BODY]
        limit //= 4


def _render(result: Any, template: str, commits: Sequence[tuple[str, str, str | None]], browse: Callable[[str], str | None],
            branch: str, base: str, noun: str, limit: int, unmarked: Sequence[str] = ()) -> str:
    conflicts = list(result.conflicts)
    marker = {"v": 1, "branch": branch, "from": result.from_commit, "to": result.to_commit, "conflicts": conflicts[:100]}
    ref = f" ({escape(result.to_ref)})" if result.to_ref else ""
    out = [
        f"<!-- {MARKER} {json.dumps(marker, separators=(',', ':'))} -->",
        f"This {noun} updates the service to template {code(template)} at "
        f"{_link(code(result.to_commit[:12]), browse(result.to_commit))}{ref}, with a three-way merge "
        "that keeps the service's own changes. It was opened by `cookiepatcher pr` and is kept up to date "
        "as the template moves.",
        "",
        f"**From** {_link(code(result.from_commit[:12]), browse(result.from_commit))} "
        f"**to** {_link(code(result.to_commit[:12]), browse(result.to_commit))}: "
        f"{len(commits)} template commit{'s' if len(commits) != 1 else ''}",
        "",
    ]
    shown = [f"- {_link(code(sha[:12]), url)} {escape(subject)}" for sha, subject, url in reversed(commits)]
    out += _listing(shown, limit)
    if conflicts:
        marked = [p for p in conflicts if p not in unmarked]
        out += ["", f"### Conflicts ({len(conflicts)})", "", f"This {noun} stays a draft until they are resolved."]
        if marked:
            out += ["", "These files were committed **with conflict markers** (`<<<<<<<`, `=======`, `>>>>>>>`):", ""]
            out += _listing([f"- {code(p)}" for p in marked], limit)
        if unmarked:
            out += ["", "These files were committed **as the service has them, without markers** (a binary file, "
                    "or a file one side deleted while the other changed it): the template's change is not in them; "
                    "compare with the template commits above and apply it by hand, or delete the file:", ""]
            out += _listing([f"- {code(p)}" for p in unmarked], limit)
        out += [
            "", "To resolve them locally:", "", "```sh",
            f"git fetch origin {branch}", f"git switch {branch}",
            "# edit each file above: keep the right lines, delete the marker lines",
            "git grep -n -e '^<<<<<<< ' -e '^>>>>>>> ' -- .   # nothing left?",
            "git commit -am 'Resolve template conflicts'", f"git push origin {branch}", "```", "",
            "Once you push your own commits the bot leaves this branch alone; merge when ready.",
        ]
    out += ["", "### Files", ""]
    by_status: dict[str, list[Any]] = {}
    for f in result.files:
        by_status.setdefault(f.status, []).append(f)
    if not by_status:
        out.append("Only `cookiepatcher.json` changes.")
    for status, heading in _OUTCOMES:
        files = by_status.get(status)
        if files:
            out += [f"<details{' open' if status == 'conflicted' or len(files) <= 10 else ''}>"
                    f"<summary>{heading}: {len(files)}</summary>", ""]
            out += _listing([_file_line(f) for f in files], limit)
            out += ["", "</details>", ""]
    if result.defaulted:
        out += ["", "### New questions that took their default", "",
                "Change an answer with `cookiepatcher update --set NAME=VALUE` on this branch.", "",
                "| Question | Value |", "| --- | --- |"]
        for name, value in sorted(result.defaulted.items()):
            out.append(f"| {escape(str(name))} | {escape(json.dumps(value))} |")
    out += ["", f"<sub>Base: {code(base)} · branch: {code(branch)}</sub>", ""]
    return "\n".join(out)
