"""Session fixtures of the express-template tests, imported by each test module.

They live here, not in a ``conftest.py``: the shared ``tests/templates/conftest.py`` is
imported by name (``from conftest import ...``), and a second conftest module in this
folder would shadow it in a run over all of ``tests/templates``. A fixture imported into
several modules is set up once per module, so each result is memoised for the session.

Bakes come from the committed template copy of ``tests/templates/conftest.py``
(``template_repo``), so the post-generation hook writes ``cookiepatcher.json``. One
``npm ci`` per session: other bakes link that ``node_modules`` (the template keeps the
dependency set independent of the answers, so the same tree is valid for every bake).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from express_helpers import VARIANTS, run

_SESSION: dict[str, object] = {}


def _once(key: str, make):
    """``make()``'s result, computed on the first call for ``key`` in this test session."""
    if key not in _SESSION:
        _SESSION[key] = make()
    return _SESSION[key]


@pytest.fixture(scope="session")
def express_bakes(cookies_session, template_repo) -> dict[str, Path]:
    """Bake id -> project folder, every variant baked once per session."""
    def bake_all() -> dict[str, Path]:
        projects = {}
        for name, extra in VARIANTS.items():
            result = cookies_session.bake(extra_context=extra, template=str(template_repo / "express-template"))
            assert result.exit_code == 0, (name, result.exception)
            projects[name] = Path(result.project_path)
        return projects
    return _once("bakes", bake_all)


@pytest.fixture(scope="session")
def installed_service(express_bakes, tmp_path_factory) -> dict[str, object]:
    """A copy of the defaults bake with ``npm ci`` done; ``seconds`` is how long it took."""
    def install() -> dict[str, object]:
        project = tmp_path_factory.mktemp("npm") / "service"
        shutil.copytree(express_bakes["defaults"], project, symlinks=True)
        started = time.monotonic()
        proc = run(["npm", "ci"], project, timeout=600)
        seconds = time.monotonic() - started
        assert proc.returncode == 0, proc.stdout
        return {"path": project, "seconds": seconds}
    return _once("installed", install)


def linked_copy(source: Path, installed: Path, dest: Path) -> Path:
    """Copy the bake ``source`` to ``dest`` and link ``installed``'s node_modules into it."""
    shutil.copytree(source, dest, symlinks=True)
    (dest / "node_modules").symlink_to(installed / "node_modules", target_is_directory=True)
    return dest


@pytest.fixture(scope="session")
def all_on_service(express_bakes, installed_service, tmp_path_factory) -> Path:
    """A copy of the all-options bake sharing the defaults bake's node_modules."""
    return _once("all-on", lambda: linked_copy(express_bakes["all-on"], installed_service["path"],
                                                tmp_path_factory.mktemp("all-on") / "service"))


