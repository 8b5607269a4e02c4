"""Parameters: defaults validate; every kind of bad input is one InputError naming the key."""

from __future__ import annotations

import os
import threading
import time
import typing
from pathlib import Path

import annotated_types as at
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.validation import MAX_PROBLEMS_SHOWN, _unwrap, input_error
from gpucompare.data import catalog
from gpucompare.data.training import METHODS
from gpucompare.params import schema
from gpucompare.params.training import TrainingMethod


def test_defaults_validate():
    p, _ = params.resolve()
    assert p.gpus == ["h100-sxm", "rtx-4090"]
    assert p.workloads


def test_files_then_sets_later_wins(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("electricity_usd_per_kwh: 0.30\nprice_usd: {h100-sxm: 25000}\n")
    b = tmp_path / "b.yaml"
    b.write_text("electricity_usd_per_kwh: 0.20\n")
    p, _ = params.resolve([a, b], ["price_usd.rtx-4090=2000", "gpus=[a100-sxm-80gb, l40s]"])
    assert p.electricity_usd_per_kwh == 0.20
    assert p.price_usd == {"h100-sxm": 25000, "rtx-4090": 2000}
    assert p.gpus == ["a100-sxm-80gb", "l40s"]
    assert p.price_of("h100-sxm") == 25000


def test_set_into_list_item():
    p, _ = params.resolve(sets=["workloads.0.batch_size=8"])
    assert p.workloads[0].batch_size == 8


@pytest.mark.parametrize(
    ("sets", "pattern"),
    [
        (
            ["electricity_usd_per_kwh=-0.1"],
            r"electricity_usd_per_kwh: Input should be greater than 0",
        ),
        (["price_usd.h100-sxm=0"], r"price_usd\.h100-sxm: Input should be greater than 0"),
        (["price_usd.h100-sxm=.nan"], r"price_usd\.h100-sxm"),
        (["pue=.inf"], r"pue"),
        (
            ["gpus=[h100-sxm, h100]"],
            r"gpus: unknown GPU 'h100'.*did you mean 'h100-sxm'.*allowed: .*rtx-4090",
        ),
        (["price_usd.rtx4090=1500"], r"unknown GPU 'rtx4090'.*did you mean 'rtx-4090'"),
        (
            ["workloads.0.model=llama-7b"],
            r"workloads\[0\]\.model: unknown model 'llama-7b'.*allowed: .*llama-2-7b",
        ),
        (["workloads.0.weights=int3"], r"workloads\[0\]\.weights: Input should be 'fp32', 'bf16'"),
        (
            ["workloads.0.batch_size=0"],
            r"workloads\[0\]\.batch_size: Input should be greater than 0",
        ),
        (
            ["electricty_usd_per_kwh=0.2"],
            r"electricty_usd_per_kwh: unknown key \(did you mean 'electricity_usd_per_kwh'\?\)",
        ),
        (["years=three"], r"years: Input should be a valid number"),
        (["gpus=[]"], r"gpus: List should have at least 1 item"),
        (["utilization=1.5"], r"utilization: Input should be less than or equal to 1"),
    ],
)
def test_bad_values_name_the_key(sets, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        params.resolve(sets=sets)
    assert info.value.exit_code == 2


def test_malformed_and_empty_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: [h100-sxm\nyears: 3\n")
    with pytest.raises(InputError, match=r"bad.yaml:.*line \d+.*malformed YAML"):
        params.resolve([bad])
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match=r"empty.yaml: the parameters file is empty"):
        params.resolve([empty])
    with pytest.raises(InputError, match=r"missing.yaml: file not found"):
        params.resolve([tmp_path / "missing.yaml"])


def test_set_needs_key_and_value():
    with pytest.raises(InputError, match="expected key=value"):
        params.resolve(sets=["years"])


def test_notebook_params_reject_unknown_names():
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['gpu'\]"):
        params.notebook_params(gpu="h100-sxm")
    assert params.notebook_params(gpus=["l40s"]).gpus == ["l40s"]


def test_non_default_keys():
    p, _ = params.resolve(sets=["pue=1.5", "years=3.0"])  # 3.0 equals the default 3
    assert params.non_default_keys(p) == ["pue"]


def test_sections_cannot_read_undeclared_parameters():
    # The build injects only a notebook's declared parameters; reading another one would
    # silently use its default, so the notebook view refuses it.
    p = params.notebook_params(gpus=["h100-sxm"])
    assert p.gpus == ["h100-sxm"]
    with pytest.raises(
        InputError, match=r"reads parameter 'pue' but its parameters cell does not declare it"
    ):
        _ = p.pue
    with pytest.raises(InputError, match=r"'price_usd'"):
        p.price_of("h100-sxm")


# --- Bounded inputs ------------------------------------------------------------------------------


def _slots(model, prefix=""):
    """(dotted key, scalar type, constraints) of every number slot of ``model``, nested models,
    list items, dict values and tuple items included."""

    def walk(annotation, key, constraints):
        ann, more, _ = _unwrap(annotation)
        constraints = [*constraints, *more]
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if ann in (int, float):
            yield key, ann, constraints
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _slots(ann, f"{key}.")
        elif origin is list:
            yield from walk(args[0], f"{key}.0", [])
        elif origin is dict:
            yield from walk(args[1], f"{key}.{{key}}", [])
        elif origin is tuple:
            for i, a in enumerate(args):
                yield from walk(a, f"{key}[{i}]", [])

    for name, f in model.model_fields.items():
        yield from walk(f.annotation, f"{prefix}{name}", list(f.metadata))


def test_every_integer_parameter_has_an_upper_bound():
    ints = [(k, c) for k, t, c in _slots(params.Params) if t is int]
    assert len(ints) >= 15  # the Workload's and every list item's too
    unbounded = [k for k, c in ints if not any(isinstance(x, (at.Le, at.Lt)) for x in c)]
    assert not unbounded, f"integer parameters without an upper bound: {unbounded}"


def _set_for(key: str, value: str) -> str:
    """A --set assignment that puts ``value`` into the number slot ``key`` of the defaults."""
    data = params.defaults_dict()
    head, _, rest = key.partition("[")
    if rest:  # a tuple item: the whole list, with one item replaced
        items = list(data[head])
        items[int(rest[0])] = value
        return f"{head}=[{', '.join(str(i) for i in items)}]"
    name = key.split(".")[0]
    if "{key}" in key:  # a mapping value: the first allowed key
        first = "datacenter" if name.endswith("host_usd_per_gpu") else data["gpus"][0]
        key = key.replace("{key}", first)
    if name == "workloads" and key.count(".") == 1:
        key = key.replace("workloads.", "workloads.0.")
    return f"{key}={value}"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+309"])
def test_every_number_parameter_refuses_nan_and_inf(value):
    """Each number slot of the schema (nested models, list items, dict values, tuple items)."""
    slots = [k for k, _, _ in _slots(params.Params)]
    assert len(slots) >= 40
    for key in slots:
        assignment = _set_for(key, value)
        with pytest.raises(InputError, match=r"finite number|valid integer") as info:
            params.validate(params.apply_set(params.defaults_dict(), assignment))
        assert info.value.exit_code == 2
        assert len(str(info.value)) < 1000, assignment


@pytest.mark.parametrize(
    ("assignment", "pattern"),
    [
        ("training_gpus=1000001", r"training_gpus: Input should be less than or equal to 1000000"),
        ("workloads.0.batch_size=1000001", r"workloads\[0\]\.batch_size: .*less than or equal"),
        ("sweep_context_tokens=[4096, 10000001]", r"sweep_context_tokens\[1\]: .*less than"),
        ("mc_seed=4294967296", r"mc_seed: Input should be less than or equal to 4294967295"),
        ("electricity_usd_per_kwh=1.0e+308", r"electricity_usd_per_kwh: .*less than or equal"),
        ("price_usd.h100-sxm=1.0e+300", r"price_usd\.h100-sxm: .*less than or equal"),
    ],
)
def test_numbers_above_their_bounds_name_the_key(assignment, pattern):
    with pytest.raises(InputError, match=pattern):
        params.validate(params.apply_set(params.defaults_dict(), assignment))


def test_defaults_are_within_the_bounds():
    params.validate(params.defaults_dict())


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"pue: *a{levels - 1}"]) + "\n"


