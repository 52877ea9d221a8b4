"""Renders without cookiecutter give cookiecutter's files, or give up and leave no trace.

Each case renders one extracted template twice: with :func:`render_plain`, and with
cookiecutter's generation as an upgrade renders it (``render`` with the recorded answers,
every text compiled by Jinja). Files, bytes, modes and the context must be identical.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import files_with_modes, write

from cookiepatcher import plainrender
from cookiepatcher import render as render_mod
from cookiepatcher.answers import resolve_answers
from cookiepatcher.errors import CookiepatcherError, RefusedError

S = "{{cookiecutter.slug}}"
QUESTIONS = {"slug": "demo", "name": "Demo", "n": 1, "flag": True, "empty": "", "obj": {"k": [1, 2]}, "nothing": None,
             "_private": "p", "__prompts__": {"name": "Name?"}}
ANSWERS = {"slug": "svc", "name": "Ser\u00e9 vice", "n": 42, "flag": False, "empty": "", "obj": {"k": ["v"]},
           "nothing": None, "multi": "two\nlines\r\nhere"}


def _template(root: Path, files: dict[str, object], questions: dict | None = None) -> Path:
    write(root / "cookiecutter.json", json.dumps(QUESTIONS if questions is None else questions))
    for rel, content in files.items():
        mode = None
        if isinstance(content, tuple):
            content, mode = content
        write(root / rel, content)
        if mode is not None:
            (root / rel).chmod(mode)
    return root


def _both(tpl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: dict | None = None, **kwargs):
    """(render_plain's result, cookiecutter's result), each ``(files, context)`` or ``None``."""
    answers = dict(ANSWERS if answers is None else answers)
    args = dict(template="gh:org/tpl", checkout="v2", output_dir_value="/work/services", repo_dir_value="/shared/template")
    args.update(kwargs)
    plain_out, real_out = tmp_path / "plain", tmp_path / "real"
    plain_out.mkdir()
    real_out.mkdir()
    plain = plainrender.render_plain(tpl, plain_out, answers, **args)
    plain_result = None if plain is None else (files_with_modes(plain_out), plain.context)
    if plain is None:
        assert list(plain_out.iterdir()) == []  # gave up without a trace
    monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", False)
    monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")
    try:
        real = render_mod.render(tpl, real_out, answers, mode="upgrade", prompt=lambda ctx: resolve_answers(ctx, answers), **args)
        real_result = (files_with_modes(real_out), real.context)
    except CookiepatcherError as exc:
        real_result = ("error", str(exc))
    finally:
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", True)
    return plain_result, real_result


FILES = {
    f"{S}/README.md": "# {{ cookiecutter.name }}\n\n{{ cookiecutter.n }} {{ cookiecutter.flag }} {{cookiecutter.obj}}\n",
    f"{S}/crlf.bat": "@echo {{ cookiecutter.name }}\r\nexit\r\n",
    f"{S}/cr.txt": "a\rb {{ cookiecutter.multi }}\r",
    f"{S}/mixed.txt": "first\r\nsecond\nthird {{ cookiecutter.multi }}\n",
    f"{S}/no-newline.txt": "{{ cookiecutter.nothing }}",
    f"{S}/empty.txt": "",
    f"{S}/bom.txt": "\ufeffbom {{ cookiecutter.slug }}\n",
    f"{S}/run.sh": ("#!/bin/sh\necho {{ cookiecutter.slug }}\n", 0o755),
    f"{S}/logo.png": "{{ cookiecutter.name }} is not rendered: a binary extension\n",
    f"{S}/data.bin": b"\x00\x01{{ cookiecutter.name }}\x02" * 40,
    f"{S}/tool.bin": (b"\x7fELF\x00{{ cookiecutter.name }}" * 40, 0o755),
    f"{S}/src/{{{{cookiecutter.slug}}}}/{{{{ cookiecutter.slug }}}}_mod.py": "NAME = '{{ cookiecutter.slug }}'\n",
    f"{S}/docs/{{{{cookiecutter.empty}}}}": "a file whose name renders empty is left out\n",
    f"{S}/{{{{cookiecutter.n}}}}/{{{{cookiecutter.flag}}}}.txt": "{{ cookiecutter._private }} {{ cookiecutter._template }} "
                                                                 "{{ cookiecutter._output_dir }} {{ cookiecutter._checkout }} "
                                                                 "{{ cookiecutter._repo_dir }}\n",
    f"{S}/.hidden/x": "{{ cookiecutter.__prompts__ }}\n",
}


def test_files_bytes_modes_and_context_are_cookiecutters(tmp_path, monkeypatch):
    plain, real = _both(_template(tmp_path / "t", FILES, {**QUESTIONS, "multi": "m"}), tmp_path, monkeypatch)
    assert plain == real
    files = plain[0]
    assert files["svc/crlf.bat"] == (b"@echo Ser\xc3\xa9 vice\r\nexit\r\n", 0o644)
    assert files["svc/cr.txt"][0] == b"a\rb two\rlines\r\rhere\r"  # the first line's newline, applied to the answer too
    assert files["svc/run.sh"][1] == 0o755 and files["svc/tool.bin"][1] == 0o755
    assert files["svc/logo.png"][0] == FILES[f"{S}/logo.png"].encode()
    assert "svc/docs/" not in "".join(files) and "svc/src/svc/svc_mod.py" in files


def test_configured_newlines_are_used(tmp_path, monkeypatch):
    tpl = _template(tmp_path / "t", {f"{S}/a.txt": "x\ny {{ cookiecutter.name }}\n"}, {**QUESTIONS, "_new_lines": "\r\n"})
    plain, real = _both(tpl, tmp_path, monkeypatch)
    assert plain == real and plain[0]["svc/a.txt"][0] == "x\r\ny Ser\u00e9 vice\r\n".encode()


def test_fuzzed_texts_render_as_cookiecutter_renders_them(tmp_path, monkeypatch):
    """Random contents and names from delimiters, newlines and answer names: each file
    either renders exactly as cookiecutter renders it, or the whole render gives up."""
    rng = random.Random(11)
    parts = ["{{", "}}", "{%", "{#", "#}", " ", "\n", "\r\n", "\r", "cookiecutter", ".", "name", "slug", "items",
             "missing", "x", "|", "{", "}", "\u00e9", "{{ cookiecutter.name }}", "{{cookiecutter.n}}", "{{ cookiecutter.obj }}"]
    gave_up = rendered = 0
    for i in range(120):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        name = "".join(rng.choice(["a", "b", "{{ cookiecutter.slug }}", "{{cookiecutter.name}}", "-"]) for _ in range(3))
        case = tmp_path / str(i)
        tpl = _template(case / "t", {f"{S}/{name}.txt": text, f"{S}/fixed.txt": "{{ cookiecutter.slug }}\n"})
        plain, real = _both(tpl, case, monkeypatch)
        if plain is None:
            gave_up += 1
        elif real[0] == "error":
            raise AssertionError(f"rendered what cookiecutter refuses ({real[1]}): {text!r} {name!r}")
        else:
            rendered += 1
            assert plain == real, (text, name)
    assert gave_up > 10 and rendered > 10  # both kinds occurred


@pytest.mark.parametrize(("files", "questions", "answers"), [
    ({f"{S}/a.txt": "{% if cookiecutter.flag %}x{% endif %}\n"}, None, None),  # logic
    ({f"{S}/a.txt": "{{ cookiecutter.name|upper }}\n"}, None, None),  # a filter
    ({f"{S}/a.txt": "{{ cookiecutter.items }}\n"}, None, None),  # an attribute of the context dict
    ({f"{S}/a.txt": "{{ cookiecutter.missing }}\n"}, None, None),  # not in the context: cookiecutter's error
    ({f"{S}/{{{{ cookiecutter.slug|lower }}}}.txt": "x\n"}, None, None),  # in a name
    ({f"{S}/a.txt": "x\n"}, {**QUESTIONS, "_extensions": []}, None),  # the template's own environment
    ({f"{S}/a.txt": "x\n"}, {**QUESTIONS, "_jinja2_env_vars": {}}, None),
    ({f"{S}/a.txt": "x\n"}, {**QUESTIONS, "__derived": "{{ cookiecutter.slug }}-x"}, None),  # rendered by Jinja
    ({f"{S}/a.txt": "x\n"}, {**QUESTIONS, "new_question": "{{ cookiecutter.slug }}"}, None),  # its default is rendered
    ({f"{S}/a.txt": "x\n", f"{S}/keep/b.txt": "{{ cookiecutter.slug }}\n"}, {**QUESTIONS, "_copy_without_render": ["keep"]}, None),
    ({f"{S}/a.txt": "x\n", f"{S}/b.txt": "{{ cookiecutter.slug }}\n"}, {**QUESTIONS, "_copy_without_render": ["b.txt"]}, None),
    ({f"{S}/a.txt": b"caf\xe9 {{ cookiecutter.slug }}\n"}, None, None),  # not UTF-8
    ({f"{S}/a.txt": "x\n", "hooks/post_gen_project.py": "print('hook')\n"}, None, None),
])
def test_gives_up_where_cookiecutter_must_render(files, questions, answers, tmp_path, monkeypatch):
    tpl = _template(tmp_path / "t", files, questions)
    (tmp_path / "out").mkdir()
    assert plainrender.render_plain(tpl, tmp_path / "out", ANSWERS if answers is None else answers, template="t", checkout=None) is None
    assert list((tmp_path / "out").iterdir()) == []


def test_gives_up_when_the_shortcut_is_switched_off(tmp_path, monkeypatch):
    tpl = _template(tmp_path / "t", {f"{S}/a.txt": "x\n"})
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", False)
    assert plainrender.render_plain(tpl, tmp_path / "out", ANSWERS, template="t", checkout=None) is None


def test_two_folders_rendering_to_one_name_are_left_to_cookiecutter(tmp_path, monkeypatch):
    tpl = _template(tmp_path / "t", {f"{S}/{{{{cookiecutter.slug}}}}/a.txt": "a\n", f"{S}/svc/b.txt": "b\n"})
    (tmp_path / "out").mkdir()
    assert plainrender.render_plain(tpl, tmp_path / "out", ANSWERS, template="t", checkout=None) is None
    assert list((tmp_path / "out").iterdir()) == []


def test_answers_that_would_write_outside_are_refused_as_cookiecutters_render_refuses_them(tmp_path):
    tpl = _template(tmp_path / "t", {f"{S}/{{{{cookiecutter.name}}}}.txt": "x\n"})
    (tmp_path / "out").mkdir()
    with pytest.raises(RefusedError, match="--set name=NEW"):
        plainrender.render_plain(tpl, tmp_path / "out", {**ANSWERS, "name": "../escape"}, template="t", checkout=None)


def test_cookiecutters_default_environment_is_the_stock_one_the_plain_render_assumes():
    """render_plain renders as cookiecutter's environment would when the template sets
    no extensions or environment settings; that holds while the shortcut takes its
    substitution path on that environment (a cookiecutter release changing its default
    extensions would make this fail)."""
    from cookiecutter.generate import create_env_with_context

    env = render_mod._plain_text_shortcut(create_env_with_context({"cookiecutter": {"name": "x"}}))
    assert isinstance(env.from_string("a {{ cookiecutter.name }}"), render_mod._Substitution)


def test_a_cold_incremental_update_loads_neither_cookiecutter_nor_jinja(tmp_path):
    """The point of it: an update whose changed files are plain or substitute answers
    runs without importing cookiecutter or Jinja (they cost ~0.1 s of start-up)."""
    from test_incremental import generate_at_v1, make_two_versions

    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "1\n2\n{{ cookiecutter.name }}\n"},
                            {f"{S}/a.txt": "one\n2\n{{ cookiecutter.name }}\n", f"{S}/new.txt": "{{ cookiecutter.slug }}\n"})
    proj = generate_at_v1(tmp_path, tpl, {})
    code = ("import sys\nfrom cookiepatcher.update import update_project\n"
            "r = update_project(sys.argv[1], checkout='v2', no_input=True)\n"
            "print(r.exit_code, sorted(m for m in ('jinja2', 'cookiecutter') if m in sys.modules))\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COOKIEPATCHER_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code, str(proj)], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split("\n")[0] == "0 []"
    assert (proj / "a.txt").read_text() == "one\n2\nDemo\n" and (proj / "new.txt").read_text() == "demo\n"


# -- renders from blobs ---------------------------------------------------------------------

def _committed(root: Path, files: dict[str, object], questions: dict | None = None) -> tuple[Path, str, list[str]]:
    """The template committed in a git repository: (repository, commit, its file paths)."""
    _template(root, files, questions)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "v1"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
    paths = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True, text=True).stdout.split("\0")
    return root, sha, [p for p in paths if p]


def _blobs_and_disk(repo: Path, sha: str, paths: list[str], tmp_path: Path, monkeypatch, answers: dict | None = None):
    """(render_blobs's result, the disk's: extracted, rendered by cookiecutter and hashed
    as it is), each ``(context, entries, blobs)``; the first ``None`` when it gave up."""
    from cookiepatcher.merge import verbatim_entries
    from cookiepatcher.source import open_template

    answers = dict(ANSWERS if answers is None else answers)
    args = dict(template="gh:org/tpl", checkout="v2", output_dir_value="/work/services", repo_dir_value="/shared/template")
    made = plainrender.render_blobs(open_template(str(repo)), sha, None, paths, answers, output_dir=tmp_path / "render", **args)
    dest = tmp_path / "extracted"
    open_template(str(repo)).extract(sha, dest, paths)
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", False)
    monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")
    try:
        real = render_mod.render(dest, tmp_path / "out", answers, mode="upgrade",
                                 prompt=lambda ctx: resolve_answers(ctx, answers), **args)
        hashed = verbatim_entries(real.project)
        disk = (real.context, *hashed) if hashed is not None else (real.context, "hashed by git")
    except Exception as exc:  # noqa: BLE001 - cookiecutter's errors, its crashes included, are compared
        disk = ("error", str(exc))
    finally:
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", True)
    return made, disk


def test_blob_renders_are_the_disks(tmp_path, monkeypatch):
    """Contents, names, modes, binary files and newlines (one kind per file) as the
    extracted template rendered by cookiecutter and hashed as it is."""
    files = {k: v for k, v in FILES.items() if k not in (f"{S}/mixed.txt",)}
    repo, sha, paths = _committed(tmp_path / "t", files, {**QUESTIONS, "multi": "m"})
    made, disk = _blobs_and_disk(repo, sha, paths, tmp_path, monkeypatch)
    assert made is not None and made == disk
    entries = made[1]
    assert entries["run.sh"][0] == "100755" and entries["tool.bin"][0] == "100755" and entries["README.md"][0] == "100644"
    assert made[2][entries["crlf.bat"][1]] == b"@echo Ser\xc3\xa9 vice\r\nexit\r\n"


def test_blob_renders_follow_the_umask_as_a_checkout_does(tmp_path, monkeypatch):
    """git checks a 100755 file out with mode 0777 minus the umask: without the owner's
    execute bit, cookiecutter's render (and so the merge) sees a plain file."""
    repo, sha, paths = _committed(tmp_path / "t", {f"{S}/run.sh": ("#!/bin/sh\n", 0o755)})
    old = os.umask(0o177)
    try:
        made, disk = _blobs_and_disk(repo, sha, paths, tmp_path, monkeypatch)
    finally:
        os.umask(old)
    assert made == disk and made[1]["run.sh"][0] == "100644"


