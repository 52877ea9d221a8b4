"""``cookiepatcher check``: is the project behind the template ref it follows?"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cookiepatcher.errors import RefusedError
from cookiepatcher.record import load_record
from cookiepatcher.source import open_template


@dataclass
class CheckResult:
    """``recorded_commit`` vs ``latest_commit`` of the followed ``ref`` (``None`` = default branch)."""

    recorded_commit: str
    latest_commit: str
    ref: str | None

    @property
    def up_to_date(self) -> bool:
        """True when the followed ref still points at the recorded commit."""
        return self.recorded_commit == self.latest_commit


def check_project(project_dir: Path, *, checkout: str | None = None, offline: bool = False) -> CheckResult:
    """Compare the recorded commit with the latest commit of the followed ref.

    Needs no git repository around the project (only its ``cookiepatcher.json``).

    Raises:
        RecordError, TemplateError: invalid record, unreachable template or missing ref.
    """
    record = load_record(Path(project_dir))
    ref = checkout if checkout is not None else record.checkout
    source = open_template(record.template, offline=offline)
    latest = source.resolve(ref)
    if latest != record.commit and not source.has_commit(record.commit):
        raise RefusedError(f"recorded template commit {record.commit[:12]} is no longer in {record.template} (history rewritten?); re-link with `cookiepatcher link {record.template} --commit SHA`")
    return CheckResult(recorded_commit=record.commit, latest_commit=latest, ref=ref)