@pytest.mark.parametrize("levels", [9, 10, 30])
def test_alias_bombs_are_refused_in_milliseconds(tmp_path, levels):
    f = tmp_path / "bomb.yaml"
    f.write_text(_bomb(levels))
    assert f.stat().st_size < 2000
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"bomb\.yaml: holds more than 100,000 values"):
        params.resolve([f])
    assert time.perf_counter() - start < 1.0


def test_aliases_within_the_budget_still_load(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("base: &b {h100-sxm: 30000}\nprice_usd: *b\nother: [*b, *b]\n")
    assert paths.load_yaml(f)["other"] == [{"h100-sxm": 30000}] * 2


def test_long_strings_repeated_by_aliases_are_refused(tmp_path):
    f = tmp_path / "text.yaml"
    f.write_text(f"a: &a {'x' * 500_000}\nb: [{', '.join(['*a'] * 30)}]\n")
    with pytest.raises(InputError, match=r"text\.yaml: holds more than 10,000,000 characters"):
        paths.load_yaml(f)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a: &a [1, *a]\n", r"an alias refers to a list or mapping that contains it"),
        ("a: &a {k: *a}\n", r"an alias refers to a list or mapping that contains it"),
        ("pue: " + "[" * 33 + "]" * 33 + "\n", r"nested more than 32 levels deep"),
        ("pue:\n" + "- " * 40 + "x\n", r"nested more than 32 levels deep"),
        ("pue: " + "[" * 5000 + "]" * 5000 + "\n", r"malformed YAML|nested"),
        ("x: 1" + "0" * 5000 + "\n", r"malformed YAML: Exceeds the limit \(4300 digits\)"),
        ("x: 2001-13-01\n", r"malformed YAML: month must be in 1\.\.12"),
    ],
)
def test_structures_without_bound_are_refused(tmp_path, text, pattern):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=rf"p\.yaml:.*{pattern}"):
        paths.load_yaml(f)


