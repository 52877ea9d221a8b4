"""Regenerate the template's ``package-lock.json`` after its ``package.json`` changed.

Usage (from anywhere, with cookiecutter and npm installed)::

    python express-template/relock.py            # keep locked versions that still satisfy package.json
    python express-template/relock.py --update   # also move every package to its newest allowed version

The lock must be valid for every bake, so ``package.json`` lists the same dependencies
whatever the answers. This script bakes the template with its default answers into a
temporary folder, runs ``npm install --package-lock-only --ignore-scripts`` there (the baked
``.npmrc`` sets ``omit-lockfile-registry-resolved=true``: the lock records no download
addresses, only versions and integrity hashes), and writes the result back with the
template expressions of the root package (its ``name`` and ``engines``) restored.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = "{{cookiecutter.repo_name.replace('%c' % 47, '_')}}"


def _template_root_fields(package_json: Path) -> tuple[str, dict[str, str]]:
    """The unrendered ``name`` and ``engines`` of the template's package.json (Jinja kept).

    The file is not JSON before rendering (the description is a Jinja expression), so the
    two fields are read by pattern: ``"name": "..."`` and ``"engines": {"node": "..."}``.
    """
    text = package_json.read_text(encoding="utf-8")
    string = r'"((?:[^"\\]|\\.)*)"'
    name = re.search(r'^  "name": ' + string, text, re.M)
    node = re.search(r'"engines": \{\s*"node": ' + string + r'\s*\}', text)
    if not name or not node:
        raise RuntimeError(f"{package_json}: cannot find the top-level name and engines.node")
    return json.loads(f'"{name.group(1)}"'), {"node": json.loads(f'"{node.group(1)}"')}


def relock(template_dir: Path, update: bool = False) -> dict:
    """Rewrite ``template_dir``'s lock file from its package.json; return the new lock.

    Args:
        template_dir: the folder holding ``cookiecutter.json`` (this script's folder).
        update: run ``npm update`` semantics (newest allowed versions) instead of keeping
            the versions already locked.

    Raises:
        RuntimeError: npm failed (its output is in the message) or the new lock records a
            download address.
    """
    from cookiecutter.main import cookiecutter  # only needed here: keep --help usable without it

    template_dir = Path(template_dir).resolve()
    lock_path = template_dir / PROJECT_DIR / "package-lock.json"
    with tempfile.TemporaryDirectory(prefix="relock-") as scratch:
        baked = Path(cookiecutter(str(template_dir), no_input=True, output_dir=scratch))
        command = ["npm", "update" if update else "install", "--package-lock-only", "--ignore-scripts",
                   "--no-audit", "--no-fund"]
        proc = subprocess.run(command, cwd=baked, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}")
        fresh = json.loads((baked / "package-lock.json").read_text(encoding="utf-8"))
    name, engines = _template_root_fields(template_dir / PROJECT_DIR / "package.json")
    fresh["name"] = name
    fresh["packages"][""] = {**fresh["packages"][""], "name": name, "engines": engines}
    text = json.dumps(fresh, indent=2, ensure_ascii=False) + "\n"
    if '"resolved"' in text:
        raise RuntimeError("npm recorded download addresses (\"resolved\"); check omit-lockfile-registry-resolved in .npmrc")
    lock_path.write_text(text, encoding="utf-8")
    return fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="move packages to their newest allowed versions")
    args = parser.parse_args()
    try:
        relock(Path(__file__).parent, update=args.update)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
