"""Cached renders give byte-identical upgrades, and are only used when they are exact.

Every upgrade scenario of ``test_incremental`` is run from identical copies three
times: with the render cache off, with an empty cache (which fills it), and again with
the filled cache while cookiecutter's renders are counted: only templates with hooks
(never cached) may render again. Files, modes, index, exit code and outcomes must match.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import count_renders, files_with_modes, forbid_renders
from test_incremental import CC, SCENARIOS, S, _git, generate_at_v1, make_two_versions

from cookiepatcher import project, rendercache, update
from cookiepatcher.update import update_project


def _outcome(copy: Path, result) -> tuple:
    return (result.exit_code, [(f.path, f.status, f.old_path) for f in result.files], dict(result.defaulted),
            files_with_modes(copy), _git(copy, "ls-files", "-s"), _git(copy, "status", "--porcelain"))


def _update_copy(proj: Path, dest: Path) -> tuple:
    # the same folder every time: the renders see the same _output_dir
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(proj, dest, symlinks=True)
    return _outcome(dest, update_project(dest, checkout="v2", no_input=True))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cached_renders_give_the_same_upgrade(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2, user, _planned = SCENARIOS[name]
    tpl = make_two_versions(tmp_path, v1, v2)
    proj = generate_at_v1(tmp_path, tpl, user)
    dest = tmp_path / "work" / "copy"

    monkeypatch.setenv(rendercache.ENV, "0")
    off = _update_copy(proj, dest)
    monkeypatch.delenv(rendercache.ENV)
    cold = _update_copy(proj, dest)
    hooks = any(p.startswith("hooks/") for p in {**v1, **v2})
    assert bool(list((Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "renders" / "index").rglob("*.render"))) != hooks
    rendered = count_renders(monkeypatch)
    warm = _update_copy(proj, dest)
    assert off == cold == warm
    assert off[1], "the scenario must change something"
    # renders of templates with hooks are never kept (a hook may read the environment)
    assert bool(rendered) == hooks


def test_a_fresh_repository_gets_the_cached_blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache hit writes the render's blobs into a repository that never had them."""
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "1\n2\n3\n"}, {f"{S}/a.txt": "1\n2\n3\nv2 line\n"})
    proj = generate_at_v1(tmp_path, tpl, {"a.txt": "user\n1\n2\n3\n"})
    dest = tmp_path / "work" / "copy"
    first = _update_copy(proj, dest)
    forbid_renders(monkeypatch)
    # a new clone: none of the first run's objects
    shutil.rmtree(dest)
    subprocess.run(["git", "clone", "-q", "--no-local", str(proj), str(dest)], check=True)
    second = _outcome(dest, update_project(dest, checkout="v2", no_input=True))
    assert second == first
    assert (dest / "a.txt").read_text() == "user\n1\n2\n3\nv2 line\n"
    _git(dest, "fsck", "--no-dangling")  # every object the index names is present and intact


def test_a_damaged_cache_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "1\n2\n3\n"}, {f"{S}/a.txt": "1\n2\n3\nv2 line\n"})
    proj = generate_at_v1(tmp_path, tpl, {"a.txt": "user\n1\n2\n3\n"})
    dest = tmp_path / "work" / "copy"
    first = _update_copy(proj, dest)
    cache = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "renders"
    renders = sorted((cache / "index").rglob("*.render"))
    assert renders
    for p in renders:  # same length, other bytes: the sha check must catch it
        raw = p.read_bytes()
        end = raw.index(b"\n")
        json.loads(raw[:end])  # the header stays valid JSON: only the blobs are wrong
        p.write_bytes(raw[:end + 1] + b"x" * (len(raw) - end - 1))
    rendered = count_renders(monkeypatch)
    second = _update_copy(proj, dest)
    assert second == first
    assert rendered, "damaged blobs must not be used"


