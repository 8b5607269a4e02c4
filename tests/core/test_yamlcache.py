"""Parsed YAML kept as JSON (core/yamlcache.py, read through core/paths.parse_yaml): a document
read back equals a fresh parse value for value and type for type, and nothing that a fresh parse
would refuse is ever served."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from gpucompare.core import paths, yamlcache
from gpucompare.core.errors import InputError


def _typed(value):
    """``value`` with every scalar's type beside it: True == 1 and 1 == 1.0 in Python."""
    if isinstance(value, dict):
        return {(type(k).__name__, k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


EVERY_KIND = """\
plain: text
number: 3
ratio: 0.1
exact: 1.0000000000000002
big: 123456789012345678901234567890
yes: true
nothing: null
when: 2026-11-30
stamp: 2026-11-30 04:05:06
1: integer key
true: boolean key
2026-01-01: date key
m: [looks, like, a, tag]
l: {d: not a date}
nested: [[1, 2], {a: [{}, []]}, '']
"""


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(yamlcache, "_pending", {})
    return tmp_path / "cache" / "yaml"


def _fresh(text: str):
    return yaml.load(text, Loader=yaml.SafeLoader)


def test_a_document_read_back_is_the_parse_value_for_value_and_type_for_type(monkeypatch, cache):
    first = paths.parse_yaml(EVERY_KIND, "every.yaml")
    assert not cache.exists()  # written only when the process says so
    assert yamlcache.flush() == 1 and yamlcache.flush() == 0
    assert _typed(first) == _typed(_fresh(EVERY_KIND))
    assert isinstance(first["when"], dt.date) and isinstance(first["stamp"], dt.datetime)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again although the document was kept")

    monkeypatch.setattr(yaml, "load", no_parse)
    again = paths.parse_yaml(EVERY_KIND, "every.yaml")
    assert _typed(again) == _typed(first) and again is not first
    assert len(list(cache.glob("*.json"))) == 1


def test_every_data_and_parameter_file_reads_back_as_parsed(monkeypatch):
    files = sorted(paths.data_dir().rglob("*.yaml")) + sorted(paths.params_dir().glob("*.yaml"))
    assert len(files) > 10
    fresh = {f: _typed(_fresh(f.read_text(encoding="utf-8"))) for f in files}
    for f in files:
        paths.load_yaml(f)
    yamlcache.flush()
    monkeypatch.setattr(yaml, "load", lambda *a, **k: pytest.fail("parsed again"))
    for f in files:
        assert _typed(paths.load_yaml(f)) == fresh[f], f


@pytest.mark.parametrize(
    "text", [".inf\n", "a: .nan\n", "b: !!binary aGVsbG8=\n", "c: !!set {x, y}\n"]
)
def test_a_document_json_cannot_hold_is_parsed_every_time(text, cache):
    assert _typed(paths.parse_yaml(text, "odd.yaml")) == _typed(_fresh(text)) or "nan" in text
    assert yamlcache.flush() == 0
    assert not cache.exists() or list(cache.glob("*.json")) == []


@pytest.mark.parametrize(
    "payload", [[1, 2], {"x": 1}, {"m": 1}, {"d": "not a date"}, {"m": [[{"l": []}, 1]]}, {}]
)
def test_an_entry_that_does_not_decode_is_a_miss(payload, cache):
    text = "a: 1\nb: [2, 3]\n"
    paths.parse_yaml(text, "x.yaml")
    yamlcache.flush()
    (entry,) = cache.glob("*.json")
    doc = json.loads(entry.read_text())
    doc["payload"] = payload
    entry.write_text(json.dumps(doc, separators=(",", ":")))
    assert paths.parse_yaml(text, "x.yaml") == {"a": 1, "b": [2, 3]}


def test_an_alias_bomb_is_refused_every_time_and_never_kept(cache):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    for _ in range(2):
        with pytest.raises(InputError, match=r"bomb\.yaml"):
            paths.parse_yaml(bomb, "bomb.yaml")
    assert yamlcache.flush() == 0
    assert not cache.exists() or list(cache.glob("*.json")) == []


def test_encode_refuses_what_json_would_change():
    for value in (float("inf"), b"bytes", {1, 2}, (1, 2)):
        with pytest.raises(yamlcache._NotKept):
            yamlcache.encode({"k": value})


def test_a_command_that_stops_on_bad_input_writes_no_parsed_document(tmp_path, run_cli):
    # The defaults and the data parse fine before the bad value is found: none of it is written.
    res = run_cli("memory", "--model", "llama-2-7b", "--gpu", "h100-sxm", "--set", "years=-1")
    assert res.returncode == 2
    assert not (tmp_path / "cache").exists()
    res = run_cli("memory", "--model", "llama-2-7b", "--gpu", "h100-sxm")
    assert res.returncode == 0 and list((tmp_path / "cache" / "yaml").glob("*.json"))


def test_the_key_names_the_installed_pyyaml_without_importing_it():
    # Read from PyYAML's source so that a warm process never loads it; the module says the same.
    assert yamlcache.parser_version() == yaml.__version__