def test_the_pure_python_loader_is_bounded_too(tmp_path, monkeypatch):
    """Without libyaml the parser recurses: RecursionError becomes the same InputError."""

    monkeypatch.setattr(paths, "_SAFE_LOADER", yaml.SafeLoader)
    f = tmp_path / "p.yaml"
    f.write_text("pue: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match=r"p\.yaml: malformed YAML: nested too deeply"):
        paths.load_yaml(f)
    f.write_text(_bomb(10))
    with pytest.raises(InputError, match=r"holds more than 100,000 values"):
        paths.load_yaml(f)


def test_special_and_binary_files_are_refused(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            paths.load_yaml(fifo)
        except InputError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "opening the FIFO blocked"
    assert outcome and "a named pipe (FIFO), not a regular file" in outcome[0]
    with pytest.raises(InputError, match=r"/dev/zero: a device, not a regular file"):
        paths.load_yaml(Path("/dev/zero"))
    with pytest.raises(InputError, match=r": a directory, not a regular file"):
        paths.load_yaml(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes("title: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        InputError, match=r"latin1\.yaml: not UTF-8 text \(byte 0xe9 at offset 10\)"
    ):
        paths.load_yaml(tmp_path / "latin1.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"pue: 1.2\n\x00\x01\x02")
    with pytest.raises(InputError, match=r"bin\.yaml: a binary file \(NUL byte at offset 9\)"):
        paths.load_yaml(tmp_path / "bin.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * paths.MAX_YAML_BYTES + b"\n")
    with pytest.raises(InputError, match=r"big\.yaml: 1,000,001 bytes, over the 1,000,000-byte"):
        paths.load_yaml(big)
    big.write_bytes(b"#" * (paths.MAX_YAML_BYTES - 1) + b"\n")  # exactly the limit: read
    assert paths.load_yaml(big) is None


@pytest.mark.parametrize(
    ("assignment", "pattern"),
    [
        (".".join(["a"] * 10_000) + "=1", r"10000 dotted parts, more than the 32 levels"),
        ("pue=" + "[" * 100_000 + "]" * 100_000, r"--set pue: .*(malformed YAML|nested)"),
        ("price_usd.x=" + "[" * 31 + "]" * 31, r"--set price_usd\.x: .*nested more than 32"),
        ("pue=[&a [1,1], &b [*a, *b]]", r"--set pue: an alias refers to a list or mapping"),
        ("pue=1" + "0" * 5000, r"--set pue: malformed YAML: Exceeds the limit"),
        ("pue=[1", r"--set pue: line \d+, column \d+: malformed YAML"),
    ],
)
def test_set_is_bounded(assignment, pattern):
    start = time.perf_counter()
    with pytest.raises(InputError, match=pattern) as info:
        params.apply_set(params.defaults_dict(), assignment)
    assert time.perf_counter() - start < 1.0
    assert len(str(info.value)) < 500


def test_error_messages_quote_no_huge_value():
    """A value of a billion items is quoted in a few characters, at once."""

    huge: list = ["lol"] * 9
    for _ in range(9):
        huge = [huge] * 9  # 9**10 strings, shared
    start = time.perf_counter()
    try:
        params.Params.model_validate({**params.defaults_dict(), "pue": huge})
    except ValidationError as exc:
        message = str(input_error(exc, params.Params, "p.yaml"))
    assert time.perf_counter() - start < 1.0
    assert "pue: Input should be a valid number" in message and len(message) < 500


def test_error_messages_list_at_most_50_problems():
    data = {**params.defaults_dict(), "decode_batch_sizes": ["x"] * 1000}
    with pytest.raises(ValidationError) as info:
        params.Params.model_validate(data)
    lines = str(input_error(info.value, params.Params, "p.yaml")).splitlines()
    assert len(lines) == MAX_PROBLEMS_SHOWN + 1
    assert lines[-1] == "p.yaml: ... and 950 more problem(s)"


def test_weight_precisions_are_the_catalog_formats():
    # The schema's WeightPrecision literal and data/precisions.yaml name the same formats.
    assert set(typing.get_args(schema.WeightPrecision)) == {
        w.id for w in catalog.precision_catalog().precisions
    }


def test_unknown_engine_is_refused_naming_the_key():
    with pytest.raises(InputError, match="engine: unknown engine 'vlm'"):
        params.make(engine="vlm")


@pytest.mark.parametrize(
    ("sets", "pattern"),
    [
        (
            ["training_jobs.0.method=dora"],
            r"training_jobs\[0\]\.method: Input should be 'full', 'lora' or 'qlora'",
        ),
        (
            ["training_jobs.1.model=llama-7b"],
            r"training_jobs\[1\]\.model: unknown model 'llama-7b'.*did you mean 'llama-2-7b'",
        ),
        (["training_jobs.0.epochs=3"], r"training_jobs\[0\]\.epochs: unknown key"),
        (["training_jobs.0={name: x, model: llama-2-7b}"], r"training_jobs\[0\]\.method"),
        (
            ["training_jobs.1.name=Llama 2 7B LoRA"],
            r"training_jobs: two or more training jobs are named \['Llama 2 7B LoRA'\]",
        ),
        (["training_jobs=[]"], r"training_jobs: List should have at least 1 item"),
    ],
)
def test_bad_training_jobs_name_the_key(sets, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        params.resolve(sets=sets)
    assert info.value.exit_code == 2
    assert len(str(info.value).splitlines()) == 1  # one clear error


def test_training_jobs_default_and_override():
    p = params.make()
    assert [(j.model, j.method) for j in p.training_jobs][:2] == [
        ("llama-2-7b", "lora"),
        ("llama-2-7b", "qlora"),
    ]
    q, _ = params.resolve(sets=["training_jobs.0.method=qlora"])
    assert q.training_jobs[0].method == "qlora" and q.training_jobs[1:] == p.training_jobs[1:]


def test_training_methods_are_the_measurement_methods():
    # The schema's literal and the methods of data/measurements/training.csv are the same three.
    assert set(typing.get_args(TrainingMethod)) == set(METHODS)
