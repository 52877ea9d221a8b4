"""Render a template with given answers, exactly as cookiecutter generates it.

Generation semantics (hooks, ``_copy_without_render``, ``_extensions``, binary files,
modes, ``_new_lines``, private variables) are cookiecutter's own: this module calls
``cookiecutter.generate.generate_context`` / ``prompt_for_config`` / ``generate_files``,
the same functions ``cookiecutter.main.cookiecutter`` calls, with the same context keys
(``_template``, ``_output_dir``, ``_repo_dir``, ``_checkout``).

Upgrade renders are deterministic: cookiecutter's ``random_ascii_string``, ``uuid4`` and
``{% now %}`` extensions are seeded/frozen so both renders of one upgrade produce the
same values, and hooks see ``COOKIEPATCHER_RENDER=upgrade`` in their environment; what
they print goes to stderr (stdout carries the upgrade's report).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import random
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cookiepatcher.answers import not_unicode, printable
from cookiepatcher.errors import RefusedError, TemplateError

RENDER_ENV = "COOKIEPATCHER_RENDER"
# Both renders of an upgrade share this seed and clock, so the random and time
# extensions agree on both sides and never show up as template changes.
_SEED = 20240101
_FROZEN_NOW = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)


@dataclass
class Rendered:
    """A finished render.

    Attributes:
        project: folder holding the generated project (inside the output dir).
        context: the full cookiecutter context used (``context['cookiecutter']``).
    """

    project: Path
    context: dict[str, Any]


def load_context(template_dir: Path, answers: Mapping[str, Any] | None = None,
                 default_context: Mapping[str, Any] | None = None, answer_flag: str = "--set ") -> dict[str, Any]:
    """The template's ``cookiecutter.json`` with ``answers`` applied (not yet prompted).

    Follows ``cookiecutter.generate.generate_context``: a choice answer moves to the
    front of its list, unknown answers are ignored.

    ``answer_flag``: how the user changes an answer, for the error message (``--set `` for
    upgrades, ``""`` for ``create``'s plain ``KEY=VALUE``).

    Raises:
        TemplateError: no or invalid cookiecutter.json, or an answer that is not one of
            a choice question's options (way out: ``--set KEY=VALUE``, or ``KEY=VALUE``).
    """
    from cookiecutter.exceptions import ContextDecodingException
    from cookiecutter.generate import generate_context

    context_file = template_dir / "cookiecutter.json"
    if not context_file.is_file():
        raise TemplateError(f"no cookiecutter.json in template folder {template_dir.name}; pass the right --directory")
    try:
        return generate_context(context_file=str(context_file), default_context=dict(default_context or {}),
                                extra_context=dict(answers or {}))["cookiecutter"]
    except ContextDecodingException as exc:
        raise TemplateError(f"template's cookiecutter.json is not valid JSON: {exc}") from None
    except ValueError as exc:
        # (cookiecutter's message ends with a full stop)
        raise TemplateError(f"an answer does not fit the template: {str(exc).rstrip('.')}; change it with "
                            f"{answer_flag}KEY=VALUE") from None


def _quiet_cookiecutter_log() -> None:
    """Keep cookiecutter's log (a failing hook's traceback, ``cookiecutter.hooks``) off
    stderr: the error line is ours to print (:class:`TemplateError`)."""
    import logging

    log = logging.getLogger("cookiecutter")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False


def preload() -> None:
    """Import what a render needs (Jinja, cookiecutter, its extensions, and the text
    codecs binaryornot tries on every file cookiecutter renders), so processes forked
    afterwards (``cookiepatcher fleet``) do not each pay for the imports."""
    import arrow  # noqa: F401
    import jinja2  # noqa: F401
    from cookiecutter import extensions, generate, prompt  # noqa: F401

    from cookiepatcher import plainrender

    plainrender.preload()  # binaryornot and its codecs


class Preloader:
    """Runs ``load`` (default :func:`preload`) in a background thread from :meth:`start`
    on, while the caller mostly waits for git processes (which release the GIL).

    :meth:`wait` joins it; call it before forking (a fork must not copy a half-done
    import), before rendering and before returning. An import error is not reported
    here: the render's own import raises it. While the thread runs, the interpreter's
    switch interval is short, so the caller's thread gets the GIL back soon after each
    git process ends; :meth:`wait` restores it.
    """

    def __init__(self, load: Callable[[], Any] | None = None) -> None:
        self._load = load or preload
        self._thread: Any = None
        self._interval = 0.0

    def start(self) -> None:
        """Start loading (once; later calls do nothing)."""
        import threading

        if self._thread is not None:
            return

        def work() -> None:
            try:
                self._load()
            except Exception:  # noqa: BLE001 - the render's own import reports it
                pass

        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._interval, 0.0005))
        self._thread = threading.Thread(target=work, name="cookiepatcher-preload", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait until the loading started by :meth:`start` is done (no-op otherwise)."""
        if self._thread is not None and self._interval:
            self._thread.join()
            sys.setswitchinterval(self._interval)
            self._interval = 0.0


