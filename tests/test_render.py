"""Rendering a template commit: cookiecutter's behaviour, determinism, and path safety."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import write

from cookiepatcher.answers import coerce, parse_assignments, printable, resolve_answers
from cookiepatcher.errors import RefusedError, TemplateError
from cookiepatcher.render import RENDER_ENV, check_path_answers, check_symlinks, load_context, path_answer_keys, render

RANDOM_FILE = "{{ random_ascii_string(16) }}\n{{ uuid4() }}\n{% now 'utc', '%Y-%m-%d %H:%M:%S.%f' %}\n"


def _template(root: Path, files: dict[str, str], context: str = '{"project_slug": "demo", "name": "x"}') -> Path:
    write(root / "cookiecutter.json", context)
    for rel, text in files.items():
        write(root / rel, text)
    return root


def _render(template: Path, out: Path, answers=None, mode="upgrade"):
    out.mkdir(parents=True, exist_ok=True)
    return render(template, out, answers or {}, template=str(template), checkout=None, mode=mode)


def test_upgrade_renders_are_deterministic_create_renders_are_not(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/r.txt": RANDOM_FILE})

    a = _render(tpl, tmp_path / "a").project.joinpath("r.txt").read_text()
    b = _render(tpl, tmp_path / "b").project.joinpath("r.txt").read_text()
    c = _render(tpl, tmp_path / "c", mode="create").project.joinpath("r.txt").read_text()
    d = _render(tpl, tmp_path / "d", mode="create").project.joinpath("r.txt").read_text()

    assert a == b
    assert a.splitlines()[2].startswith("2000-01-01")  # frozen clock
    assert c != d and c.splitlines()[0] != a.splitlines()[0]
    assert "{{" not in c


def test_render_context_and_answers(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/a.txt": "{{ cookiecutter.name }} {{ cookiecutter.kind }}\n"},
                    '{"project_slug": "demo", "name": "x", "kind": ["lib", "app"]}')

    rendered = _render(tpl, tmp_path / "o", {"name": "given", "kind": "app"})

    assert rendered.project.name == "demo"
    assert (rendered.project / "a.txt").read_text() == "given app\n"
    assert rendered.context["_template"] == str(tpl) and rendered.context["_checkout"] is None


def test_invalid_choice_answer_points_to_set(tmp_path):
    tpl = _template(tmp_path / "t", {}, '{"project_slug": "demo", "kind": ["lib", "app"]}')
    with pytest.raises(TemplateError, match="--set"):
        load_context(tpl, {"kind": "daemon"})


def test_missing_and_broken_cookiecutter_json(tmp_path):
    with pytest.raises(TemplateError, match="--directory"):
        load_context(tmp_path)
    write(tmp_path / "cookiecutter.json", "{nope")
    with pytest.raises(TemplateError, match="not valid JSON"):
        load_context(tmp_path)


def test_hooks_see_render_mode_and_environment_is_restored(tmp_path):
    hook = "import os\nopen('mode.txt', 'w').write(os.environ['COOKIEPATCHER_RENDER'])\n"
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/a.txt": "a\n", "hooks/post_gen_project.py": hook})
    os.environ.pop(RENDER_ENV, None)

    up = _render(tpl, tmp_path / "u")
    cr = _render(tpl, tmp_path / "c", mode="create")

    assert (up.project / "mode.txt").read_text() == "upgrade"
    assert (cr.project / "mode.txt").read_text() == "create"
    assert RENDER_ENV not in os.environ


def test_upgrade_render_drops_vcs_made_by_hooks(tmp_path):
    hook = "import subprocess\nsubprocess.run(['git', 'init', '-q'], check=True)\nopen('sub/.git', 'w').write('gitdir: x')\n"
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/sub/a.txt": "a\n", "hooks/post_gen_project.py": hook})

    up = _render(tpl, tmp_path / "u")
    cr = _render(tpl, tmp_path / "c", mode="create")

    assert not (up.project / ".git").exists() and not (up.project / "sub/.git").exists()
    assert (up.project / "sub/a.txt").exists()
    assert (cr.project / ".git").is_dir()


def test_path_answer_keys_found_in_file_and_folder_names(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/src/{{ cookiecutter.module }}/x_{{cookiecutter.suffix}}.py": ""})
    assert path_answer_keys(tpl) >= {"project_slug", "module", "suffix"}


@pytest.mark.parametrize(("value", "why"), [
    ("../up", "would write outside the project"),
    ("/abs", "would write outside the project"),
    ("..", "would write outside the project"),
    ("a/../../b", "would write outside the project"),
    ("C:evil", "would write outside the project"),
    ("\\\\server\\share", "would write outside the project"),
    ("a/b", "holds a path separator"),
    ("a\\b", "holds a path separator, which a file or folder name cannot hold (a backslash is one on Windows"),
    (".", "names the folder it is in"),
])
def test_path_answers_that_escape_are_refused(tmp_path, value, why):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/{{cookiecutter.module}}.py": ""})
    with pytest.raises(RefusedError, match=re.escape(f"module={value!r} is used in file names and {why}") + ".*--set module="):
        check_path_answers(tpl, {"project_slug": "demo", "module": value})


def test_plain_path_answers_and_non_path_answers_pass(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/{{cookiecutter.module}}.py": ""})
    check_path_answers(tpl, {"project_slug": "demo", "module": "my.module-1", "description": "../not/a/path"})


def test_rendered_symlinks_must_stay_inside(tmp_path):
    project = tmp_path / "p"
    write(project / "docs/a.md", "a\n")
    os.symlink("docs/a.md", project / "ok")
    os.symlink("../docs", project / "docs/self")
    check_symlinks(project)

    os.symlink("../../etc/passwd", project / "docs/bad")
    with pytest.raises(RefusedError, match="docs/bad -> ../../etc/passwd"):
        check_symlinks(project)
    os.unlink(project / "docs/bad")
    os.symlink(str(project / "docs/a.md"), project / "abs")
    with pytest.raises(RefusedError, match="outside the project"):
        check_symlinks(project)  # absolute, even when it points inside today


def test_resolve_answers_keeps_recorded_values_verbatim_and_reports_new_ones():
    from collections import OrderedDict

    ctx = {"cookiecutter": OrderedDict([
        ("name", "Demo"), ("slug", "{{ cookiecutter.name.lower() }}"), ("kind", ["lib", "app"]),
        ("docker", True), ("opts", {"a": "{{ cookiecutter.slug }}"}), ("_private", "{{ raw }}"),
        ("__derived", "{{ cookiecutter.slug }}-x"),
    ])}
    decided = {}

    values = resolve_answers(ctx, {"name": "Other", "slug": "custom"}, decided=decided)

    assert values["slug"] == "custom"  # recorded, not re-derived from name
    assert values["kind"] == "lib" and values["docker"] is True
    assert values["opts"] == {"a": "custom"}
    assert values["_private"] == "{{ raw }}" and values["__derived"] == "custom-x"
    assert decided == {"kind": "lib", "docker": True, "opts": {"a": "custom"}}


def test_parse_assignments_and_coerce():
    assert parse_assignments(["a=1", "b = x=y", "c="]) == {"a": "1", "b": " x=y", "c": ""}
    with pytest.raises(ValueError):
        parse_assignments(["novalue"])
    with pytest.raises(ValueError):
        parse_assignments(["=v"])
    with pytest.raises(ValueError, match=r"^'name=caf\\xe9' holds bytes that are not UTF-8"):
        parse_assignments(["name=caf\udce9"])  # a Latin-1 argument, decoded as Python decodes argv
    assert printable("a\udce9\ud800b") == "a\\xe9\\ud800b"
    assert coerce("yes", False) is True and coerce("off", True) is False
    with pytest.raises(ValueError):
        coerce("maybe", True)
    assert coerce("8", 1) == 8 and coerce("1.5", 0.5) == 1.5
    assert coerce('{"k": 1}', {}) == {"k": 1} and coerce("x", "y") == "x"


def test_compiled_templates_are_cached_per_environment_settings(tmp_path):
    """Jinja's bytecode cache checks the source text, not the delimiters it was compiled
    with: two templates with the same file name and text but other ``_jinja2_env_vars``
    must not share compiled code."""
    text = {"{{cookiecutter.project_slug}}/a.txt": "[[ cookiecutter.name|lower ]] {{ cookiecutter.name|lower }}\n"}
    plain = _template(tmp_path / "plain", text)
    custom = _template(tmp_path / "custom", {"[[cookiecutter.project_slug]]/a.txt": "[[ cookiecutter.name|lower ]] {{ cookiecutter.name|lower }}\n"},
                       '{"project_slug": "demo", "name": "x", "_jinja2_env_vars": {"variable_start_string": "[[", '
                       '"variable_end_string": "]]"}}')
    for _ in range(2):  # the second round reads compiled templates from the cache
        assert (_render(plain, tmp_path / "o1").project / "a.txt").read_text() == "[[ cookiecutter.name|lower ]] x\n"
        assert (_render(custom, tmp_path / "o2").project / "a.txt").read_text() == "x {{ cookiecutter.name|lower }}\n"
        for out in ("o1", "o2"):
            shutil.rmtree(tmp_path / out)
    folders = [p for p in (Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "jinja").iterdir()]
    assert len(folders) == 2 and all(any(f.iterdir()) for f in folders)


def test_compiled_templates_of_two_versions_of_a_file_are_both_kept(tmp_path, monkeypatch):
    """An upgrade renders the same file name from the old and the new template: Jinja's
    one entry per name would be replaced by each render in turn, and both compile again
    on every run."""
    import jinja2

    # (filtered values: a bare ``{{ cookiecutter.name }}`` is not compiled at all)
    old = _template(tmp_path / "old", {"{{cookiecutter.project_slug}}/a.txt": "old {{ cookiecutter.name|lower }}\n"})
    new = _template(tmp_path / "new", {"{{cookiecutter.project_slug}}/a.txt": "new {{ cookiecutter.name|lower }}\n"})
    compiled: list[str] = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, source, *a, **k: compiled.append(source) or real(self, source, *a, **k))
    for _ in range(2):
        compiled.clear()
        for tpl, text in ((old, "old x\n"), (new, "new x\n")):
            assert (_render(tpl, tmp_path / "o").project / "a.txt").read_text() == text
            shutil.rmtree(tmp_path / "o")
    # (what is left: the answers cookiecutter.json gives, rendered by cookiecutter's prompt)
    assert [s for s in compiled if "{{" in s] == [], "the second round compiled file contents or names again"


def test_names_holding_the_output_folder_are_not_kept_compiled(tmp_path):
    """cookiecutter renders folder names joined to the output folder, which differs from
    run to run: keeping them would add cache entries on every render."""
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/sub/{{cookiecutter.name|lower}}/f.txt": "x\n"})
    jinja = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "jinja"
    counts = []
    for n in range(3):
        assert (_render(tpl, tmp_path / f"o{n}").project / "sub" / "x" / "f.txt").read_text() == "x\n"
        counts.append(sum(1 for d in jinja.iterdir() for _f in d.iterdir()))
    assert counts[0] == counts[1] == counts[2] > 0


def test_templates_with_their_own_extensions_are_not_compiled_into_the_cache(tmp_path):
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/a.txt": "{{ cookiecutter.name | shout }}\n",
                                     "local_ext.py": "from jinja2.ext import Extension\n\n"
                                     "class Shout(Extension):\n    def __init__(self, env):\n        super().__init__(env)\n"
                                     "        env.filters['shout'] = lambda v: v.upper()\n"},
                    '{"project_slug": "demo", "name": "x", "_extensions": ["local_ext.Shout"]}')
    assert (_render(tpl, tmp_path / "o").project / "a.txt").read_text() == "X\n"
    jinja = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "jinja"
    assert not jinja.exists() or not any(f for d in jinja.iterdir() for f in d.iterdir())


def test_a_compiled_template_cache_that_cannot_be_written_or_read_never_fails_a_render(tmp_path, monkeypatch):
    """(Root ignores file permissions, so an unwritable cache is simulated.)"""
    import jinja2

    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/a.txt": "{{ cookiecutter.name|lower }}\n"})

    def refuse(self, bucket):
        raise PermissionError(13, "Permission denied")

    real_dump = jinja2.FileSystemBytecodeCache.dump_bytecode
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", refuse)
    assert (_render(tpl, tmp_path / "o1").project / "a.txt").read_text() == "x\n"
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", real_dump)
    _render(tpl, tmp_path / "o2")  # fills the cache

    def damaged(self, bucket):
        raise EOFError("truncated")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", damaged)
    assert (_render(tpl, tmp_path / "o3").project / "a.txt").read_text() == "x\n"


@pytest.mark.parametrize("mode", ["upgrade", "create"])
def test_renders_leave_no_hook_files_in_the_temporary_folder(mode, tmp_path, monkeypatch):
    """cookiecutter writes each hook to a temporary file it never deletes."""
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/a.txt": "x\n",
                                     "hooks/pre_gen_project.py": "print('pre')\n",
                                     "hooks/post_gen_project.sh": "#!/bin/sh\necho post\n"})
    _render(tpl, tmp_path / "o", mode=mode)
    assert list(tmp.iterdir()) == []
    assert tempfile.gettempdir() == str(tmp) and os.environ["TMPDIR"] == str(tmp)


@pytest.mark.parametrize("env_vars", [{}, {"block_start_string": "<%", "block_end_string": "%>"},
                                      {"line_statement_prefix": "%%", "comment_start_string": "<#", "comment_end_string": "#>"}])
def test_plain_names_skip_jinja_with_the_same_result(env_vars, tmp_path, monkeypatch):
    """File and folder names without Jinja syntax are not compiled; every name renders as
    Jinja renders it, whatever the delimiters."""
    import json

    import jinja2

    from cookiepatcher import render as render_mod

    names = ["plain.txt", "with space.md", "brace{.txt", "{{cookiecutter.name}}.py", "<% if True %>b<% endif %>.cfg",
             "{% if True %}if{% endif %}.txt", "{# c #}x.txt", "<# c #>y.txt", "%% set z = 1", "dir/sub dir/{{cookiecutter.name}}/f.txt",
             "100%.txt"]
    context = {"project_slug": "demo", "name": "x", "_jinja2_env_vars": env_vars}
    files = {f"{{{{cookiecutter.project_slug}}}}/{n}": "same\n" for n in names if "%% set" not in n}
    tpl = _template(tmp_path / "t", files, json.dumps(context))
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(1) or real(self, *a, **k))
    trees = {}
    for shortcut in (True, False):
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", shortcut)
        monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")  # compile file contents every time too
        compiled.clear()
        out = tmp_path / f"o{shortcut}"
        try:
            project = _render(tpl, out).project
            trees[shortcut] = (sorted(p.relative_to(project).as_posix() for p in project.rglob("*")), len(compiled))
        except TemplateError as exc:
            trees[shortcut] = (str(exc), len(compiled))
    assert trees[True][0] == trees[False][0] and isinstance(trees[True][0], list)
    assert trees[True][1] < trees[False][1]  # the plain names were not compiled


def test_plain_names_go_through_extensions_that_filter_the_token_stream(tmp_path):
    """An extension may rewrite plain text too (found by a review)."""
    import json

    ext = ("import jinja2.ext\nfrom jinja2.lexer import Token\n"
           "class Spaces(jinja2.ext.Extension):\n"
           "    def filter_stream(self, stream):\n"
           "        for tok in stream:\n"
           "            yield Token(tok.lineno, 'data', tok.value.replace(' ', '_')) if tok.type == 'data' else tok\n")
    ctx = {"project_slug": "demo", "_extensions": ["spaces_ext.Spaces"]}
    tpl = _template(tmp_path / "t", {"{{cookiecutter.project_slug}}/my file.txt": "x\n", "spaces_ext.py": ext}, json.dumps(ctx))
    project = _render(tpl, tmp_path / "o").project
    assert [p.name for p in project.iterdir()] == ["my_file.txt"]


def _jinja_outcome(template_fn, context):
    """What rendering gives: ``("ok", text)`` or ``("error", type name, message)``."""
    try:
        return ("ok", template_fn().render(**context))
    except Exception as exc:  # noqa: BLE001 - the outcome is compared, whatever it is
        return ("error", type(exc).__name__, str(exc))


SUBSTITUTION_TEXTS = [
    "", "plain\n", "a\r\nb\rc\n", "{{ cookiecutter.name }}", "x {{cookiecutter.name}} y\n",
    "{{ cookiecutter . name }}{{\tcookiecutter.\nname }}", "{{ cookiecutter.missing }}", "{{ cookiecutter.items }}",
    "{{ cookiecutter.__class__ }}", "{{ cookiecutter.n }}+{{ cookiecutter.flag }}={{ cookiecutter.obj }}",
    "{{{ cookiecutter.name }}}", "{{ cookiecutter.name }}}}", "}}{{ cookiecutter.name }}", "{{- cookiecutter.name }} x",
    "x {{ cookiecutter.name -}} \n", "{{ cookiecutter.name|upper }}", "{{ cookiecutter['name'] }}", "{{ cookiecutterx.name }}",
    "{% if true %}{{ cookiecutter.name }}{% endif %}", "{# c #}{{ cookiecutter.name }}", "{ {{ cookiecutter.name }} }",
    "{{ cookiecutter.name }}\r\n", "{{ cookiecutter.name }", "{{ cookiecutter.true }}{{ cookiecutter.if }}",
    "{{ other.name }}", "{{ cookiecutter.name }} {% raw %}{{ x }}{% endraw %}", "line\n## {{ cookiecutter.name }}\n",
]


@pytest.mark.parametrize("text", SUBSTITUTION_TEXTS)
def test_substitution_shortcut_renders_as_jinja(text, tmp_path, monkeypatch):
    """Texts whose only Jinja is ``{{ cookiecutter.NAME }}`` skip the compile; every text,
    as a name (``from_string``) and as a file (``get_template``), renders or fails exactly
    as Jinja renders it."""
    import jinja2
    from cookiecutter.environment import StrictEnvironment

    from cookiepatcher import render as render_mod

    (tmp_path / "f.txt").write_bytes(text.encode())
    values = {"name": "Demo é", "n": 3, "flag": False, "obj": {"k": [1]}, "true": "T", "if": "I", "items": "shadowed"}
    context = {"cookiecutter": values, "_cookiecutter": values}
    outcomes = {}
    for shortcut in (True, False):
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", shortcut)
        env = render_mod._plain_text_shortcut(StrictEnvironment(context=context, keep_trailing_newline=True))
        env.loader = jinja2.FileSystemLoader(str(tmp_path))
        compiled = []
        real = env.compile
        env.compile = lambda *a, **k: compiled.append(1) or real(*a, **k)
        outcomes[shortcut] = (_jinja_outcome(lambda: env.from_string(text), context),
                              _jinja_outcome(lambda: env.get_template("f.txt"), context), bool(compiled))
    assert outcomes[True][:2] == outcomes[False][:2]
    assert outcomes[False][2]  # without the shortcut Jinja compiles every text
    split = render_mod._split_substitutions(text)
    plain_lookups = split is not None and all(n in values and not hasattr(values, n) for n in split[1])
    assert outcomes[True][2] == (not plain_lookups)  # compiled only where Jinja must decide


def test_substitution_shortcut_fuzzed_against_jinja(monkeypatch):
    """Random texts built from Jinja's delimiters, names and whitespace render the same
    with and without the shortcut (names only: ``from_string``)."""
    import random

    from cookiecutter.environment import StrictEnvironment

    from cookiepatcher import render as render_mod

    rng = random.Random(7)
    parts = ["{{", "}}", "{%", "{#", "#}", " ", "\t", "\n", "\r\n", "\r", "cookiecutter", ".", "name", "n", "items", "x",
             "-", "|", "{", "}", "é", "{{ cookiecutter.name }}", "{{cookiecutter.n}}"]
    values = {"name": "Demo", "n": 3, "items": "i"}
    context = {"cookiecutter": values}
    for _ in range(1500):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 9)))
        results = []
        for shortcut in (True, False):
            monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", shortcut)
            env = render_mod._plain_text_shortcut(StrictEnvironment(context=context, keep_trailing_newline=True))
            results.append(_jinja_outcome(lambda: env.from_string(text), context))
        assert results[0] == results[1], text


def test_substituted_files_are_the_bytes_cookiecutter_writes(tmp_path, monkeypatch):
    """A whole render with and without the shortcut: same files, same bytes (CRLF and
    CR files keep their line endings as cookiecutter writes them), fewer compiles."""
    import jinja2

    from cookiepatcher import render as render_mod

    files = {"{{cookiecutter.project_slug}}/crlf.txt": "a {{ cookiecutter.name }}\r\nb\r\n",
             "{{cookiecutter.project_slug}}/cr.txt": "{{ cookiecutter.name }}\rz\r",
             "{{cookiecutter.project_slug}}/{{cookiecutter.name}}.py": "NAME = '{{cookiecutter.name}}'\nX = '{{ cookiecutter.name|upper }}'\n",
             "{{cookiecutter.project_slug}}/logic.txt": "{% if cookiecutter.name %}{{ cookiecutter.name }}{% endif %}\n",
             "{{cookiecutter.project_slug}}/plain.md": "# plain\n"}
    tpl = _template(tmp_path / "t", {k: v for k, v in files.items()})
    for rel, text in files.items():  # write_text would translate the line endings
        (tpl / rel).write_bytes(text.encode())
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, source, *a, **k: compiled.append(source) or real(self, source, *a, **k))
    monkeypatch.setenv("COOKIEPATCHER_RENDER_CACHE", "0")
    trees = {}
    for shortcut in (True, False):
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", shortcut)
        compiled.clear()
        project = _render(tpl, tmp_path / f"o{shortcut}").project
        trees[shortcut] = ({p.relative_to(project).as_posix(): p.read_bytes() for p in project.rglob("*")},
                           sorted(c for c in compiled if "cookiecutter." in c))
    assert trees[True][0] == trees[False][0]
    assert trees[True][0]["crlf.txt"] == b"a x\r\nb\r\n" and trees[True][0]["cr.txt"] == b"x\rz\r"
    assert trees[True][0]["x.py"] == b"NAME = 'x'\nX = 'X'\n"
    # only logic.txt and x.py (a filter) compile; without the shortcut, every name and file
    assert trees[True][1] == sorted([files["{{cookiecutter.project_slug}}/logic.txt"], files["{{cookiecutter.project_slug}}/{{cookiecutter.name}}.py"]])
    assert len(trees[False][1]) == 6  # two names, four files


def _shortcut_and_jinja(env_factory, text, context, monkeypatch):
    from cookiepatcher import render as render_mod

    outcomes = []
    for shortcut in (True, False):
        monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", shortcut)
        env = render_mod._plain_text_shortcut(env_factory())
        outcomes.append(_jinja_outcome(lambda: env.from_string(text), context))
    return outcomes


@pytest.mark.parametrize("text", ["hello\n", "x {{ cookiecutter.name }}\n"])
def test_an_empty_line_statement_prefix_turns_the_shortcut_off(text, monkeypatch):
    """Jinja tests the prefixes against None: ``""`` makes every line a statement (found by
    a review)."""
    from cookiecutter.environment import StrictEnvironment

    context = {"cookiecutter": {"name": "Demo"}}
    shortcut, jinja = _shortcut_and_jinja(
        lambda: StrictEnvironment(context=context, keep_trailing_newline=True, line_statement_prefix=""), text, context,
        monkeypatch)
    assert shortcut == jinja and jinja[0] == "error"


@pytest.mark.parametrize("change", ["getattr", "template_class", "concat", "finalize"])
def test_an_environment_changed_on_the_instance_turns_the_shortcut_off(change, monkeypatch):
    """An extension (a template's ``_extensions``) may set the lookup, the template class,
    ``concat`` or ``finalize`` on the environment itself; Jinja's compiled code uses them
    (found by a review)."""
    import jinja2
    from cookiecutter.environment import StrictEnvironment

    class Upper(jinja2.Template):
        def render(self, *args, **kwargs):
            return super().render(*args, **kwargs).upper()

    def factory():
        env = StrictEnvironment(context=context, keep_trailing_newline=True)
        if change == "getattr":
            original = env.getattr
            env.getattr = lambda obj, attr: str(original(obj, attr)).strip()
        elif change == "template_class":
            env.template_class = Upper
        elif change == "concat":
            env.concat = lambda parts: "|".join(parts)
        else:
            env.finalize = lambda value: f"<{value}>"
        return env

    context = {"cookiecutter": {"name": " Demo "}}
    shortcut, jinja = _shortcut_and_jinja(factory, "x {{ cookiecutter.name }}\n", context, monkeypatch)
    assert shortcut == jinja and jinja[1] != "x  Demo \n"


def test_an_extension_filtering_the_token_stream_from_its_instance_turns_the_shortcut_off(monkeypatch):
    """The stream filter may be set in the extension's __init__, not its class (found by a
    review)."""
    import jinja2.ext
    from cookiecutter.environment import StrictEnvironment
    from jinja2.lexer import Token

    class Spaces(jinja2.ext.Extension):
        def __init__(self, environment):
            super().__init__(environment)

            def filter_stream(stream):
                for tok in stream:
                    yield Token(tok.lineno, "data", tok.value.replace(" ", "_")) if tok.type == "data" else tok

            self.filter_stream = filter_stream

    context = {"cookiecutter": {"name": "Demo"}}

    def factory():
        env = StrictEnvironment(context=context, keep_trailing_newline=True)
        env.add_extension(Spaces)
        return env

    shortcut, jinja = _shortcut_and_jinja(factory, "a b {{ cookiecutter.name }}\n", context, monkeypatch)
    assert shortcut == jinja == ("ok", "a_b_Demo\n")


def test_settings_jinja_cannot_compile_with_turn_the_shortcut_off(monkeypatch):
    """A delimiter set to None makes Jinja fail on every text; the shortcut must not
    render plain texts Jinja refuses (found by a review)."""
    from cookiecutter.environment import StrictEnvironment

    context = {"cookiecutter": {"name": "Demo"}}
    shortcut, jinja = _shortcut_and_jinja(
        lambda: StrictEnvironment(context=context, keep_trailing_newline=True, variable_start_string="<<",
                                  variable_end_string=">>", comment_start_string=None), "plain\n", context, monkeypatch)
    assert shortcut == jinja and jinja[0] == "error"
