"""The record ``cookiepatcher.json``: stable format, validation naming the key, credentials."""
from __future__ import annotations

import json

import pytest

from cookiepatcher.errors import CookiepatcherError, RecordError
from cookiepatcher.record import Record, dumps_record, load_record, parse_record, public_context, strip_credentials, write_record

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_dumps_is_sorted_two_space_indented_with_final_newline():
    rec = Record(template="gh:org/repo", commit=SHA, context={"b": "2", "a": "é"}, directory="tpl", checkout="main")

    text = dumps_record(rec)

    assert text == (
        '{\n'
        '  "checkout": "main",\n'
        f'  "commit": "{SHA}",\n'
        '  "context": {\n'
        '    "a": "é",\n'
        '    "b": "2"\n'
        '  },\n'
        '  "directory": "tpl",\n'
        '  "template": "gh:org/repo"\n'
        '}\n'
    )


def test_skip_is_written_only_when_set_and_round_trips(tmp_path):
    plain = Record(template="t", commit=SHA, context={})
    assert "skip" not in json.loads(dumps_record(plain))
    rec = Record(template="t", commit=SHA, context={"x": True}, skip=["docs/**", "*.lock"])

    write_record(tmp_path, rec)

    assert load_record(tmp_path) == rec
    assert (tmp_path / "cookiepatcher.json").read_bytes().endswith(b"}\n")


def test_nulls_are_explicit_and_sha256_commits_accepted():
    rec = parse_record(json.dumps({"template": "t", "commit": "a" * 64, "context": {}}))
    assert rec.directory is None and rec.checkout is None and rec.skip == []
    assert json.loads(dumps_record(rec))["directory"] is None


@pytest.mark.parametrize("data, words", [
    ("nope", ["not valid JSON", "cookiepatcher link"]),
    ('"a string"', ["JSON object"]),
    ({"commit": SHA, "context": {}}, ["'template'", "cookiepatcher link"]),
    ({"template": "t", "context": {}}, ["'commit'"]),
    ({"template": "t", "commit": SHA}, ["'context'"]),
    ({"template": "", "commit": SHA, "context": {}}, ["'template'", "non-empty"]),
    ({"template": "t", "commit": "v1.0", "context": {}}, ["'commit'", "link --commit"]),
    ({"template": "t", "commit": SHA.upper(), "context": {}}, ["'commit'"]),
    ({"template": "t", "commit": SHA + "\n", "context": {}}, ["'commit'"]),  # `$` would let a line break through
    ({"template": "t", "commit": SHA, "context": "x"}, ["'context'"]),
    ({"template": "t", "commit": SHA, "context": {}, "directory": 3}, ["'directory'"]),
    ({"template": "t", "commit": SHA, "context": {}, "skip": [""]}, ["'skip'"]),
    ({"template": "t", "commit": SHA, "context": {}, "revision": SHA}, ["'revision'"]),
    # JSON's \ud800 escape decodes to a lone surrogate, which no file can hold
    ({"template": "t", "commit": SHA, "context": {"name": "a\ud800"}}, ["'context'", "lone surrogate"]),
    ({"template": "t", "commit": SHA, "context": {"\udcff": "x"}}, ["'context'", "lone surrogate"]),
    ({"template": "t\udfff", "commit": SHA, "context": {}}, ["'template'", "lone surrogate"]),
])
def test_invalid_records_name_the_problem(data, words):
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(RecordError) as info:
        parse_record(text)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert isinstance(info.value, CookiepatcherError) and info.value.exit_code == 2


def test_missing_record_points_to_link(tmp_path):
    with pytest.raises(RecordError, match="cookiepatcher link"):
        load_record(tmp_path)


def test_record_that_is_not_utf8(tmp_path):
    (tmp_path / "cookiepatcher.json").write_bytes(b'{"template": "\xff"}')
    with pytest.raises(RecordError, match="UTF-8"):
        load_record(tmp_path)


@pytest.mark.parametrize("url, expected", [
    ("https://user:tok@github.com/o/r.git", "https://github.com/o/r.git"),
    ("https://x-access-token:ghs_abc@github.com/o/r", "https://github.com/o/r"),
    ("https://tok@gitlab.example.com:8443/g/r.git", "https://gitlab.example.com:8443/g/r.git"),
    ("git+https://u:p@example.com/r.git", "git+https://example.com/r.git"),
    ("ssh://git:secret@example.com/r.git", "ssh://example.com/r.git"),
    ("ssh://git@example.com/r.git", "ssh://git@example.com/r.git"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ("gh:org/repo", "gh:org/repo"),
    ("/srv/templates/python", "/srv/templates/python"),
])
def test_strip_credentials(url, expected):
    assert strip_credentials(url) == expected


def test_public_context_drops_private_keys():
    ctx = {"name": "x", "_template": "t", "__prompts__": {}, "_copy_without_render": [], "flag": False}
    assert public_context(ctx) == {"name": "x", "flag": False}


def test_a_record_of_the_wrong_kind_is_named_without_claiming_non_empty(tmp_path):
    """An empty context or skip list is valid: "must be a non-empty dict" was untrue."""
    from cookiepatcher.errors import RecordError
    from cookiepatcher.record import parse_record

    with pytest.raises(RecordError, match=r"key 'context' must be a dict, got \[\]"):
        parse_record(json.dumps({"template": "t", "commit": "a" * 40, "context": []}), "cookiepatcher.json")
    with pytest.raises(RecordError, match=r"key 'template' must be a non-empty str, got \"\""):
        parse_record(json.dumps({"template": "", "commit": "a" * 40, "context": {}}), "cookiepatcher.json")
