"""The git plumbing helpers give what git's own porcelain-free commands give."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cookiepatcher import git

ODD_NAMES = ['plain.txt', 'with space.md', 'quote"d.txt', 'back\\slash.txt', 'tab\there.txt', 'new\nline.txt',
             '"leading-quote.txt', 'ünïcode/ファイル.txt', 'sub dir/deeper/x.py']
IDENT = {"GIT_AUTHOR_NAME": "cookiepatcher", "GIT_AUTHOR_EMAIL": "cookiepatcher@localhost", "GIT_AUTHOR_DATE": "@0 +0000",
         "GIT_COMMITTER_NAME": "cookiepatcher", "GIT_COMMITTER_EMAIL": "cookiepatcher@localhost",
         "GIT_COMMITTER_DATE": "@0 +0000"}


def _git(repo: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, input=input, check=True, capture_output=True,
                          env={**os.environ, **(env or {})}).stdout.decode().strip()


def _blob(repo: Path, data: bytes) -> str:
    return _git(repo, "hash-object", "-w", "--stdin", input=data)


def _reference_commit(repo: Path, entries: dict, message: str, parents=()) -> str:
    """What `update-index` + `write-tree` + `commit-tree` make of ``entries``."""
    index = repo / ".git" / "ref-index"
    index.unlink(missing_ok=True)
    lines = "".join(f"{mode} {sha}\t{path}\0" for path, (mode, sha) in entries.items()).encode()
    _git(repo, "update-index", "-z", "--index-info", input=lines, env={"GIT_INDEX_FILE": str(index)})
    tree = _git(repo, "write-tree", env={"GIT_INDEX_FILE": str(index)})
    args = ["commit-tree", tree, "-m", message]
    for p in parents:
        args += ["-p", p]
    return _git(repo, *args, env=IDENT)


def test_synthetic_commits_match_commit_tree_for_every_kind_of_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _git(tmp_path, "init", "-q", str(repo))
    outer = {"README.md": ("100644", _blob(repo, b"readme\n")), "svc/old.txt": ("100644", _blob(repo, b"old\n")),
             "svc/run.sh": ("100755", _blob(repo, b"#!/bin/sh\n")), "svc/link": ("120000", _blob(repo, b"run.sh"))}
    head = _reference_commit(repo, outer, "head")
    head_tree = _git(repo, "rev-parse", f"{head}^{{tree}}")
    inner = {name: ("100644", _blob(repo, name.encode() + b"\n")) for name in ODD_NAMES}
    inner["bin/tool"] = ("100755", _blob(repo, b"tool\n"))
    inner["lnk"] = ("120000", _blob(repo, b"plain.txt"))

    shadow = git.make_shadow_repo(tmp_path / "shadow.git")
    objects = repo / ".git" / "objects"
    got = git.synthetic_commits(shadow, objects, [
        ("grafted", git.tree_commands(head_tree, "svc/", {**inner, "rec.json": ("100644", git.blob_mark(0))}), ()),
        ("whole", git.tree_commands(head_tree, "", inner), (0,)),
        ("same", git.tree_commands(head_tree), (0,)),
        ("empty", git.tree_commands(None), ()),
    ], blobs=[b'{"new": "record"}\n'])

    record = ("100644", _blob(repo, b'{"new": "record"}\n'))
    grafted = {**{p: e for p, e in outer.items() if not p.startswith("svc/")}, **{"svc/" + p: e for p, e in inner.items()},
               "svc/rec.json": record}
    first = _reference_commit(repo, grafted, "grafted")
    assert got == [first, _reference_commit(repo, inner, "whole", [first]), _reference_commit(repo, outer, "same", [first]),
                   _reference_commit(repo, {}, "empty")]
    # the project's refs are untouched
    assert _git(repo, "for-each-ref") == ""


def test_config_values_keeps_file_order_and_valueless_keys(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _git(tmp_path, "init", "-q", str(repo))
    (repo / ".git" / "config").write_text((repo / ".git" / "config").read_text()
                                          + "[merge]\n\tconflictStyle = merge\n\tconflictStyle = zdiff3\n[filter \"x\"]\n\trequired\n")
    values = git.config_values(repo, r"^(merge|filter)\.")
    assert values == [("merge.conflictstyle", "merge"), ("merge.conflictstyle", "zdiff3"), ("filter.x.required", "")]


def test_locate_repo_remembers_the_folders_of_a_linked_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _git(tmp_path, "init", "-q", str(repo))
    (repo / "a.txt").write_text("a\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "a", env=IDENT)
    _git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    (tmp_path / "wt" / "sub").mkdir()
    head = _git(repo, "rev-parse", "HEAD")
    assert git.locate_repo(tmp_path / "wt" / "sub") == ((tmp_path / "wt").resolve(), head, _git(repo, "rev-parse", "HEAD^{tree}"))
    assert git.git_dir(tmp_path / "wt") == (repo / ".git" / "worktrees" / "wt").resolve()
    assert git.objects_dir(tmp_path / "wt" / "sub") == (repo / ".git" / "objects").resolve()
    assert git.locate_repo(tmp_path) is None
    _git(tmp_path, "init", "-q", str(tmp_path / "empty"))
    (tmp_path / "empty" / "HEAD").write_text("a file named like the ref\n")
    assert git.locate_repo(tmp_path / "empty") == ((tmp_path / "empty").resolve(), None, None)
    assert git.locate_repo(tmp_path / "wt") == ((tmp_path / "wt").resolve(), head, _git(repo, "rev-parse", "HEAD^{tree}"))


@pytest.mark.parametrize("name", ["a.txt", "dir with space/b.txt", "line\nbreak.txt"])
def test_batch_answers_info_and_contents_requests_in_order(name, tmp_path):
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_bytes(b"bytes\x00\r\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=repo, check=True)
    rev = lambda r: subprocess.run(["git", "rev-parse", r], cwd=repo, capture_output=True, text=True).stdout.strip()  # noqa: E731
    blob = rev(f"HEAD:{name}") if "\n" not in name else git.out(["rev-parse", f"HEAD:{name}"], repo)
    commit = subprocess.run(["git", "cat-file", "commit", "HEAD"], cwd=repo, capture_output=True).stdout
    answers = git.batch(repo, [("info", "HEAD"), ("contents", f"HEAD:{name}"), ("info", "refs/heads/nope"),
                               ("contents", "HEAD:missing"), ("info", "HEAD^{tree}"), ("contents", "HEAD")])
    assert answers == [(rev("HEAD"), "commit", None), (blob, "blob", b"bytes\x00\r\n"), (None, None, None),
                       (None, None, None), (rev("HEAD^{tree}"), "tree", None), (rev("HEAD"), "commit", commit)]


def test_write_blobs_stores_the_bytes_as_they_are(tmp_path):
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitattributes").write_text("* text eol=crlf\n")  # must not apply: bytes go in as they are
    datas = [b"", b"a\nb\n", b"\x00\xff\r\n" * 10]
    git.write_blobs(repo, datas)
    for data in datas:
        sha = subprocess.run(["git", "hash-object", "--no-filters", "--stdin"], cwd=repo, input=data,
                             capture_output=True, check=True).stdout.decode().strip()
        assert subprocess.run(["git", "cat-file", "blob", sha], cwd=repo, capture_output=True, check=True).stdout == data


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["setpriv", "fork"])
def test_a_git_run_with_die_with_parent_dies_with_this_process(how: str, tmp_path: Path) -> None:
    """A killed update leaves no git writing behind it: git started with
    ``die_with_parent`` is killed with the process that started it (through setpriv, or
    set between fork and exec where there is no setpriv)."""
    import signal
    import sys
    import time

    if how == "setpriv" and git._pdeathsig_wrapper() is None:
        pytest.skip("no setpriv with --pdeathsig here")
    script = ("import sys\nfrom cookiepatcher import git\n"
              + ("git._pdeathsig_wrapper = lambda: None\n" if how == "fork" else "")
              + "git.run(['-c', 'alias.wait=!sleep 30', 'wait'], die_with_parent=True)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)

    def state(pid: int) -> tuple[str, int] | None:
        """(state, parent pid) of a live process; ``None`` once it is gone or a zombie."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return None if fields[0] == "Z" else (fields[0], int(fields[1]))

    def children(pid: int) -> list[int]:
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and (st := state(int(e))) and st[1] == pid]

    deadline = time.monotonic() + 10
    while not (kids := children(parent.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kids, "git never started"
    time.sleep(0.2)  # setpriv has become git
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while any(state(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [k for k in kids if state(k)] == [], "git outlived the process that started it"


@pytest.mark.parametrize("url, expected", [
    ("file:///srv/git/tpl.git", "/srv/git/tpl.git"),
    ("file:///srv/my%20templates/t.git", "/srv/my templates/t.git"),
    ("file://localhost/srv/t.git", "/srv/t.git"),
    ("file://otherhost/srv/t.git", "file://otherhost/srv/t.git"),
    ("https://example.com/o/t.git", "https://example.com/o/t.git"),
    ("/srv/t.git", "/srv/t.git"),
])
def test_clone_source_gives_git_the_path_of_a_local_url(url: str, expected: str) -> None:
    assert git.clone_source(url) == expected


def test_read_blobs_leaves_out_blobs_larger_than_asked_without_holding_them(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    big = os.urandom(3 << 20)
    small = b"small\n"
    shas = [_git(repo, "hash-object", "-w", "--stdin", input=data).strip() for data in (big, small)]
    missing = "0" * 40
    assert git.read_blobs(repo, [shas[0], missing, shas[1]], max_size=1 << 20) == {shas[1]: small}
    assert git.read_blobs(repo, shas, max_size=3 << 20) == {shas[0]: big, shas[1]: small}
    assert git.read_blobs(repo, shas) == {shas[0]: big, shas[1]: small}


def test_an_attributes_file_under_gits_prefix_is_found_where_git_reads_it(tmp_path):
    """``core.attributesFile = %(prefix)/...`` names a file below git's installation
    prefix; git expands it, and so the list of attribute files holds git's expansion."""
    from cookiepatcher import rendercache

    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "core.attributesFile", "%(prefix)/share/cp-test-attributes")
    expanded = _git(repo, "config", "--type=path", "--get", "core.attributesFile").strip()
    assert not expanded.startswith("%(prefix)")
    config = git.config_values(repo, r"^core\.")
    assert Path(expanded) in rendercache._attribute_files(repo, config)
