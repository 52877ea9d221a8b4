"""Inputs a render depends on beyond the cache key, and damaged or unwritable caches.

Each test compares an upgrade with the render cache off against the same upgrade with
it on (cold, then warm where it applies): files, modes, index, exit code, outcomes and
the record must be identical, and a damaged cache must never fail an update. Found by
an adversarial review of the cache; each case failed before its fix.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import count_renders
from test_incremental import CC, README, S, _git, _write, generate_at_v1, make_two_versions
from test_rendercache import _outcome

from cookiepatcher import rendercache
from cookiepatcher.create import create_project
from cookiepatcher.update import update_project

HOOK = """\
import os
with open("stamp.txt", "w") as f:
    f.write("stamp=" + os.environ.get("STAMP", "none") + "\\n")
"""


def _tpl3(tmp_path: Path, files1: dict, files2: dict, files3: dict) -> Path:
    tpl = tmp_path / "template"
    _write(tpl, {"cookiecutter.json": CC, f"{S}/README.md": README, **files1})
    _git(tpl, "init", "-q")
    for i, files in enumerate((files1, files2, files3), 1):
        if i > 1:
            _write(tpl, files)
        _git(tpl, "add", "-A")
        _git(tpl, "commit", "-qm", f"v{i}")
        _git(tpl, "tag", f"v{i}")
    return tpl


def _copy(proj: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(proj, dest, symlinks=True)
    return dest


def test_hook_reading_environment(tmp_path, monkeypatch):
    """A post-gen hook writes the value of an env var (stand-in for the date / a tool
    version): cached base from an earlier run vs fresh target render."""
    hooks = {"hooks/post_gen_project.py": HOOK}
    tpl = _tpl3(tmp_path, {**hooks, f"{S}/a.txt": "1\n"}, {f"{S}/a.txt": "2\n"}, {f"{S}/b.txt": "b\n"})
    monkeypatch.setenv("STAMP", "created")
    proj = generate_at_v1(tmp_path, tpl, {})
    assert (proj / "stamp.txt").read_text() == "stamp=created\n"
    results = {}
    for name, env in (("off", "0"), ("on", "1")):
        monkeypatch.setenv(rendercache.ENV, env)
        dest = _copy(proj, tmp_path / "work" / "copy")
        monkeypatch.setenv("STAMP", "A")  # first upgrade v1 -> v2 at "time" A, committed
        update_project(dest, checkout="v2", no_input=True)
        _git(dest, "commit", "-qam", "to v2")
        monkeypatch.setenv("STAMP", "B")  # second upgrade v2 -> v3 at "time" B
        r = update_project(dest, checkout="v3", no_input=True)
        results[name] = _outcome(dest, r)
        print(name, r.exit_code, [(f.path, f.status) for f in r.files], (dest / "stamp.txt").read_text())
    assert results["off"] == results["on"]


@pytest.mark.parametrize("how", ["autocrlf", "info-attributes"])
def test_repo_config_not_in_key(tmp_path, monkeypatch, how):
    """Blobs of a render depend on the project repository's config/attributes
    (render_entries runs `git add` with the project's GIT_DIR). Fill the cache from a
    clone without the setting, then update a fresh clone (same path) that has it."""
    # the CRLF file only arrives with v2: the clone's checkout stays clean under either setting
    tpl = make_two_versions(tmp_path, {f"{S}/t.txt": "x\n"},
                            {f"{S}/s.bat": "A\r\nb\r\nc\r\nd\r\n", f"{S}/t.txt": "y\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    dest = tmp_path / "work" / "copy"

    def fresh():
        if dest.exists():
            shutil.rmtree(dest)
        subprocess.run(["git", "clone", "-q", "--no-local", str(proj), str(dest)], check=True)
        if how == "autocrlf":
            _git(dest, "config", "core.autocrlf", "input")
        else:
            (dest / ".git" / "info").mkdir(exist_ok=True)
            (dest / ".git" / "info" / "attributes").write_text("*.bat text\n")
        return dest

    # a clone without the setting fills the cache
    subprocess.run(["git", "clone", "-q", "--no-local", str(proj), str(dest)], check=True)
    update_project(dest, checkout="v2", no_input=True, dry_run=True)
    outs = {}
    for name, env in (("off", "0"), ("on", "1")):
        monkeypatch.setenv(rendercache.ENV, env)
        d = fresh()
        r = update_project(d, checkout="v2", no_input=True)
        outs[name] = _outcome(d, r)
        print(name, r.exit_code, [(f.path, f.status) for f in r.files], _git(d, "ls-files", "-s", "s.bat"))
    assert outs["off"] == outs["on"]


def _jinja_scenario(tmp_path):
    # (a filter: a bare {{ cookiecutter.name }} is not compiled at all)
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "{{ cookiecutter.name|lower }}\n1\n"}, {f"{S}/a.txt": "{{ cookiecutter.name|lower }}\n2\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    return proj


@pytest.mark.parametrize("damage", ["truncate-after-magic", "empty", "garbage", "readonly-dir", "readonly-cache-root"])
def test_jinja_cache_damage(tmp_path, monkeypatch, damage):
    proj = _jinja_scenario(tmp_path)
    monkeypatch.setenv(rendercache.ENV, "0")  # only the Jinja cache in play
    first = _outcome(_copy(proj, tmp_path / "work" / "copy"), update_project(_copy(proj, tmp_path / "work" / "copy"), checkout="v2", no_input=True))
    jroot = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "jinja"
    files = [p for p in jroot.rglob("*") if p.is_file()]
    assert files, "jinja cache filled"
    if damage == "readonly-dir":
        shutil.rmtree(jroot)
        # a fresh cache whose folder exists but cannot be written (shared / other user's)
        update_project  # noqa
        for d in [jroot]:
            d.mkdir(parents=True)
        # pre-create the config folder by running create once with writes allowed, then lock it
        tmp = tmp_path / "warm"
        create_project(str(tmp_path / "template"), checkout="v1", no_input=True, output_dir=tmp)
        for d in jroot.iterdir():
            for f in d.iterdir():
                f.unlink()
            d.chmod(0o555)
    elif damage == "readonly-cache-root":
        shutil.rmtree(jroot)
        root = Path(os.environ["COOKIEPATCHER_CACHE_DIR"])
        for d in root.iterdir():
            if d.name != "mirrors":
                shutil.rmtree(d) if d.is_dir() else d.unlink()
        root.chmod(0o555)
    else:
        for p in files:
            data = p.read_bytes()
            if damage == "truncate-after-magic":
                p.write_bytes(data[:len(b"j2") + 4 + 2])  # magic only, checksum pickle cut
                import jinja2.bccache as bc
                p.write_bytes(bc.bc_magic)
            elif damage == "empty":
                p.write_bytes(b"")
            else:
                p.write_bytes(os.urandom(len(data)))
    try:
        dest = _copy(proj, tmp_path / "work" / "copy")
        second = _outcome(dest, update_project(dest, checkout="v2", no_input=True))
    finally:
        for d in [jroot, *jroot.glob("*")] if jroot.exists() else []:
            d.chmod(0o755)
        Path(os.environ["COOKIEPATCHER_CACHE_DIR"]).chmod(0o755)
    assert second == first


def test_repo_dir_through_symlinked_tmpdir(tmp_path, monkeypatch):
    """TMPDIR is a symlink; the template lives in a subfolder (--directory), so _repo_dir
    is the *resolved* temporary path, which the `volatile` check does not recognise."""
    real = tmp_path / "realtmp"
    real.mkdir()
    link = tmp_path / "tmplink"
    link.symlink_to(real)
    import tempfile
    monkeypatch.setenv("TMPDIR", str(link))
    monkeypatch.setattr(tempfile, "tempdir", None)
    tpl = tmp_path / "template"
    sub = "sub"
    v1 = {f"{sub}/cookiecutter.json": CC, f"{sub}/{S}/where.txt": "{{ cookiecutter._repo_dir }}\n",
          f"{sub}/{S}/a.txt": "1\n", f"{sub}/hooks/post_gen_project.py": "pass\n"}
    _write(tpl, v1)
    _git(tpl, "init", "-q")
    for i, files in enumerate(({}, {f"{sub}/{S}/a.txt": "2\n"}, {f"{sub}/{S}/b.txt": "b\n"}), 1):
        _write(tpl, files)
        _git(tpl, "add", "-A")
        _git(tpl, "commit", "-qm", f"v{i}")
        _git(tpl, "tag", f"v{i}")
    proj = create_project(str(tpl), checkout="v1", directory=sub, no_input=True, output_dir=tmp_path / "out")
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "gen")
    results = {}
    for name, env in (("off", "0"), ("on", "1")):
        monkeypatch.setenv(rendercache.ENV, env)
        dest = _copy(proj, tmp_path / "work" / "copy")
        update_project(dest, checkout="v2", no_input=True)
        _git(dest, "commit", "-qam", "to v2")
        r = update_project(dest, checkout="v3", no_input=True)
        results[name] = _outcome(dest, r)
        print(name, r.exit_code, [(f.path, f.status) for f in r.files])
    idx = list((Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "renders" / "index").rglob("*.render"))
    print("cached renders:", len(idx))
    assert results["off"] == results["on"]


def _triple(tmp_path, monkeypatch, proj_factory, **kw):
    """off / cold / warm(with render failing) results of the same update from identical copies."""
    out = {}
    for name in ("off", "cold", "warm"):
        monkeypatch.setenv(rendercache.ENV, "0" if name == "off" else "1")
        dest, proj_dir = proj_factory()
        with monkeypatch.context() as patch:
            calls = count_renders(patch) if name == "warm" else []
            r = update_project(proj_dir, no_input=True, **kw)
        out[name] = (_outcome(dest, r), json.loads((proj_dir / "cookiepatcher.json").read_text()))
        if name == "warm":
            out["warm_rendered"] = len(calls)
    return out


def test_subfolder_project_and_set(tmp_path, monkeypatch):
    cc = '{"name": "Demo", "slug": "{{ cookiecutter.name.lower() }}", "flavour": ["a", "b"]}'
    tpl = make_two_versions(tmp_path, {"cookiecutter.json": cc, f"{S}/f.txt": "{{ cookiecutter.flavour }}\nx\n",
                                       f"{S}/.gitattributes": "*.txt text eol=crlf\n", f"{S}/bin.dat": b"\0\1\2",
                                       f"{S}/link": None},
                            {f"{S}/f.txt": "{{ cookiecutter.flavour }}\ny\n", f"{S}/n.txt": "n\n"})
    gen = create_project(str(tpl), checkout="v1", no_input=True, output_dir=tmp_path / "mono" / "services")
    mono = tmp_path / "mono"
    (mono / "README").write_text("mono\n")
    (mono / ".gitattributes").write_text("* text=auto\n")
    _git(mono, "init", "-q")
    _git(mono, "add", "-A")
    _git(mono, "commit", "-qm", "gen")
    (gen / "f.txt").write_text("a\nx\nuser\n")
    _git(mono, "commit", "-qam", "user")

    def factory():
        dest = tmp_path / "work" / "mono"
        _copy(mono, dest)
        return dest, dest / "services" / gen.name
    for kw in ({"checkout": "v2"}, {"checkout": "v2", "set_answers": {"flavour": "b"}}):
        res = _triple(tmp_path, monkeypatch, factory, **kw)
        print(kw, res["off"][0][0], res["off"][0][1], "warm renders:", res["warm_rendered"])
        assert res["off"] == res["cold"] == res["warm"]


def test_now_default_in_new_question(tmp_path, monkeypatch):
    cc2 = CC[:-1] + ', "year": "{% now \'utc\', \'%Y\' %}"}'
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "a\n"}, {"cookiecutter.json": cc2, f"{S}/LICENSE": "(c) {{ cookiecutter.year }}\n"})
    proj = generate_at_v1(tmp_path, tpl, {})

    def factory():
        dest = _copy(proj, tmp_path / "work" / "copy")
        return dest, dest
    res = _triple(tmp_path, monkeypatch, factory, checkout="v2")
    print(res["off"][0][2], res["off"][1]["context"].get("year"), "warm renders:", res["warm_rendered"])
    assert res["off"] == res["cold"] == res["warm"]


def test_symlink_in_template(tmp_path, monkeypatch):
    tpl = tmp_path / "template"
    _write(tpl, {"cookiecutter.json": CC, f"{S}/a.txt": "1\n", f"{S}/docs/x.md": "x\n"})
    (tpl / S / "link").symlink_to("a.txt")
    (tpl / S / "dlink").symlink_to("docs")
    _git(tpl, "init", "-q")
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v1")
    _git(tpl, "tag", "v1")
    _write(tpl, {f"{S}/a.txt": "2\n"})
    (tpl / S / "link").unlink()
    (tpl / S / "link").symlink_to("docs/x.md")
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v2")
    _git(tpl, "tag", "v2")
    proj = generate_at_v1(tmp_path, tpl, {})

    def factory():
        dest = _copy(proj, tmp_path / "work" / "copy")
        return dest, dest
    res = _triple(tmp_path, monkeypatch, factory, checkout="v2")
    print(res["off"][0][1], "warm renders:", res["warm_rendered"])
    assert res["off"] == res["cold"] == res["warm"]


def test_fetched_since_hides_commits_and_tags_pushed_during_a_fleet_run(tmp_path, monkeypatch):
    import time
    from cookiepatcher.source import open_template
    tpl = tmp_path / "tpl"
    _write(tpl, {"cookiecutter.json": "{}"})
    _git(tpl, "init", "-q")
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v1")
    monkeypatch.setenv("COOKIEPATCHER_FETCHED_SINCE", repr(time.time()))  # what fleet sets
    open_template(f"file://{tpl}")  # first repository of the run: mirror cloned and stamped
    _write(tpl, {"f": "2"})
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v2")
    _git(tpl, "tag", "v2")
    new = _git(tpl, "rev-parse", "HEAD").strip()
    src = open_template(f"file://{tpl}")  # a later repository whose record already names v2
    assert src.has_commit(new), "missing commit is never fetched while the mirror counts as fresh"


def test_partial_clone_gets_every_cached_blob_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A blobless, sparse clone lists blobs in HEAD's tree that it does not hold: a cached
    render's blob equal to one of them (here: service b's untouched .editorconfig) must
    still be written back (found by an adversarial review: the merge failed)."""
    tpl = make_two_versions(tmp_path, {f"{S}/.editorconfig": "root = true\nindent = 4\n"},
                            {f"{S}/README.md": README + "v2\n"})
    mono = tmp_path / "mono"
    for name in ("A", "B"):
        create_project(str(tpl), checkout="v1", no_input=True, output_dir=mono / "services", extra_context={"name": name})
    (mono / "services" / "a" / ".editorconfig").write_text("root = true\nindent = 2\n")
    _git(mono, "init", "-q")
    _git(mono, "add", "-A")
    _git(mono, "commit", "-qm", "services")
    _git(mono, "config", "uploadpack.allowFilter", "true")
    _git(mono, "config", "uploadpack.allowAnySHA1InWant", "true")
    monkeypatch.setenv("COOKIEPATCHER_FULL_RENDER", "1")  # full renders hold .editorconfig
    results = []
    for name, sparse in (("full", "services/a services/b"), ("sparse", "services/a")):
        _git(tmp_path, "-c", "protocol.file.allow=always", "clone", "-q", "--filter=blob:none", "--sparse", mono.as_uri(), name)
        _git(tmp_path / name, "sparse-checkout", "set", *sparse.split())
        result = update_project(tmp_path / name / "services" / "a", checkout="v2", no_input=True)  # the first fills the cache
        results.append((result.exit_code, [(f.path, f.status) for f in result.files],
                        (tmp_path / name / "services" / "a" / "README.md").read_text()))
    assert results[0] == results[1]
    assert results[1][0] == 0 and results[1][2].endswith("v2\n")