def _bytecode_cache(folder: Path) -> Any:
    """Jinja's ``FileSystemBytecodeCache`` on ``folder``, made harmless: an entry that
    cannot be read (truncated, damaged) counts as a miss, and one that cannot be
    written is skipped, so the cache never fails a render.

    Jinja keeps one entry per template name and checks it against the source's sha1,
    so the two renders of an upgrade (the same name, the old and the new text) would
    replace each other's entry on every run; here the entry's key holds that sha1 too.
    """
    import jinja2
    from jinja2.bccache import Bucket

    class _SafeBytecodeCache(jinja2.FileSystemBytecodeCache):
        def get_bucket(self, environment: Any, name: str, filename: str | None, source: str) -> Bucket:
            checksum = self.get_source_checksum(source)
            bucket = Bucket(environment, self.get_cache_key(f"{name}\0{checksum}", filename), checksum)
            self.load_bytecode(bucket)
            return bucket

        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 - any damage: compile from source
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    return _SafeBytecodeCache(str(folder))


def _cached_from_string(env: Any, volatile: tuple[str, ...] = ()) -> Any:
    """``env.from_string`` that keeps compiled code in ``env.bytecode_cache`` as Jinja's
    loaders do for template files (``jinja2.loaders.BaseLoader.load``): cookiecutter
    renders file and folder names with ``from_string``, which Jinja compiles every time.
    The entry is keyed by the text's sha1 (:func:`_bytecode_cache`). Texts holding one of
    the ``volatile`` strings (this render's output folder: cookiecutter renders folder
    names joined to it, ``cookiecutter.generate.render_and_create_dir``) are compiled
    without the cache, where they would only add an entry no later run reads."""
    original = env.from_string

    def from_string(source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if not isinstance(source, str) or any(v in source for v in volatile):  # nothing to look up
            return original(source, globals, template_class)
        cache = env.bytecode_cache
        bucket = cache.get_bucket(env, "<from_string>", None, source)
        code = bucket.code
        if code is None:
            code = env.compile(source)
            bucket.code = code
            cache.set_bucket(bucket)
        return (template_class or env.template_class).from_code(env, code, env.make_globals(globals), None)

    return from_string


@contextlib.contextmanager
def _compiled_template_cache(volatile: tuple[str, ...] = ()) -> Iterator[None]:
    """Let cookiecutter's Jinja environments keep compiled templates (file contents, and
    file and folder names: :func:`_cached_from_string`) across runs, in
    ``<cache>/jinja/<config>/`` (Jinja's own ``FileSystemBytecodeCache``).

    Jinja checks each cached entry against the template's source text (sha1), but not
    against the environment's settings, so the folder is keyed by everything that
    changes compilation: Jinja's and cookiecutter's versions, the extensions and the
    template's ``_jinja2_env_vars``; templates with their own ``_extensions`` (whose code
    may change between template versions) are not cached. Template names are relative
    to the template folder (cookiecutter renders inside it), so entries are shared
    between renders and runs. Off with ``COOKIEPATCHER_RENDER_CACHE=0``; without a usable
    cache folder nothing is cached, and a damaged entry is compiled again.
    ``volatile``: texts holding one of these strings are not kept
    (:func:`_cached_from_string`).
    """
    import hashlib

    import cookiecutter
    import jinja2
    from cookiecutter import generate

    from cookiepatcher import rendercache
    from cookiepatcher.source import cache_dir

    if not rendercache.enabled():
        yield
        return
    try:
        root = cache_dir() / "jinja"
    except Exception:  # noqa: BLE001 - no cache location: compile every time
        yield
        return
    original = generate.create_env_with_context

    def create_env_with_context(context: dict[str, Any]) -> Any:
        env = original(context)
        if context.get("cookiecutter", {}).get("_extensions"):
            return env  # the template's own extensions may compile tags differently per version
        config = repr((jinja2.__version__, cookiecutter.__version__, sorted(env.extensions),
                       sorted((k, repr(v)) for k, v in context.get("cookiecutter", {}).get("_jinja2_env_vars", {}).items())))
        folder = root / hashlib.sha256(config.encode()).hexdigest()[:16]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return env
        if not os.access(folder, os.W_OK | os.X_OK):
            return env
        env.bytecode_cache = _bytecode_cache(folder)
        env.from_string = _cached_from_string(env, volatile)
        return env

    generate.create_env_with_context = create_env_with_context
    try:
        yield
    finally:
        generate.create_env_with_context = original


class _Substitution:
    """What ``Environment.from_string`` or ``get_template`` gives for a text whose only
    Jinja syntax is ``{{ cookiecutter.NAME }}`` (or none at all), without compiling it.

    ``render(**context)`` joins the literal pieces with ``str(cookiecutter[NAME])``, as
    Jinja's compiled code would (``str`` of ``Environment.getattr``). Where Jinja would
    do something else (no ``cookiecutter`` in the context, a missing key, or a name that
    is also an attribute of the value, such as ``items``), or where anything fails, it
    compiles the text with Jinja (``compile_real()``) and returns what Jinja renders or
    raises.
    """

    def __init__(self, pieces: list[str], names: list[str], compile_real: Callable[[], Any]) -> None:
        self.pieces = pieces  # literal texts around the names: one more than names
        self.names = names
        self._compile_real = compile_real

    def render(self, *args: Any, **kwargs: Any) -> str:
        if self.names:
            try:
                values = dict(*args, **kwargs)
                obj = values["cookiecutter"]
                out = [self.pieces[0]]
                for name, piece in zip(self.names, self.pieces[1:]):
                    if hasattr(obj, name):  # Jinja's getattr takes the attribute first
                        raise LookupError(name)
                    out += (str(obj[name]), piece)
                return "".join(out)
            except Exception:  # noqa: BLE001 - Jinja renders (or raises) it its own way
                return self._compile_real().render(*args, **kwargs)
        return self.pieces[0]


#: off switch for the tests comparing it with Jinja's own compile
PLAIN_TEXT_SHORTCUT = True

_MARKER_RE = re.compile(r"\{[{%#]")
_NAME_RE = re.compile(r"\{\{\s*cookiecutter\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NEWLINE_RE = re.compile(r"\r\n|\r")


def _split_substitutions(source: str) -> tuple[list[str], list[str]] | None:
    """``(pieces, names)`` of a text whose only Jinja syntax (default delimiters) is
    ``{{ cookiecutter.NAME }}``, newlines normalised as Jinja's lexer does
    (``jinja2.lexer.Lexer.tokeniter``: ``\\r\\n`` and ``\\r`` become ``\\n``); ``None``
    for any other text. Jinja's lexer starts a tag at the first ``{{``, ``{%`` or ``{#``
    and ends a variable at the first ``}}`` after its expression, as the scan here does."""
    source = _NEWLINE_RE.sub("\n", source)
    pieces: list[str] = []
    names: list[str] = []
    pos = 0
    while (marker := _MARKER_RE.search(source, pos)) is not None:
        match = _NAME_RE.match(source, marker.start())
        if match is None:
            return None
        pieces.append(source[pos:marker.start()])
        names.append(match.group(1))
        pos = match.end()
    pieces.append(source[pos:])
    return pieces, names


def _plain_text_shortcut(env: Any) -> Any:
    """Make ``env.from_string`` (file and folder names) and ``env.get_template`` (file
    contents) skip Jinja's compile for texts without Jinja syntax or whose only Jinja is
    ``{{ cookiecutter.NAME }}``: :class:`_Substitution` renders them as Jinja would.

    cookiecutter compiles every file and every name it renders (about 2 ms for a file of
    a few KB), most of which are plain or only substitute answers. Jinja renders a text
    without any of the environment's delimiters (``{{``, ``{%``, ``{#``, those of
    ``_jinja2_env_vars``, line-statement and line-comment prefixes) to itself, newlines
    normalised (cookiecutter keeps the trailing newline: an environment that drops it
    compiles); substitutions are read only with Jinja's default delimiters and without
    autoescape. The environment itself must be as Jinja makes it: the stock
    ``getattr``, template, context and ``concat``, no ``finalize``, not async (an
    extension may change them on the instance). Whenever an extension preprocesses the
    source or filters its token stream, and for every other text, Jinja compiles.
    """
    import jinja2.ext
    import jinja2.runtime

    # (looked up on the instance: an extension may set them in its __init__)
    if any(getattr(ext.preprocess, "__func__", None) is not jinja2.ext.Extension.preprocess
           or getattr(ext.filter_stream, "__func__", None) is not jinja2.ext.Extension.filter_stream
           for ext in env.extensions.values()):
        return env
    delimiters = (env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
                  env.comment_start_string, env.comment_end_string)
    if not all(isinstance(d, str) and d for d in delimiters):  # Jinja itself fails on such settings
        return env
    stock = (getattr(env.getattr, "__func__", None) is jinja2.Environment.getattr
             and env.template_class is jinja2.Template and env.context_class is jinja2.runtime.Context
             and env.concat is jinja2.Environment.concat and env.finalize is None and not env.is_async
             and env.keep_trailing_newline and env.newline_sequence == "\n")
    if not stock:
        return env
    # (an empty prefix is a setting too: Jinja tests them against None; "" is in every text)
    markers = [m for m in (env.block_start_string, env.variable_start_string, env.comment_start_string,
                           env.line_statement_prefix, env.line_comment_prefix) if m is not None]
    substitutes = markers == ["{%", "{{", "{#"] and env.variable_end_string == "}}" and env.autoescape is False

    def shortcut(source: Any, compile_real: Callable[[], Any]) -> _Substitution | None:
        if not PLAIN_TEXT_SHORTCUT or not isinstance(source, str):
            return None
        if not any(m in source for m in markers):
            return _Substitution([_NEWLINE_RE.sub("\n", source)], [], compile_real)
        split = _split_substitutions(source) if substitutes else None
        return _Substitution(*split, compile_real) if split is not None else None

    original_from_string = env.from_string
    original_get_template = env.get_template

    def from_string(source: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            fast = shortcut(source, lambda: original_from_string(source))
            if fast is not None:
                return fast
        return original_from_string(source, *args, **kwargs)

    def get_template(name: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and isinstance(name, str) and env.loader is not None:
            try:
                source = env.loader.get_source(env, name)[0]
            except Exception:  # noqa: BLE001 - Jinja raises its own error below
                source = None
            fast = shortcut(source, lambda: original_get_template(name))
            if fast is not None:
                return fast
        return original_get_template(name, *args, **kwargs)

    env.from_string = from_string
    env.get_template = get_template
    return env


@contextlib.contextmanager
def _generation_env(output_dir: Path, way_out: str, answer_flag: str = "") -> Iterator[None]:
    """The environments cookiecutter's generation makes, with :func:`_plain_text_shortcut`
    and every rendered file or folder name checked by :func:`_check_name` before
    cookiecutter uses it (in ``generate_files``, ``env.from_string`` renders names only).

    cookiecutter renders a folder's whole absolute path: a project folder whose path
    holds the environment's Jinja syntax is refused (``way_out`` says what to do when the
    syntax is in ``output_dir``; when it is in the project folder's name, the message
    names the answer it comes from and ``answer_flag``) before such a path is compiled,
    which would fail or name another folder."""
    from cookiecutter import generate

    top = os.path.abspath(output_dir)

    def make(context: Any) -> Any:
        env = _plain_text_shortcut(original(context))
        from_string, get_template = env.from_string, env.get_template
        markers = [m for m in (env.block_start_string, env.variable_start_string, env.comment_start_string) if m]
        # the project folder (the first name generate_files renders), then each folder's
        # rendered path and the name it came from
        rendered: dict[str, str] = {}

        def checked_from_string(source: Any, *args: Any, **kwargs: Any) -> Any:
            prefix = next(iter(rendered), top)
            if isinstance(source, str) and os.path.isabs(source) and any(m in prefix for m in markers):
                if any(m in top for m in markers):  # in the output folder's path
                    raise RefusedError(f"the folder {printable(prefix)} holds Jinja syntax, which cookiecutter renders "
                                       f"in the path of every folder it writes; {way_out}")
                # in the project folder's name: from an answer
                name = os.path.relpath(prefix, top)
                answers = context.get("cookiecutter", {}) if isinstance(context, dict) else {}
                # the answers the folder's name uses (its template name, e.g. {{cookiecutter.slug}}),
                # whose value holds the syntax; else any such answer in the name, longest first
                used = re.findall(r"cookiecutter\s*\.\s*([A-Za-z_]\w*)", str(rendered.get(prefix, "")))
                candidates = sorted((k for k, v in answers.items() if not str(k).startswith("_") and isinstance(v, str)
                                     and v and v in name and any(m in v for m in markers)),
                                    key=lambda k: (k not in used, -len(answers[k])))
                key = candidates[0] if candidates else None
                cause = (f"it comes from the answer {printable(key)}={printable(repr(answers[key]))}: change it with "
                         f"{answer_flag}{printable(key)}=NEW" if key is not None else "check the answers used in its name")
                raise RefusedError(f"the project folder name {printable(repr(name))} holds Jinja syntax, which cookiecutter "
                                   f"renders in the path of every folder it writes; {cause}")
            return _CheckedName(from_string(source, *args, **kwargs), source, top, rendered)

        env.from_string = checked_from_string

        def checked_get_template(name: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return get_template(name, *args, **kwargs)
            except UnicodeDecodeError:  # (Jinja's loader reads UTF-8; binaryornot called it text)
                raise TemplateError(f"template render failed: {printable(str(name))} is not UTF-8 text; save it as "
                                    f"UTF-8") from None

        env.get_template = checked_get_template
        return env

    original = generate.create_env_with_context
    generate.create_env_with_context = make
    try:
        yield
    finally:
        generate.create_env_with_context = original


class _CheckedName:
    """A compiled file or folder name whose rendered path :func:`_check_name` checks."""

    def __init__(self, template: Any, source: Any, output_dir: str, rendered: dict[str, str]) -> None:
        self._template, self._source, self._output_dir, self._rendered = template, source, output_dir, rendered

    def render(self, *args: Any, **kwargs: Any) -> Any:
        name = self._template.render(*args, **kwargs)
        _check_name(self._source, name, self._output_dir, self._rendered)
        return name


def _check_name(source: Any, name: Any, output_dir: str, rendered: dict[str, str]) -> None:
    """Refuse a rendered name that would make cookiecutter write outside the project or
    fail: an answer the path checks of :func:`check_path_answers` do not see (a list or
    dict answer, a name computed from answers) or a template whose names leave it.

    ``source`` is the unrendered name, as cookiecutter's ``generate_files`` renders it:
    first the project folder, relative to ``output_dir`` (an absolute path), then each
    file relative to the project folder and each folder as its whole absolute path.
    ``rendered`` maps the paths rendered so far to their names, the project folder first
    (this call adds to it). A relative name must not be absolute; an absolute one must
    begin with the project folder. Neither may hold a ``..`` part (after that folder):
    cookiecutter creates a folder's path part by part as written, so a name that climbs
    out and comes back would still leave folders outside (git stores no such part in a
    template). No name may hold a NUL, and no folder may render to the project folder
    or to another folder's path (cookiecutter would stop at "already exists").

    Raises:
        RefusedError: naming the template's name and what it rendered to.
    """
    if not isinstance(source, str) or not isinstance(name, str):
        return
    project = next(iter(rendered), None)
    top = project or output_dir
    if os.path.isabs(source):
        # (the folder's path as cookiecutter built it: the project folder, then the
        # template's relative path, both joined as written)
        rest = name[len(top):] if name.startswith(top.rstrip(os.sep) + os.sep) else None
    else:
        rest = None if os.path.isabs(name) else name

    def shown_source() -> str:  # (for a refusal only; relpath drops a "./")
        return printable(os.path.relpath(source, top) if os.path.isabs(source) else source)

    if rest is None or os.pardir in rest.split(os.sep) or "\0" in name:
        shown_name = rest.lstrip(os.sep).removeprefix("." + os.sep) if os.path.isabs(source) and rest is not None else name
        raise RefusedError(f"the template's name '{shown_source()}' renders to '{printable(shown_name)}', "
                           f"{'which no file can have' if chr(0) in name else 'outside the project'}; check the "
                           f"answers used in file and folder names")
    if project is None:
        if os.path.normpath(name) == os.curdir:  # (cookiecutter: '"." directory already exists')
            raise RefusedError(f"the template's project folder name '{printable(source)}' renders to "
                               f"'{printable(name)}', which names no folder; check the answers used in its name")
        rendered[os.path.normpath(os.path.join(output_dir, name))] = source
    elif os.path.isabs(source):
        path = os.path.normpath(name)
        if path == project:  # a folder whose name rendered empty (cookiecutter: "already exists")
            raise RefusedError(f"the template's folder '{shown_source()}' renders to an empty name, which "
                               f"cookiecutter cannot generate; give it a name in every case (a hook may remove it)")
        if rendered.get(path, source) != source:
            raise RefusedError(f"the template's folder names '{shown_source()}' and "
                               f"'{printable(os.path.relpath(rendered[path], top))}' render to the same folder "
                               f"('{printable(os.path.relpath(path, top))}'); check the answers used in folder names")
        rendered[path] = source


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Seed cookiecutter's random/uuid extensions and freeze its ``now`` tag."""
    import arrow
    from cookiecutter import extensions

    rng = random.Random(_SEED)

    class _Uuid:
        @staticmethod
        def uuid4() -> uuid.UUID:
            return uuid.UUID(int=rng.getrandbits(128), version=4)

    class _Arrow:
        @staticmethod
        def now(tz: str = "local") -> Any:
            return arrow.get(_FROZEN_NOW).to(tz)

        utcnow = staticmethod(lambda: arrow.get(_FROZEN_NOW))
        get = staticmethod(arrow.get)

    saved = {name: getattr(extensions, name) for name in ("choice", "uuid", "arrow")}
    extensions.choice = rng.choice  # type: ignore[attr-defined]
    extensions.uuid = _Uuid  # type: ignore[attr-defined]
    extensions.arrow = _Arrow  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(extensions, name, value)


# Seeds randomness inside hook processes of upgrade renders (a post-gen hook writing
# ``secrets.token_hex()`` into a file must write the same value in both renders).
_HOOK_SITECUSTOMIZE = f"""\
import os, random, secrets, uuid
_rng = random.Random({_SEED})
random.seed({_SEED})
random._urandom = os.urandom = _rng.randbytes
secrets.token_bytes = lambda n=32: _rng.randbytes(n)
secrets.token_hex = lambda n=32: _rng.randbytes(n).hex()
secrets.token_urlsafe = lambda n=32: __import__("base64").urlsafe_b64encode(_rng.randbytes(n)).rstrip(b"=").decode()
secrets.choice = _rng.choice
secrets.randbelow = _rng.randrange
uuid.uuid4 = lambda: uuid.UUID(int=_rng.getrandbits(128), version=4)
"""


@contextlib.contextmanager
def _render_env(mode: str, template_dir: Path) -> Iterator[None]:
    """Set ``COOKIEPATCHER_RENDER`` for hooks, put the template on ``sys.path``
    (cookiecutter's ``_patch_import_path_for_repo``, for local ``_extensions``), and
    forget modules imported from the template afterwards so the next render of another
    template version imports its own. Upgrade renders also seed hook processes. The
    temporary files hooks leave (cookiecutter writes each hook to a temporary file and
    never deletes it) go to a folder removed afterwards."""
    import tempfile

    saved_env = {k: os.environ.get(k) for k in (RENDER_ENV, "PYTHONPATH", "TMPDIR")}
    saved_tempdir = tempfile.tempdir
    old_path = list(sys.path)
    old_modules = set(sys.modules)
    os.environ[RENDER_ENV] = mode
    sys.path.append(str(template_dir))
    # the seed and the hooks' temporary folder only matter where hooks run (cookiecutter
    # looks for them in hooks/, a symlink included: ``cookiecutter.hooks.find_hook``)
    seed_dir = tempfile.mkdtemp(prefix="cp-seed-") if os.path.isdir(template_dir / "hooks") else None
    if seed_dir is not None:
        if mode == "upgrade":
            Path(seed_dir, "sitecustomize.py").write_text(_HOOK_SITECUSTOMIZE)
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (seed_dir, saved_env["PYTHONPATH"]) if p)
        hook_tmp = Path(seed_dir, "tmp")
        hook_tmp.mkdir()
        os.environ["TMPDIR"] = tempfile.tempdir = str(hook_tmp)
    try:
        yield
    finally:
        sys.path[:] = old_path
        root = str(template_dir.resolve())
        for name in set(sys.modules) - old_modules:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin and os.path.realpath(origin).startswith(root + os.sep):
                del sys.modules[name]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = saved_tempdir
        if seed_dir is not None:
            shutil.rmtree(seed_dir, ignore_errors=True)


@contextlib.contextmanager
def _hook_output_to_stderr() -> Iterator[None]:
    """Send what hooks print to stderr: they inherit file descriptor 1, and an upgrade's
    stdout is its report (``update --json``, ``pr --json`` read by ``fleet``)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no usable stdout: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        try:
            sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def run_pre_prompt_hook(template_dir: Path) -> None:
    """Run ``hooks/pre_prompt.*`` in ``template_dir`` (a private copy), as cookiecutter >= 2.4 does.

    ``cookiecutter.hooks.run_pre_prompt_hook`` first copies the template to a temporary
    folder; the folder here is already a private extraction, so the scripts run in place
    (keeping ``_repo_dir`` the same for both renders of an upgrade).

    Raises:
        TemplateError: the hook failed.
    """
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.hooks import find_hook, run_script
    from cookiecutter.utils import work_in

    with work_in(template_dir):
        scripts = find_hook("pre_prompt") or []
        for script in scripts:
            try:
                run_script(script, str(template_dir))
            except FailedHookException as exc:
                raise TemplateError(f"template pre_prompt hook failed: {exc}") from None


def path_answer_keys(template_dir: Path) -> set[str]:
    """Answer names used in the template's file and folder names (``{{ cookiecutter.X }}``)."""
    names: list[str] = []
    for root, dirs, files in os.walk(template_dir):
        names += dirs + files
        if ".git" in dirs:
            dirs.remove(".git")
    return name_answer_keys(names)


def name_answer_keys(names: Iterable[str]) -> set[str]:
    """Answer names used in these file or folder names (``{{ cookiecutter.X }}``)."""
    keys: set[str] = set()
    for name in names:
        if "{{" in name or "{%" in name:
            keys.update(re.findall(r"cookiecutter\.([A-Za-z_][A-Za-z0-9_]*)", name))
    return keys


def _reading_input(exc: BaseException) -> bool:
    """Whether ``exc`` is how reading standard input fails: bytes that are not in its
    encoding, a closed stdin (``input(): lost sys.stdin``), an I/O error."""
    return isinstance(exc, (UnicodeDecodeError, OSError)) or (isinstance(exc, RuntimeError) and "stdin" in str(exc))


def _frames(exc: BaseException) -> Iterator[Any]:
    """The frames of ``exc``'s traceback, outermost first."""
    tb = exc.__traceback__
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _raised_rendering(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while Jinja rendered something (a frame of cookiecutter's
    ``render_variable``, of Jinja, or of a compiled template) rather than, say, while a
    prompt read its input."""
    return any(frame.f_code.co_name == "render_variable" or frame.f_code.co_filename == "<template>"
               or str(frame.f_globals.get("__name__", "")).startswith("jinja2") for frame in _frames(exc))


def _refuse_unrenderable_answer(exc: Exception, context: dict[str, Any], answers: Mapping[str, Any] | None,
                                default_context: Mapping[str, Any] | None, flag: str) -> None:
    """Blame the user's answer, not the template, for an error of cookiecutter's
    ``prompt_for_config``, which renders every answer as a Jinja template (so ``x{{y``
    fails, and a literal ``{{`` is written ``{{ '{{' }}``).

    The question being rendered is read from the traceback (``prompt_for_config``'s
    ``key``, cookiecutter 2.x). The answer is blamed when the user gave it (``KEY=VALUE``,
    or the user config's ``default_context``) and it holds the template's Jinja syntax
    (in a dict or list answer: a text inside); otherwise, or when the question cannot be
    told, this returns (the error is the template's).

    Raises:
        RefusedError: naming the answer, the error's reason and the way out.
    """
    from cookiecutter.utils import create_env_with_context

    # the innermost prompt_for_config frame: the question it was rendering
    key = next((frame.f_locals.get("key") for frame in reversed(list(_frames(exc)))
                if frame.f_code.co_name == "prompt_for_config"), None)
    given = {**(default_context or {}), **(answers or {})}
    if not isinstance(key, str) or key not in given:
        return
    env = create_env_with_context(context)  # prompt_for_config's: the template's delimiters and extensions
    marks = (env.variable_start_string, env.block_start_string, env.comment_start_string)

    def texts(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from texts(k)
                yield from texts(v)
        elif isinstance(value, list):
            for v in value:
                yield from texts(v)

    if not any(mark in text for text in texts(given[key]) for mark in marks):
        return
    error = getattr(exc, "error", None) or exc  # UndefinedVariableInTemplate wraps Jinja's error
    why = str(getattr(error, "message", None) or error).rstrip(".")
    where = f"{flag}{key}=NEW" if answers and key in answers else f"{flag}{key}=NEW or in your user config"
    start, end = env.variable_start_string, env.variable_end_string
    raise RefusedError(f"answer {printable(key)}={printable(repr(given[key]))} does not render"
                       f"{f' ({why})' if why else ''}: cookiecutter renders answers as Jinja templates, so a literal "
                       f"{start} is written {start} '{start}' {end}; change it with {where}") from None


def check_path_answers(template_dir: Path, answers: Mapping[str, Any], answer_flag: str = "--set ", *,
                       names: Iterable[str] | None = None) -> None:
    """Refuse answers that would make cookiecutter write outside the output folder.

    ``names``: the template's file and folder names, when the caller has them (else the
    names below ``template_dir``).

    Raises:
        RefusedError: an answer used in a file or folder name is absolute (a drive letter
            included), a ``..`` or ``.``, or holds a path separator (``/``, or ``\\``,
            Windows' separator: refused everywhere so a template renders alike on every
            system). The message says which.
    """
    for key in sorted(name_answer_keys(names) if names is not None else path_answer_keys(template_dir)):
        value = answers.get(key)
        if not isinstance(value, str):
            continue
        parts = re.split(r"[/\\]", value)
        if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or any(p.strip() == ".." for p in parts):
            why = "would write outside the project"
        elif "/" in value or "\\" in value:
            why = ("holds a path separator, which a file or folder name cannot hold (a backslash is one on "
                   "Windows, so it is refused everywhere)")
        elif value.strip() == ".":
            why = "names the folder it is in, not a file or folder"
        else:
            continue
        raise RefusedError(f"answer {key}={value!r} is used in file names and {why}; change it with {answer_flag}{key}=NEW")


def _strip_vcs(project: Path) -> None:
    """Drop VCS metadata a hook created inside the render (``git init`` in post-gen)."""
    for root, dirs, files in os.walk(project):
        if ".git" in dirs:
            shutil.rmtree(Path(root) / ".git")
            dirs.remove(".git")
        if ".git" in files:
            (Path(root) / ".git").unlink()


def check_symlinks(root: Path, what: str = "template renders", scope: str = "the project") -> None:
    """Refuse symlinks below ``root`` that point outside it or nowhere.

    Used on the rendered project and on the extracted template (cookiecutter copies
    what a template symlink points to, so a link out of the template would copy a file
    of this machine into the project).

    Raises:
        RefusedError: naming the link and its target.
    """
    top = root.resolve()
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath, name)
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            resolved = (p.parent / target).resolve()
            rel = p.relative_to(root).as_posix()
            if os.path.isabs(target) or not resolved.is_relative_to(top):
                raise RefusedError(f"{what} symlink {rel} -> {target}, which points outside {scope}; refusing to use it")
            if not resolved.exists():
                raise RefusedError(f"{what} symlink {rel} -> {target}, which points nowhere; fix the template")


def add_render_values(variables: dict[str, Any], *, template: str, checkout: str | None, output_dir: str,
                      repo_dir: str) -> None:
    """Set what a render adds to the template's variables: ``_template``, ``_output_dir``,
    ``_repo_dir`` and ``_checkout`` (cookiecutter's ``cookiecutter.main.cookiecutter``
    adds the same)."""
    variables["_template"] = template
    variables["_output_dir"] = output_dir
    variables["_repo_dir"] = repo_dir
    variables["_checkout"] = checkout


def render(
    template_dir: Path,
    output_dir: Path,
    answers: Mapping[str, Any],
    *,
    template: str,
    checkout: str | None,
    mode: str = "upgrade",
    no_input: bool = True,
    default_context: Mapping[str, Any] | None = None,
    prompt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    output_dir_value: str | None = None,
    repo_dir_value: str | None = None,
    answer_flag: str | None = None,
) -> Rendered:
    """Render ``template_dir`` with ``answers`` into a new folder under ``output_dir``.

    Args:
        template_dir: folder holding ``cookiecutter.json`` (a checkout of one commit).
        output_dir: existing folder that receives the generated project folder.
        answers: recorded/extra answers, applied like cookiecutter's ``extra_context``.
        template: the template location as the user gave it (``_template``).
        checkout: the ref followed (``_checkout``).
        mode: ``"upgrade"`` (deterministic, hooks see ``COOKIEPATCHER_RENDER=upgrade`` and
            print to stderr)
            or ``"create"`` (cookiecutter's own randomness).
        no_input: do not prompt (questions without answers take their defaults).
        default_context: user-config defaults (cookiecutter's ``default_context``).
        prompt: ``prompt(context) -> variables`` replacing cookiecutter's
            ``prompt_for_config`` (upgrades use :func:`cookiepatcher.answers.resolve_answers`).
        output_dir_value: the ``_output_dir`` hooks and templates see, when it differs from
            the folder actually written (upgrades: the project's parent folder).
        repo_dir_value: the ``_repo_dir`` the template sees, when it differs from the
            folder actually read (only for templates without hooks, which read the folder).
        answer_flag: how the user changes an answer, for error messages (default
            ``--set `` for upgrades, plain ``KEY=VALUE`` for create).

    Returns:
        :class:`Rendered` with the generated folder and the final context.

    Raises:
        TemplateError: invalid cookiecutter.json, a failing hook, a render error, a
            template file or hook that is not UTF-8, a name that does not fit the tree.
        RefusedError: answers, rendered names or symlinks that would write outside the
            project (:func:`_check_name`), answers that are not UTF-8 text, an output
            folder whose path holds Jinja syntax, a given answer that does not render as
            Jinja (:func:`_refuse_unrenderable_answer`).
    """
    import jinja2
    from cookiecutter.exceptions import CookiecutterException, FailedHookException, UndefinedVariableInTemplate
    from cookiecutter.generate import generate_files
    from cookiecutter.prompt import prompt_for_config

    # cookiecutter joins names to the output folder as written, but the system follows a
    # symlink before a `..` after it: with the real path, both mean one place
    output_dir = Path(output_dir).resolve() if os.pardir in Path(output_dir).parts else Path(output_dir)
    _quiet_cookiecutter_log()
    hook_output = _hook_output_to_stderr() if mode == "upgrade" else contextlib.nullcontext()
    with _render_env(mode, template_dir), hook_output:
        run_pre_prompt_hook(template_dir)
    # with a ``prompt`` callback (upgrades) the callback applies the answers itself
    flag = "--set " if mode == "upgrade" and answer_flag is None else answer_flag or ""
    context = {"cookiecutter": load_context(template_dir, None if prompt else answers, default_context, flag)}
    context["_cookiecutter"] = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
    det = _deterministic() if mode == "upgrade" else contextlib.nullcontext()
    hook_output = _hook_output_to_stderr() if mode == "upgrade" else contextlib.nullcontext()
    # names joined to the output folder differ from run to run: not worth keeping compiled
    volatile = tuple({str(output_dir.absolute()), os.path.realpath(output_dir)})
    way_out = "set TMPDIR to a folder without it" if mode == "upgrade" else "choose another --output-dir"
    with det, _compiled_template_cache(volatile), _generation_env(output_dir, way_out, flag), _render_env(mode, template_dir), \
            hook_output:
        try:
            try:
                values = prompt(context) if prompt is not None else prompt_for_config(context, no_input)
            except (jinja2.TemplateError, UndefinedVariableInTemplate) as exc:  # syntax, runtime (a filter's)
                if prompt is None:  # (an upgrade keeps the recorded answers as they are: no answer renders)
                    _refuse_unrenderable_answer(exc, context, answers, default_context, flag)
                raise
            except Exception as exc:  # noqa: BLE001 - classified here
                # EOF at a prompt (click turns it into "Aborted!", exit 130) and cookiecutter's
                # own errors are handled below
                if isinstance(exc, (EOFError, CookiecutterException)) or type(exc).__module__.startswith("click"):
                    raise
                if not _raised_rendering(exc) and _reading_input(exc):  # stdin closed, or not UTF-8
                    raise RefusedError(f"cannot read an answer from standard input ({type(exc).__name__}: {exc}); "
                                       f"give the answers as KEY=VALUE with --no-input, or run in a terminal") from None
                # an answer's or a default's Jinja failing in Python ({{ 1/0 }}, a format error,
                # an {% include %} without a loader), or the template's questions themselves
                # (an empty choice list, bad prompt markup, bad Jinja settings)
                if prompt is None:
                    _refuse_unrenderable_answer(exc, context, answers, default_context, flag)
                raise TemplateError(f"template render failed: {type(exc).__name__}: {exc}; fix the template") from None
            context["cookiecutter"].update(values)
            # the answers the record keeps, and their names (from the template's defaults, the
            # user's config, a prompt or a JSON answer); a private value is written only by
            # a template that uses it (then refused below, as the template's)
            bad = next((key for key, value in context["cookiecutter"].items()
                        if not key.startswith("_") and (not_unicode(key) or not_unicode(value))), None)
            if bad is not None:
                raise RefusedError(f"the answer to '{printable(bad)}' is not UTF-8 text (it holds a lone surrogate: bytes "
                                   f"in another encoding, or a \\udXXX escape); change it with {flag}{printable(bad)}=NEW")
            check_path_answers(template_dir, context["cookiecutter"], flag)
            add_render_values(context["cookiecutter"], template=template, checkout=checkout,
                              output_dir=output_dir_value or str(output_dir.resolve()),
                              repo_dir=repo_dir_value or str(template_dir))
            project = generate_files(repo_dir=str(template_dir), context=context, output_dir=str(output_dir),
                                     overwrite_if_exists=False, accept_hooks=True)
        except FailedHookException as exc:
            raise TemplateError(f"template hook failed: {exc}; the hook's own output above says why (an answer it "
                                f"refuses: change it; else fix the hook)") from None
        except UndefinedVariableInTemplate as exc:
            raise TemplateError(f"template render failed: {exc.message}: {exc.error.message}") from None
        except CookiecutterException as exc:
            raise TemplateError(f"template render failed: {exc}") from None
        except jinja2.TemplateError as exc:  # syntax errors in a template file or name
            where = f" in {exc.name}" if getattr(exc, "name", None) else ""
            raise TemplateError(f"template render failed{where}: {exc.message}; fix the template") from None
        except UnicodeEncodeError as exc:  # a lone surrogate cannot be written to a file or a name
            bad = printable(exc.object[exc.start:exc.end])
            raise TemplateError(f"template render failed: it writes {bad}, which is no character (a lone surrogate: "
                                f"a \\udXXX escape in the template, or a folder path that is not UTF-8 seen as "
                                f"_output_dir or _repo_dir); fix the template or use a UTF-8 folder") from None
        except UnicodeDecodeError:  # a text file (by binaryornot's test) or a hook that is not UTF-8
            raise TemplateError("template render failed: a text file or hook of the template is not UTF-8; save it "
                                "as UTF-8") from None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:  # a name that does not fit the tree
            what = (f"cannot write {printable(os.path.relpath(exc.filename, output_dir))} ({exc.strerror})"
                    if isinstance(exc.filename, str) and exc.strerror else str(exc))
            raise TemplateError(f"template render failed: {what}; check the answers used in file and folder "
                                f"names") from None
    project_path = Path(project)
    if not project_path.resolve().is_relative_to(output_dir.resolve()):
        raise RefusedError("template renders its project folder outside the output folder; check answers used in its name")
    if mode == "upgrade":
        _strip_vcs(project_path)
    check_symlinks(project_path)
    return Rendered(project=project_path, context=dict(context["cookiecutter"]))
