"""Check exchanges with the fake GitHub against GitHub's published OpenAPI description.

The description comes from the npm package ``@octokit/openapi`` (pinned below), fetched
with ``npm pack`` into a cache folder outside the repository
(``$COOKIEPATCHER_TEST_CACHE`` or the user cache dir) and reused afterwards. When
``npm`` is missing, :func:`load_github_spec` returns ``None`` with the reason and the
tests that need the description skip with it.

What is checked for each GitHub request the bot made (``POST /graphql`` aside, which
is not REST): the path and method exist in the description; every query parameter is
one the operation declares; the JSON request body matches the operation's schema; the
status code is a documented response of the operation and the JSON answer matches its
schema. OpenAPI 3.0 ``nullable`` is translated to JSON Schema before validating.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
MEMBER = "package/generated/api.github.com.json"
SPEC_URI = "urn:github-openapi"


def cache_root() -> Path:
    env = os.environ.get("COOKIEPATCHER_TEST_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cookiepatcher-tests"))


# computed at import, before test fixtures repoint HOME
_CACHE_ROOT = cache_root()


def fetch_description() -> tuple[Path | None, str]:
    """Path of ``api.github.com.json`` (fetched once with ``npm pack``), or ``(None, reason)``."""
    target = _CACHE_ROOT / f"octokit-openapi-{VERSION}" / "api.github.com.json"
    if target.exists():
        return target, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed, so GitHub's OpenAPI description (@octokit/openapi) cannot be fetched"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent", "--no-update-notifier", "--no-audit", "--no-fund"],
            cwd=tmp, capture_output=True, text=True, timeout=300,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            return None, f"npm pack {PACKAGE}@{VERSION} failed: {proc.stderr.strip()[-300:]}"
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(MEMBER)
            assert member is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_suffix(".part")
            part.write_bytes(member.read())
            part.replace(target)
    return target, ""


def _nullable_to_jsonschema(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class GitHubSpec:
    """GitHub's REST description, ready to check exchanges.

    Args:
        doc: the parsed ``api.github.com.json`` (OpenAPI 3.0).
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = _nullable_to_jsonschema(doc)
        self.registry = Registry().with_resource(SPEC_URI, Resource.from_contents(self.doc, default_specification=DRAFT4))
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for template in self.doc["paths"]:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            self._routes.append((re.compile(pattern), template))
        # literal paths win over templated ones
        self._routes.sort(key=lambda r: r[1].count("{"))

    def _deref(self, node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        ref = node.get("$ref")
        if not ref:
            return node, None
        target: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target, ref

    def _validate(self, instance: Any, pointer: list[str]) -> list[str]:
        fragment = "/" + "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in pointer)
        validator = jsonschema.Draft4Validator({"$ref": f"{SPEC_URI}#{fragment}"}, registry=self.registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in validator.iter_errors(instance)]

    def check(self, method: str, path: str, query: dict[str, str], body: Any, status: int, response: Any) -> list[str]:
        """Problems with one exchange (empty list = conforms)."""
        template = next((t for rx, t in self._routes if rx.match(path)), None)
        if template is None:
            return [f"{method} {path}: no such path in GitHub's REST description"]
        op = self.doc["paths"][template].get(method.lower())
        if op is None:
            return [f"{method} {template}: method not documented"]
        where = f"{method} {template}"
        errors: list[str] = []
        declared = set()
        for p in op.get("parameters", []):
            p, _ = self._deref(p)
            if p.get("in") == "query":
                declared.add(p["name"])
        errors += [f"{where}: undeclared query parameter '{q}'" for q in query if q not in declared]
        if body is not None:
            rb = op.get("requestBody")
            if rb is None:
                errors.append(f"{where}: sends a body but the operation takes none")
            else:
                rb, ref = self._deref(rb)
                base = ref.lstrip("#/").split("/") if ref else ["paths", template, method.lower(), "requestBody"]
                errors += [f"{where} request: {e}" for e in self._validate(body, [*base, "content", "application/json", "schema"])]
        responses = op.get("responses", {})
        if str(status) not in responses:
            errors.append(f"{where}: status {status} is not a documented response ({', '.join(responses)})")
        else:
            resp, ref = self._deref(responses[str(status)])
            base = ref.lstrip("#/").split("/") if ref else ["paths", template, method.lower(), "responses", str(status)]
            if "application/json" in resp.get("content", {}):
                errors += [f"{where} -> {status}: {e}" for e in self._validate(response, [*base, "content", "application/json", "schema"])]
            elif response is not None and response != "":
                errors.append(f"{where} -> {status}: documented without a body but the fake sent one")
        return errors


_SPEC: GitHubSpec | None = None
_REASON = ""


def load_github_spec() -> tuple[GitHubSpec | None, str]:
    """The checker (loaded once per process) or ``(None, reason to skip)``."""
    global _SPEC, _REASON
    if _SPEC is None and not _REASON:
        path, _REASON = fetch_description()
        if path is not None:
            _SPEC = GitHubSpec(json.loads(path.read_text(encoding="utf-8")))
    return _SPEC, _REASON