def test_fuzzed_blob_renders_are_the_disks(tmp_path, monkeypatch):
    rng = random.Random(5)
    parts = ["{{", "}}", "{%", " ", "\n", "\r\n", "\r", "cookiecutter", ".", "name", "slug", "items", "x", "{", "}",
             "\u00e9", "{{ cookiecutter.name }}", "{{cookiecutter.n}}", "{{ cookiecutter.multi }}"]
    outcomes = {"gave up": 0, "rendered": 0}
    for i in range(60):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        name = "".join(rng.choice(["a", "{{ cookiecutter.slug }}", "{{cookiecutter.empty}}", "-", "{{cookiecutter.n}}"])
                       for _ in range(2))
        case = tmp_path / str(i)
        repo, sha, paths = _committed(case / "t", {f"{S}/d/{name}.txt": text, f"{S}/k.txt": "{{ cookiecutter.slug }}\n"},
                                      {**QUESTIONS, "multi": "m"})
        made, disk = _blobs_and_disk(repo, sha, paths, case, monkeypatch)
        if made is None:
            outcomes["gave up"] += 1
        else:
            outcomes["rendered"] += 1
            assert made == disk, (text, name)
    assert outcomes["gave up"] > 5 and outcomes["rendered"] > 5


@pytest.mark.parametrize("files", [
    {f"{S}/mixed.txt": "a\r\nb\nc\n"},  # which kind the first line's read reports depends on the reader
    {f"{S}/.gitattributes": "*.txt eol=crlf\n", f"{S}/a.txt": "x\n"},  # the checkout is not the blobs
    {".gitattributes": "*.txt text eol=crlf\n", f"{S}/a.txt": "x\n"},
    {f"{S}/.git{{{{cookiecutter.empty}}}}": "gitdir: x\n"},  # cookiecutter's render drops it
    {f"{S}/{{{{cookiecutter.slug}}}}/a.txt": "a\n", f"{S}/svc/b.txt": "b\n"},  # one folder twice
    {f"{S}/{{{{cookiecutter.obj}}}}.txt": "x\n"},  # a name holding a slash: a folder no template folder stands for
    {f"{S}/a.txt": "{{ cookiecutter.name|upper }}\n"},
])
def test_blob_renders_give_up_where_the_disk_decides(files, tmp_path, monkeypatch):
    repo, sha, paths = _committed(tmp_path / "t", files, {**QUESTIONS, "multi": "m"})
    made, _disk = _blobs_and_disk(repo, sha, paths, tmp_path, monkeypatch, {**ANSWERS, "obj": {"k": ["a/b"]}})
    assert made is None