def test_renders_showing_the_temporary_template_folder_are_not_kept(tmp_path: Path) -> None:
    """``_repo_dir`` is a temporary folder: a render printing it depends on more than the key."""
    tpl = make_two_versions(tmp_path, {f"{S}/where.txt": "{{ cookiecutter._repo_dir }}\n"},
                            {f"{S}/where.txt": "{{ cookiecutter._repo_dir }}\nv2\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    _update_copy(proj, tmp_path / "work" / "copy")
    cache = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "renders" / "index"
    assert not list(cache.rglob("*.render"))


def test_new_question_defaults_come_back_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cc2 = CC[:-1] + ', "license": ["MIT", "BSD"]}'
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "{{ cookiecutter.name }}\n"},
                            {"cookiecutter.json": cc2, f"{S}/LICENSE": "{{ cookiecutter.license }}\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    dest = tmp_path / "work" / "copy"
    first = _update_copy(proj, dest)
    assert first[2] == {"license": "MIT"}
    forbid_renders(monkeypatch)
    assert _update_copy(proj, dest) == first
    assert json.loads((dest / "cookiepatcher.json").read_text())["context"]["license"] == "MIT"


def test_projects_in_other_folders_share_renders_unless_the_template_reads_output_dir(tmp_path: Path,
                                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet clones each service into its own folder: renders of a template that never
    reads ``_output_dir`` are shared between them; one that prints it renders per folder."""
    plain = make_two_versions(tmp_path / "plain", {f"{S}/a.txt": "1\n"}, {f"{S}/a.txt": "2\n"})
    proj = generate_at_v1(tmp_path / "plain", plain, {})
    first = _update_copy(proj, tmp_path / "one" / "copy")
    forbid_renders(monkeypatch)
    assert _update_copy(proj, tmp_path / "two" / "copy")[:2] == first[:2]
    assert (tmp_path / "two" / "copy" / "a.txt").read_text() == "2\n"
    monkeypatch.undo()

    where = "{{ cookiecutter._output_dir }}\n"
    reads = make_two_versions(tmp_path / "reads", {f"{S}/a.txt": "1\n"}, {f"{S}/a.txt": "2\n", f"{S}/where.txt": where})
    proj = generate_at_v1(tmp_path / "reads", reads, {})
    for folder in ("one", "two"):
        dest = tmp_path / "reads" / folder / "copy"
        _update_copy(proj, dest)
        assert (dest / "a.txt").read_text() == "2\n"
        assert (dest / "where.txt").read_text() == f"{dest.parent}\n"


def test_incremental_renders_share_extracted_template_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The template files of an incremental render are extracted once into the cache and
    read by later renders (other services, other folders); a damaged copy is replaced."""
    from cookiepatcher.source import TemplateSource

    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "{{ cookiecutter.name }} 1\n", f"{S}/b.txt": "b\n"},
                            {f"{S}/a.txt": "{{ cookiecutter.name }} 2\n"})
    projects = {name: generate_at_v1(tmp_path / name, tpl, {}) for name in ("one", "two")}
    monkeypatch.setattr(update, "PARALLEL_RENDERS", False)  # both renders in this process, where extractions are counted
    monkeypatch.setattr(project, "render_blobs", lambda *a, **k: None)  # renders from files, as when blobs cannot do
    extracts = []
    real = TemplateSource.extract
    monkeypatch.setattr(TemplateSource, "extract", lambda self, *a, **k: extracts.append(a[0]) or real(self, *a, **k))
    monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")
    off = _update_copy(projects["one"], tmp_path / "off" / "copy")
    monkeypatch.delenv("COOKIEPATCHER_RENDER_CACHE")
    first = _update_copy(projects["one"], tmp_path / "first" / "copy")
    assert first == off and len(extracts) == 4  # two with the cache off, two into the cache
    trees = sorted((Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "renders" / "trees").glob("*/*"))
    assert len(trees) == 2
    extracts.clear()
    monkeypatch.setattr(rendercache, "load", lambda *a, **k: None)  # render again, from the cached files
    # another service with other answers: the same template files, its own renders
    with open(projects["two"] / "cookiepatcher.json") as fh:
        record = json.load(fh)
    record["context"]["name"] = "Other"
    (projects["two"] / "cookiepatcher.json").write_text(json.dumps(record))
    (projects["two"] / "a.txt").write_text("Other 1\n")
    _git(projects["two"], "commit", "-qam", "other answers")
    second = _update_copy(projects["two"], tmp_path / "second" / "copy")
    assert extracts == [] and (tmp_path / "second" / "copy" / "a.txt").read_text() == "Other 2\n"
    assert second[0] == 0
    for tree in trees:  # damage: a file is gone
        for f in tree.rglob("a.txt"):
            f.unlink()
    assert _update_copy(projects["one"], tmp_path / "third" / "copy") == first
    assert len(extracts) == 2


def test_a_template_tree_extracted_by_another_run_meanwhile_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cookiepatcher.source import open_template

    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "1\n"}, {f"{S}/a.txt": "2\n"})
    source = open_template(str(tpl))
    sha = source.resolve("v2")
    only = (f"{S}/", ["cookiecutter.json", f"{S}/a.txt"])
    real_rename = os.rename

    def other_run_first(src, dst):  # another process renames its copy into place first
        shutil.copytree(src, dst)
        Path(dst, "marker").write_text("theirs\n")
        real_rename(src, str(src) + "-lost")  # ours cannot go there any more
        raise OSError("Directory not empty")

    monkeypatch.setattr(rendercache.os, "rename", other_run_first)
    tree = rendercache.template_tree(source, sha, only)
    assert tree is not None and (tree / "marker").read_text() == "theirs\n"
    assert (tree / S / "a.txt").read_text() == "2\n"


