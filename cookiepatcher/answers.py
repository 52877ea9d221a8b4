"""Answers for an upgrade render: recorded answers kept verbatim, new questions decided.

Mirrors ``cookiecutter.prompt.prompt_for_config`` (same order, same handling of choice,
boolean, dict and private ``_``/``__`` variables), with two differences that an upgrade
needs: a question already answered in the record keeps its recorded value exactly (it is
not rendered again), and only questions the record does not know are asked (or take
their default with ``no_input``).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

Ask = Callable[[str, Any, list[Any] | None], Any]


def not_unicode(value: Any) -> bool:
    """Whether ``value`` (a string, or a list or dict of them at any depth, keys
    included) holds a lone surrogate, which is no character and cannot be written as
    UTF-8: Python's stand-in for a byte that was not UTF-8 (a command-line argument or
    a terminal's input decoded with ``surrogateescape``, PEP 383) or a ``\\udXXX`` escape
    in JSON."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(not_unicode(k) or not_unicode(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(not_unicode(v) for v in value)
    return False


def printable(text: str) -> str:
    """``text`` for a one-line message: each lone surrogate shown as the byte it stands
    for (``\\xff``, as the user typed it) when it stands for one, else ``\\udXXX``; each
    control character (NUL, line break, ...) as ``\\xNN``."""
    out = []
    for char in text:
        if char < " " or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``.

    Raises:
        ValueError: an item without ``=``, with an empty key, or not UTF-8 text
            (see :func:`not_unicode`).
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"'{pair}' is not KEY=VALUE")
        if not_unicode(pair):
            raise ValueError(f"'{printable(pair)}' holds bytes that are not UTF-8 text; pass the answer as UTF-8")
        out[key.strip()] = value
    return out


def coerce(value: str, like: Any) -> Any:
    """Turn a command-line string into the type of ``like`` (bool, int, float, dict via JSON)."""
    import json

    if isinstance(like, bool):
        low = value.strip().lower()
        if low in ("1", "true", "t", "yes", "y", "on"):
            return True
        if low in ("0", "false", "f", "no", "n", "off"):
            return False
        raise ValueError(f"'{value}' is not a yes/no value")
    if isinstance(like, int) and not isinstance(like, bool):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, dict):
        return json.loads(value)
    return value


def resolve_answers(context: dict[str, Any], recorded: Mapping[str, Any], *, ask: Ask | None = None,
                    decided: dict[str, Any] | None = None) -> "OrderedDict[str, Any]":
    """Compute every variable of ``context['cookiecutter']`` for an upgrade render.

    Args:
        context: ``{"cookiecutter": <cookiecutter.json content>}`` as loaded by
            :func:`cookiepatcher.render.load_context` (no answers applied).
        recorded: the answers to keep verbatim (record context plus ``--set`` values).
        ask: ``ask(name, default, choices_or_None) -> value`` for questions not in
            ``recorded``; ``None`` means take the default (``--no-input``).
        decided: filled with ``{name: value}`` for every question not in ``recorded``.

    Returns:
        The variables, as ``prompt_for_config`` would return them.

    Raises:
        cookiecutter.exceptions.UndefinedVariableInTemplate: a default cannot be rendered.
    """
    from cookiecutter.environment import StrictEnvironment
    from cookiecutter.exceptions import UndefinedVariableInTemplate
    from cookiecutter.prompt import render_variable
    from jinja2.exceptions import UndefinedError

    decided = decided if decided is not None else {}
    values: OrderedDict[str, Any] = OrderedDict()
    env = StrictEnvironment(context=context)
    items = [(k, v) for k, v in context["cookiecutter"].items() if k != "__prompts__"]
    # first pass: plain, choice and boolean variables; second pass: dicts (as cookiecutter)
    for dict_pass in (False, True):
        for key, raw in items:
            if key.startswith("_") and not key.startswith("__"):
                if not dict_pass:
                    values[key] = raw
                continue
            if isinstance(raw, dict) != dict_pass:
                continue
            try:
                if key.startswith("__"):
                    values[key] = render_variable(env, raw, values)
                elif key in recorded:
                    values[key] = recorded[key]
                elif isinstance(raw, list):
                    options = [render_variable(env, o, values) for o in raw]
                    values[key] = ask(key, options[0], options) if ask and options else (options[0] if options else None)
                    decided[key] = values[key]
                else:
                    default = raw if isinstance(raw, bool) else render_variable(env, raw, values)
                    values[key] = ask(key, default, None) if ask else default
                    decided[key] = values[key]
            except UndefinedError as err:
                raise UndefinedVariableInTemplate(f"Unable to render variable '{key}'", err, context) from err
    return values