def test_blob_renders_give_up_on_a_checkout_setting_that_changes_files(tmp_path, monkeypatch):
    repo, sha, paths = _committed(tmp_path / "t", {f"{S}/a.txt": "x\n"})
    assert _blobs_and_disk(repo, sha, paths, tmp_path / "plain", monkeypatch)[0] is not None
    subprocess.run(["git", "config", "core.autocrlf", "true"], cwd=repo, check=True)
    made, disk = _blobs_and_disk(repo, sha, paths, tmp_path / "crlf", monkeypatch)
    assert made is None and disk[2][disk[1]["a.txt"][1]] == b"x\r\n"


def test_names_rendering_to_git_folders_are_dropped_as_cookiecutter_drops_them(tmp_path, monkeypatch):
    """A name rendering to ``.git`` is left to cookiecutter's render, which drops it (a
    repository inside the render would break the merge)."""
    tpl = _template(tmp_path / "t", {f"{S}/.git{{{{cookiecutter.empty}}}}/config": "[core]\n", f"{S}/a.txt": "a\n"})
    plain, real = _both(tpl, tmp_path, monkeypatch)
    assert plain is None and set(real[0]) == {"svc/a.txt"}


def test_a_top_level_file_named_like_the_project_folder_is_left_to_cookiecutter(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.slug}}.txt": "x\n"})
    (tmp_path / "out").mkdir()
    assert plainrender.render_plain(tpl, tmp_path / "out", ANSWERS, template="t", checkout=None) is None