def test_template_trees_follow_the_template_repositorys_checkout_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A smudge filter (git-lfs, eol settings) configured after a tree was cached changes
    what extraction writes: the cached tree must not be used (found by a review)."""
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "{{ cookiecutter.name }} 1\n", ".gitattributes": "*.txt filter=up\n"},
                            {f"{S}/a.txt": "{{ cookiecutter.name }} 2\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    monkeypatch.setattr(update, "PARALLEL_RENDERS", False)
    _update_copy(proj, tmp_path / "first" / "copy")  # caches the trees
    global_config = tmp_path / "gitconfig"
    global_config.write_text('[filter "up"]\n\tsmudge = sed s/$/!/\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")
    off = _update_copy(proj, tmp_path / "off" / "copy")
    monkeypatch.delenv("COOKIEPATCHER_RENDER_CACHE")
    assert _update_copy(proj, tmp_path / "on" / "copy") == off


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_blob_ids_computed_here_are_gits(object_format: str, tmp_path: Path) -> None:
    """Cached blobs handed to git fast-import are checked against their ids in Python."""
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", f"--object-format={object_format}", str(repo)], check=True)
    for data in (b"", b"text\n", b"\x00\xff binary\r\n" * 100):
        sha = subprocess.run(["git", "hash-object", "--no-filters", "--stdin"], cwd=repo, input=data,
                             capture_output=True, check=True).stdout.decode().strip()
        assert rendercache.blob_sha(data, len(sha)) == sha


def test_a_cached_render_is_written_into_a_repository_that_never_had_it(tmp_path: Path) -> None:
    """:func:`rendercache.load` without ``pending`` writes the blobs itself (one fast-import)."""
    from cookiepatcher import merge

    folder = tmp_path / "render"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a\r\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)))
    first, second = tmp_path / "first", tmp_path / "second"
    for repo in (first, second):
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    entries = merge.tree_from_dir(first, folder, tmp_path)
    rendercache.store("k" * 64, first, entries, {"name": "x"}, {}, volatile=(str(tmp_path / "nowhere"),), folder=folder)
    assert rendercache.load("k" * 64, second) == (entries, {"name": "x"}, {})
    for _mode, sha in entries.values():
        subprocess.run(["git", "cat-file", "-e", sha], cwd=second, check=True)


def test_a_render_cached_under_another_umask_or_template_setting_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the template's checkout writes is part of a render: its modes follow the
    umask, and a local template's own settings (``core.autocrlf``) change its bytes. A
    render cached under others is not used; the result is a fresh render's."""
    tpl = make_two_versions(tmp_path, {f"{S}/run.sh": ("#!/bin/sh\n", 0o755), f"{S}/a.txt": "1\n"},
                            {f"{S}/run.sh": ("#!/bin/sh\nset -e\n", 0o755), f"{S}/a.txt": "2\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    first = _update_copy(proj, tmp_path / "w1" / "copy")
    old = os.umask(0o177)  # no owner execute bit: the checkout writes run.sh as a plain file
    try:
        rendered = count_renders(monkeypatch)
        masked = _update_copy(proj, tmp_path / "w2" / "copy")
        monkeypatch.setenv(rendercache.ENV, "0")
        assert masked == _update_copy(proj, tmp_path / "w3" / "copy")  # the fresh render's result
        monkeypatch.delenv(rendercache.ENV)
    finally:
        os.umask(old)
    assert rendered and masked != first
    _git(tpl, "config", "core.autocrlf", "true")
    rendered.clear()
    crlf = _update_copy(proj, tmp_path / "w4" / "copy")
    assert rendered  # (both renders now check out CRLF: a conflict with the project's LF lines)
    monkeypatch.setenv(rendercache.ENV, "0")
    assert crlf == _update_copy(proj, tmp_path / "w5" / "copy")
