"""Template sources: local repositories, the bare-mirror cache for URLs, extraction."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git, write

from cookiepatcher.errors import TemplateError
from cookiepatcher.source import expand_abbreviation, is_remote, open_template


@pytest.fixture()
def tpl(tmp_path, make_template):
    return make_template(tmp_path, {
        "v1": {"a.txt": "one\n", "run.sh": ("#!/bin/sh\n", 0o755), "crlf.bat": b"a\r\nb\r\n",
               "link": "symlink:a.txt"},
        "v2": {"a.txt": "two\n"},
    })


def test_expand_abbreviations_like_cookiecutter():
    assert expand_abbreviation("gh:org/repo") == "https://github.com/org/repo.git"
    assert expand_abbreviation("gl:group/repo") == "https://gitlab.com/group/repo.git"
    assert expand_abbreviation("bb:team/repo") == "https://bitbucket.org/team/repo"
    assert expand_abbreviation("corp:svc", {"corp": "https://git.example.com/{0}.git"}) == "https://git.example.com/svc.git"
    assert expand_abbreviation("/srv/templates/x") == "/srv/templates/x"
    assert expand_abbreviation("unknown:thing") == "unknown:thing"


@pytest.mark.parametrize("location, remote", [
    ("https://example.com/o/r.git", True), ("git+https://example.com/o/r", True), ("ssh://git@example.com/r", True),
    ("git@example.com:o/r.git", True), ("file:///srv/repo", True), ("git://example.com/r", True),
    ("/srv/templates/x", False), ("./template", False), ("C:/templates", False),
])
def test_is_remote(location, remote):
    assert is_remote(location) is remote


def test_local_template_resolves_refs(tpl):
    source = open_template(tpl.location)

    assert source.repo == tpl.path.resolve() and source.url is None
    assert source.resolve(None) == tpl.sha("v2")
    assert source.resolve("v1") == tpl.sha("v1")
    assert source.resolve("main") == tpl.sha("v2")
    assert source.resolve(tpl.sha("v1")[:10]) == tpl.sha("v1")
    assert source.has_commit(tpl.sha("v1")) and not source.has_commit("f" * 40)
    assert source.is_ancestor(tpl.sha("v1"), tpl.sha("v2")) and not source.is_ancestor(tpl.sha("v2"), tpl.sha("v1"))
    assert source.log(tpl.sha("v1"), tpl.sha("v2")) == [(tpl.sha("v2"), "template v2")]
    with pytest.raises(TemplateError, match="nope.*--checkout"):
        source.resolve("nope")


def test_template_path_inside_a_repository_uses_the_repository(tpl):
    source = open_template(str(tpl.path / "{{cookiecutter.project_slug}}"))
    assert source.repo == tpl.path.resolve()


def test_bare_repository_as_template(tpl, tmp_path):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(tpl.path), str(bare))

    source = open_template(str(bare))

    assert source.resolve("v1") == tpl.sha("v1")


def test_non_git_folder_and_missing_path_are_errors(tmp_path):
    write(tmp_path / "plain/cookiecutter.json", "{}")
    with pytest.raises(TemplateError, match="git init"):
        open_template(str(tmp_path / "plain"))
    with pytest.raises(TemplateError, match="not found"):
        open_template(str(tmp_path / "missing"))


def test_extract_keeps_bytes_modes_and_symlinks(tpl, tmp_path):
    source = open_template(tpl.location)

    dest = source.extract(tpl.sha("v1"), tmp_path / "x")

    proj = dest / "{{cookiecutter.project_slug}}"
    assert (proj / "a.txt").read_bytes() == b"one\n"
    assert (proj / "crlf.bat").read_bytes() == b"a\r\nb\r\n"
    assert os.stat(proj / "run.sh").st_mode & 0o111 and not os.stat(proj / "a.txt").st_mode & 0o111
    assert os.readlink(proj / "link") == "a.txt"
    assert not (dest / ".git").exists()
    assert source.has_path(tpl.sha("v1"), None) and not source.has_path(tpl.sha("v1"), "sub")


def test_remote_template_is_mirrored_in_the_cache(tpl, tmp_path):
    cache = Path(os.environ["COOKIEPATCHER_CACHE_DIR"])

    source = open_template(tpl.url)

    assert source.url == tpl.url and source.repo.parent == cache / "mirrors"
    assert git(source.repo, "rev-parse", "--is-bare-repository").strip() == "true"
    assert source.resolve("v1") == tpl.sha("v1")
    assert [p.name for p in (cache / "mirrors").iterdir() if ".tmp-" in p.name] == []


def test_a_killed_clone_s_folder_is_removed_by_the_next_clone_once_old(tpl):
    from cookiepatcher.source import _mirror_path

    mirror = _mirror_path(tpl.url)
    mirror.parent.mkdir(parents=True, exist_ok=True)
    old, young = mirror.parent / (mirror.name + ".tmp-old"), mirror.parent / (mirror.name + ".tmp-young")
    for folder in (old, young):
        (folder / "objects").mkdir(parents=True)
    os.utime(old, (0, 0))  # left by a clone killed long ago

    open_template(tpl.url)

    assert not old.exists() and young.exists()  # (a young one may be another clone still running)


def test_remote_branch_is_refetched_tags_come_from_the_cache(tpl):
    open_template(tpl.url)
    tpl.add_version("v3", {"a.txt": "three\n"})

    offline = open_template(tpl.url, offline=True)
    assert offline.resolve(None) == tpl.sha("v2")  # stale cache, no fetch
    assert not offline.has_commit(tpl.sha("v3"))

    online = open_template(tpl.url)
    assert online.resolve(None) == tpl.sha("v3")
    assert online.resolve("v3") == tpl.sha("v3")
    assert open_template(tpl.url, offline=True).resolve("v3") == tpl.sha("v3")


def test_a_tag_moved_in_the_template_moves_in_the_mirror(tpl):
    """`fetch --tags` refuses to clobber a moved tag: the fetch failed on every run after
    ("cannot reach template ...: unknown error") for every project of that template."""
    open_template(tpl.url)
    tpl.add_version("v3", {"a.txt": "three\n"})
    git(tpl.path, "tag", "-f", "v1", "v3")  # v1 now names v3's commit

    online = open_template(tpl.url)
    assert online.resolve(None) == tpl.sha("v3")
    assert online.resolve("v1") == tpl.sha("v3")


def test_missing_commit_is_fetched(tpl):
    open_template(tpl.url)
    tpl.add_version("v3", {"a.txt": "three\n"})

    assert open_template(tpl.url).has_commit(tpl.sha("v3"))


def test_uncached_offline_and_unreachable_remote(tmp_path):
    url = (tmp_path / "nowhere.git").as_uri()
    with pytest.raises(TemplateError, match="not in the cache.*--offline"):
        open_template(url, offline=True)
    with pytest.raises(TemplateError, match="cannot reach template"):
        open_template(url)
    mirrors = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "mirrors"
    assert [p.name for p in mirrors.iterdir() if not p.name.endswith(".lock")] == []


def test_mirror_names_do_not_depend_on_credentials(tpl, tmp_path):
    from cookiepatcher.source import _mirror_path

    assert _mirror_path("https://u:tok@example.com/o/r.git") == _mirror_path("https://example.com/o/r.git")
    assert "tok" not in str(_mirror_path("https://u:tok@example.com/o/r.git"))
    assert _mirror_path("https://example.com/o/r.git") != _mirror_path("https://example.com/other/r.git")


@pytest.mark.parametrize("url, link", [
    ("https://github.com/o/r.git", "https://github.com/o/r/commit/abc"),
    ("git@github.com:o/r.git", "https://github.com/o/r/commit/abc"),
    ("https://gitlab.com/g/sub/r.git", "https://gitlab.com/g/sub/r/-/commit/abc"),
    ("https://bitbucket.org/t/r", "https://bitbucket.org/t/r/commits/abc"),
    # never the credentials; the web server's port, not ssh's
    ("https://oauth2:glpat-XYZ@gitlab.com/o/r.git", "https://gitlab.com/o/r/-/commit/abc"),
    ("https://git.example.com:8443/o/r.git", "https://git.example.com:8443/o/r/commit/abc"),
    ("ssh://git@git.example.com:2222/o/r.git", "https://git.example.com/o/r/commit/abc"),
    ("git+https://u:p@github.com/o/r", "https://github.com/o/r/commit/abc"),
])
def test_browse_url(url, link, tmp_path):
    from cookiepatcher.source import TemplateSource

    assert TemplateSource(location=url, repo=tmp_path, url=url).browse_url("abc") == link
    assert TemplateSource(location="/x", repo=tmp_path).browse_url("abc") is None


def test_a_mirror_fetched_since_the_given_time_is_not_fetched_again(tpl, monkeypatch):
    """``cookiepatcher fleet`` sets COOKIEPATCHER_FETCHED_SINCE so its runs share one fetch."""
    import time

    from cookiepatcher.source import FETCH_STAMP, FETCHED_SINCE_ENV

    started = time.time() - 1
    first = open_template(tpl.url)
    first.resolve(None)
    assert (first.repo / FETCH_STAMP).stat().st_mtime >= started
    tpl.add_version("v3", {"a.txt": "three\n"})

    monkeypatch.setenv(FETCHED_SINCE_ENV, repr(started))
    from cookiepatcher import git as git_module

    calls: list[list[str]] = []
    real = git_module.run
    monkeypatch.setattr(git_module, "run", lambda args, *a, **k: calls.append(list(args)) or real(args, *a, **k))
    fresh = open_template(tpl.url)
    calls.clear()
    assert fresh.resolve(None) == tpl.sha("v2")  # fresh enough: no fetch
    assert [c[0] for c in calls] == ["cat-file"]  # and one look at the mirror, not a second after no fetch
    monkeypatch.setattr(git_module, "run", real)
    monkeypatch.setenv(FETCHED_SINCE_ENV, repr(time.time() + 60))
    assert open_template(tpl.url).resolve(None) == tpl.sha("v3")  # older than asked: fetched
    monkeypatch.delenv(FETCHED_SINCE_ENV)
    tpl.add_version("v4", {"a.txt": "four\n"})
    assert open_template(tpl.url).resolve(None) == tpl.sha("v4")  # not set: every run fetches


def test_a_relative_cache_dir_stays_where_it_was_first_used(tpl, tmp_path, monkeypatch):
    """Renders change the working directory; a relative COOKIEPATCHER_CACHE_DIR must not follow."""
    from cookiepatcher.source import cache_dir

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("COOKIEPATCHER_CACHE_DIR", "rel-cache")
    source = open_template(tpl.url)
    assert source.repo.is_relative_to(tmp_path / "here" / "rel-cache")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cache_dir() == tmp_path / "here" / "rel-cache"


def test_preloaded_lookups_ride_on_the_next_lookup_and_answer_right(tpl, monkeypatch):
    """``preload`` adds its lookups to the git process of the next one (an update resolves
    its target and checks the recorded commit with one ``git cat-file``)."""
    from cookiepatcher import git as git_module

    calls: list[list[str]] = []
    real = git_module.run
    monkeypatch.setattr(git_module, "run", lambda args, *a, **k: calls.append(list(args)) or real(args, *a, **k))
    source = open_template(str(tpl.path))
    calls.clear()
    gone = "0" * 40
    source.preload([tpl.sha("v1"), gone], [(tpl.sha("v1"), None), (tpl.sha("v1"), "nested"), (gone, None)])
    assert calls == []
    assert source.resolve("v2", [None]) == tpl.sha("v2")
    assert len(calls) == 1
    assert source.has_commit(tpl.sha("v1")) and source.has_paths([(tpl.sha("v1"), None), (tpl.sha("v1"), "nested"),
                                                                   (tpl.sha("v2"), None)]) == [True, False, True]
    assert len(calls) == 1
    assert not source.has_commit(gone)  # not remembered as missing: looked up again
    assert len(calls) == 2  # and no second look after a fetch that fetched nothing


def test_a_mirrors_git_folders_are_known_without_asking_git(tpl, monkeypatch):
    import subprocess

    from cookiepatcher import git as git_module

    source = open_template(tpl.url)
    asked = subprocess.run(["git", "rev-parse", "--absolute-git-dir", "--git-common-dir"], cwd=source.repo,
                           capture_output=True, text=True, check=True).stdout.split()
    monkeypatch.setattr(git_module, "run", lambda *a, **k: pytest.fail(f"git ran: {a}"))
    assert git_module.git_dir(source.repo) == Path(asked[0]).resolve()
    assert git_module.objects_dir(source.repo) == (source.repo / asked[1]).resolve() / "objects"


def test_the_mirror_lock_excludes_other_processes_and_filelock(tpl, tmp_path):
    """The mirror's lock (filelock on ``<mirror>.lock``, an ``flock``): another process
    cannot take it while it is held, and gets it once released."""
    import subprocess
    import sys

    from filelock import FileLock, Timeout

    source = open_template(tpl.url)
    lock_file = str(source.repo) + ".lock"
    probe = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    with source._lock():
        assert subprocess.run([sys.executable, "-c", probe, lock_file]).returncode == 3
        with pytest.raises(Timeout):
            FileLock(lock_file).acquire(timeout=0)
    assert subprocess.run([sys.executable, "-c", probe, lock_file]).returncode == 0
    with FileLock(lock_file, timeout=0):
        pass


def test_on_fetch_is_called_before_a_clone_or_fetch_and_only_then(tpl, tmp_path):
    """``update`` loads the render code while git clones or fetches; nothing is called
    when nothing is fetched (offline, a tag already mirrored, a local template)."""
    calls = []

    def on_fetch():
        calls.append(sorted(p.name for p in (Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "mirrors").iterdir()))

    source = open_template(tpl.url, on_fetch=on_fetch)
    assert len(calls) == 1 and not any(n.endswith(".git") for n in calls[0])  # before the clone
    assert source.resolve("v1") == tpl.sha("v1") and len(calls) == 1  # the tag is mirrored: no fetch
    tpl.add_version("v3", {"a.txt": "three\n"})
    assert open_template(tpl.url, on_fetch=on_fetch).resolve(None) == tpl.sha("v3")  # a branch: fetched
    assert len(calls) == 2
    assert open_template(tpl.url, offline=True, on_fetch=on_fetch).resolve(None) == tpl.sha("v3")
    assert open_template(str(tpl.path), on_fetch=on_fetch).resolve("v1") == tpl.sha("v1")
    assert len(calls) == 2


def test_two_processes_cloning_at_once_both_use_the_first_mirror(tpl, monkeypatch):
    """A new mirror is cloned without a lock, into a folder of its own: when another
    process's clone is renamed into place first, that mirror is used and this clone is
    dropped (no error, no leftover folder)."""
    import shutil
    import subprocess

    from cookiepatcher import git as git_module
    from cookiepatcher.source import _mirror_path

    mirror = _mirror_path(tpl.url)
    real_run = git_module.run

    def run(args, *rest, **kwargs):
        result = real_run(args, *rest, **kwargs)
        if args[:1] == ["clone"]:  # meanwhile, another process finishes its clone
            subprocess.run(["git", "clone", "--bare", "--quiet", str(tpl.path), str(mirror)], check=True)
            (mirror / "theirs").write_text("the other process's mirror\n")
        return result

    monkeypatch.setattr(git_module, "run", run)
    source = open_template(tpl.url)
    monkeypatch.setattr(git_module, "run", real_run)
    assert source.repo == mirror and (mirror / "theirs").exists()
    assert source.resolve("v1") == tpl.sha("v1")
    assert sorted(p.name for p in mirror.parent.iterdir()) == [mirror.name]  # this process's clone is gone
    shutil.rmtree(mirror)


def test_a_clone_that_cannot_be_renamed_into_place_is_an_error(tpl, monkeypatch):
    """Only a mirror already in place excuses a failed rename; otherwise the error says
    which cache folder failed and how to pick another."""
    from cookiepatcher import source as source_module

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(source_module.os, "replace", refuse)
    with pytest.raises(TemplateError, match="Permission denied.*COOKIEPATCHER_CACHE_DIR"):
        open_template(tpl.url)
    mirrors = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "mirrors"
    assert list(mirrors.iterdir()) == []