def test_an_output_folder_cookiecutter_would_render_again_is_left_to_it(tmp_path, monkeypatch):
    """cookiecutter renders folder names with the project folder's path in front: an
    output path holding Jinja or a carriage return is its case; nothing is written
    outside the output folder meanwhile."""
    tpl = _template(tmp_path / "t", {f"{S}/sub/.keep": "", f"{S}/a.txt": "{{ cookiecutter.name|upper }}\n"})
    for odd in ("x{{cookiecutter.slug}}", "x\ry"):
        out = tmp_path / odd / "out"
        out.mkdir(parents=True)
        assert plainrender.render_plain(tpl, out, ANSWERS, template="t", checkout=None) is None
        assert not (tmp_path / "xsvc").exists() and list(out.iterdir()) == []


def test_the_binary_test_is_binaryornots(tmp_path):
    """Renders from blobs test a file's bytes with binaryornot's helpers, composed as
    ``binaryornot.check.is_binary`` composes them for a file (a release composing them
    otherwise would make this fail)."""
    from binaryornot import helpers
    from binaryornot.check import is_binary

    rng = random.Random(3)
    samples = [b"", b"text\n", "caf\u00e9\n".encode(), b"\x89PNG\r\n\x1a\n" + bytes(40), b"\x00" * 10, b"%PDF-1.4\n",
               "\ufeffbom".encode("utf-16"), bytes(range(256)) * 3, b"a" * 600 + b"\x00"]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 700))) for _ in range(40)]
    for i, data in enumerate(samples):
        for name in (f"f{i}.txt", f"f{i}.png", f"f{i}", f"f{i}.PDF"):
            path = tmp_path / name
            path.write_bytes(data)
            composed = helpers.has_binary_extension(name) or helpers.is_binary_string(data[:helpers.CHUNK_SIZE])
            assert is_binary(str(path)) == composed, (name, data[:40])
