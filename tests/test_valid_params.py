"""The preflight promise: a parameter set that passes validation builds every section.

Random VALID parameter sets are drawn from the pydantic schema itself (:class:`gpucompare.params.Params`):
each field's type and its bounds (``gt``/``ge``/``lt``/``le`` in the field's metadata) give the strategy,
so the test follows the schema when bounds change. A field without an upper bound is drawn up to
:data:`UNBOUNDED_MAX` (:data:`UNBOUNDED` names them), one open at 0 from :data:`TINY`; list items are
distinct (repeated ones are a known gap, see the xfail tests at the end). For each notebook the test makes the notebook's own calls (read from its code
cells; :func:`test_section_calls_match_the_notebooks` keeps the lists in step) on the notebook's view of
the parameters (:func:`gpucompare.params.notebook_params` with the names its parameters cell declares),
renders every table and figure as the notebook would, and checks the notebook's asserts. Nothing here
executes a notebook. Speed (about 2 s a draw): the parameter-free loaders (:data:`_CONSTANT`) are computed
once per session (:func:`_constants_cached`) and figures are drawn small without pixels (:func:`_shown`).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import json
import math
import os
import sys
import typing
from pathlib import Path

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, engines, interconnect
from gpucompare.model import cost, specs
from gpucompare.report import execute, preflight
from gpucompare.sections import display
from gpucompare.sections import reliability as reliability_section
from gpucompare.sections import tco as tco_section

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))

#: Upper end of the draws of a numeric field that the schema leaves unbounded.
UNBOUNDED_MAX = 1_000_000
#: Smallest positive float drawn. A field open at 0 (``gt=0``) accepts down to 5e-324, but values that
#: small only probe float underflow (a price of 1e-300 USD), so the draws stop here; 0 itself is drawn
#: wherever the schema allows it (``ge=0``).
TINY = 1e-9
#: Fields whose upper bound a draw does not reach, only to keep the test fast (each is a cost, not a
#: correctness, question: the Monte Carlo holds draws x workloads x GPUs floats).
SPEED_CAP = {
    "mc_draws": 2_000,
    "requests_per_s": 100.0,
    "prompt_tokens": 32_768,
    "output_tokens": 4_096,
}
#: The longest list and dict a draw makes (the tables grow with their product).
MAX_ITEMS = 3
#: String fields that hold catalog ids, by the name of the field.
GPU_ID_FIELDS = {"gpus", "tp_gpus", "price_usd", "cloud_usd_per_gpu_hour", "acquisition"}
MODEL_ID_FIELDS = {"model", "tp_model"}
ENGINE_ID_FIELDS = {"engine"}
#: Fields whose validator (not their metadata) asks for ``0 < low <= high``.
RANGE_FIELDS = {"mc_utilization_range", "mc_electricity_range_usd_per_kwh"}

#: Free text that has broken a renderer: math text (matplotlib), markup (HTML), separators, empty.
TRICKY_TEXT = ["$\\frac{$", "$x^2$ and $", "<b>&amp;</b>", "a, b; c", "", " ", "%s {0} %%"]
#: Filled while the strategies are built: the numeric fields without an upper bound.
UNBOUNDED: set[str] = set()


# --- Strategies from the schema -----------------------------------------------------------------


def _bounds(metadata) -> dict[str, float]:
    out = {}
    for m in metadata:
        for key, kind in (("gt", at.Gt), ("ge", at.Ge), ("lt", at.Lt), ("le", at.Le)):
            if isinstance(m, kind):
                out[key] = getattr(m, key)
        if hasattr(m, "metadata"):  # a FieldInfo inside Annotated[...]
            out.update(_bounds(m.metadata))
    return out


def _min_len(metadata) -> int:
    return max([m.min_length for m in metadata if isinstance(m, at.MinLen)] or [0])


def _number(kind: type, b: dict[str, float], name: str) -> st.SearchStrategy:
    has_upper = "lt" in b or "le" in b
    if not has_upper:
        UNBOUNDED.add(name)
    cap = SPEED_CAP.get(name, math.inf)
    if kind is int:
        lo = int(b["gt"]) + 1 if "gt" in b else int(b.get("ge", 0))
        hi = int(b["lt"]) - 1 if "lt" in b else int(b.get("le", UNBOUNDED_MAX))
        return st.integers(lo, int(min(hi, cap)))
    lo = float(b.get("gt", b.get("ge", 0.0)))
    hi = float(min(b.get("lt", b.get("le", UNBOUNDED_MAX)), cap))
    exclude_max = "lt" in b and b["lt"] <= cap
    if lo == 0.0:
        positive = st.floats(TINY, hi, exclude_max=exclude_max)
        return positive if "gt" in b else st.just(0.0) | positive
    return st.floats(
        lo,
        hi,
        exclude_min="gt" in b,
        exclude_max=exclude_max,
        allow_nan=False,
        allow_infinity=False,
    )


def _strategy(annotation, metadata, name: str) -> st.SearchStrategy:
    """A strategy for one schema field (``name`` is the field, for id fields and the records)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _strategy(args[0], [*metadata, *args[1:]], name)
    if name in ("mix", "concurrent_users", "think_time_s"):
        # A mix couples the shares (sum 1) and the service's means, users and think time couple
        # with requests_per_s; the mixed-fleet search costs seconds per service. tests/sections/test_plan.py and tests/model/test_fleet.py cover it.
        return st.none()
    if name in RANGE_FIELDS:
        item = args[0]  # tuple[Annotated[float, Field(...)], ...]: the items carry the bounds
        b = (
            _bounds(typing.get_args(item)[1:])
            if typing.get_origin(item) is typing.Annotated
            else {}
        )
        one = _number(float, {"gt": 0.0, **b}, name)
        return st.tuples(one, one).map(sorted)
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _number(annotation, _bounds(metadata), name)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if annotation is str:
        if name in GPU_ID_FIELDS:
            return st.sampled_from(catalog.gpu_ids())
        if name in MODEL_ID_FIELDS:
            return st.sampled_from(catalog.model_ids())
        if name in ENGINE_ID_FIELDS:
            return st.sampled_from(engines.engine_ids())
        return st.text(max_size=40) | st.sampled_from(TRICKY_TEXT)
    if origin is list:
        item = _strategy(args[0], [], name)
        n = _min_len(metadata)
        if (
            isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
            and "name" in args[0].model_fields
        ):
            unique_by = lambda x: x["name"]  # noqa: E731 - items are told apart by their name
        else:
            unique_by = lambda x: x  # noqa: E731
        # Items are distinct: the schema accepts repeated ones, which several sections cannot lay out
        # (see test_repeated_list_items below).
        return st.lists(item, min_size=n, max_size=max(n, MAX_ITEMS), unique_by=unique_by)
    if origin is dict:
        keys = _strategy(args[0], [], name)
        return st.dictionaries(keys, _strategy(args[1], [], name), max_size=MAX_ITEMS)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model(annotation)
    raise AssertionError(f"no strategy for field {name!r} of type {annotation!r}: extend _strategy")


def _model(model: type[BaseModel]) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {n: _strategy(f.annotation, f.metadata, n) for n, f in model.model_fields.items()}
    )


def _tp_degrees() -> st.SearchStrategy:
    """Tensor-parallel degrees: the schema's, limited by the data to one node of every catalog GPU
    (:func:`gpucompare.report.preflight.preflight` rejects larger ones before any notebook runs)."""
    f = params.Params.model_fields["tp_degrees"]
    node = min(interconnect.max_gpus_per_node(g) for g in catalog.gpu_ids())
    b = _bounds(typing.get_args(f.annotation)[0].__metadata__)
    lo = int(b["gt"]) + 1 if "gt" in b else int(b.get("ge", 1))
    hi = min(node, int(b["lt"]) - 1 if "lt" in b else int(b.get("le", node)))
    return st.lists(
        st.integers(lo, hi), min_size=_min_len(f.metadata), max_size=MAX_ITEMS, unique=True
    )


def valid_params() -> st.SearchStrategy:
    fields = {
        n: _strategy(f.annotation, f.metadata, n) for n, f in params.Params.model_fields.items()
    }
    fields["tp_degrees"] = _tp_degrees()
    return st.fixed_dictionaries(fields)


VALID = valid_params()


# --- What each notebook runs: its own code, in this process -----------------------------------


def _cells(nb: Path) -> list[str]:
    """The notebook's code cells after its parameters cell (the setup and every result cell)."""
    cells = json.loads(nb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    k = next(i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", []))
    return ["".join(c["source"]) for c in code[k + 1 :]]


def _shown(x) -> None:
    """Render what the notebook displays, as Jupyter would: tables to HTML, text and CSV; figures are
    drawn (autoscaling, ticks, text layout) but small, without the pixels and without the layout pass,
    which only places the same artists: a third of the time of the report's PNG."""
    if isinstance(x, display.Figure):
        x.figure.set_layout_engine("none")
        x.figure.set_size_inches(2.0, 1.5)
        x.figure.draw_without_rendering()
        x.figure.clear()
    else:
        x._repr_mimebundle_()


#: Functions that do not read the parameters and cost the most, the same for every draw, so each
#: runs once per test session (per data folder) and later calls get a copy: ``params/default.yaml``,
#: read and copied again by every ``notebook_params`` and audit check, hundreds of times a draw.
#: (The claims audit and the measurement loaders remember their answers themselves,
#: :mod:`gpucompare.core.memo`; the data folder is resolved once per environment by the library:
#: wrapping them here cost more than it saved, ~8 s of the 20 draws.)
_CONSTANT = [
    (params, "defaults_dict"),
]
_CONSTANT_CACHE: dict = {}


def _copy(value):
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):  # audit rows: dicts of scalars
        return [dict(r) if isinstance(r, dict) else r for r in value]
    if isinstance(value, dict):  # the default parameters: callers may change nested values
        return copy.deepcopy(value)
    return value.copy() if hasattr(value, "copy") else value


def _aliases() -> dict[tuple[object, str], tuple[str, str]]:
    """Every name the :data:`_CONSTANT` functions go by in the library's loaded modules (``from
    gpucompare.data.measurements import load_inference`` makes one per importing module), with
    the ``(module, name)`` of the function's own definition, which their cache entries share."""
    own = {id(getattr(m, n)): (m.__name__, n) for m, n in _CONSTANT}
    out = {}
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("gpucompare"):
            for name, value in list(vars(module).items()):
                if id(value) in own:
                    out[module, name] = own[id(value)]
    return out


@contextlib.contextmanager
def _constants_cached():
    aliases = _aliases()
    originals = {(m, n): getattr(m, n) for m, n in aliases}

    def cached(key_name, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = (
                *key_name,
                args,
                tuple(sorted(kwargs.items())),
                os.environ.get(paths.DATA_DIR_ENV),  # a test may point at a copy of data/
            )
            if key not in _CONSTANT_CACHE:
                _CONSTANT_CACHE[key] = func(*args, **kwargs)
            return _copy(_CONSTANT_CACHE[key])

        return wrapper

    try:
        for (m, n), func in originals.items():
            setattr(m, n, cached(aliases[m, n], func))
        yield
    finally:
        for (m, n), func in originals.items():
            setattr(m, n, func)


#: The notebooks' declared parameters and code, read once.
DECLARED = {
    nb.stem: execute.parameter_names(execute.nbformat.read(nb, as_version=4)) for nb in NOTEBOOKS
}
CODE = {nb.stem: _cells(nb) for nb in NOTEBOOKS}


def _run_notebook(name: str, values: dict) -> None:
    """Run a notebook's code as the build does, without a kernel: the declared parameters injected
    (JSON values, as papermill injects them), then each cell; the value of a cell's last expression
    is shown as Jupyter would (:func:`_shown`). The notebook's own asserts run too."""
    namespace: dict = {k: values[k] for k in DECLARED[name]}
    for source in CODE[name]:
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"<{name}>", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), namespace)
            if isinstance(value, (display.Table, display.Figure)):
                _shown(value)


def build_sections(data: dict, only: list[str] | None = None) -> None:
    """Validate ``data`` as the build does (schema, then the preflight against the data files), then
    run each section notebook's own code on those values."""
    p = params.make(**data)
    preflight.preflight(p)
    values = p.model_dump(mode="json")
    with _constants_cached():
        for name in only or DECLARED:
            _run_notebook(name, values)


# --- Tests -------------------------------------------------------------------------------------


def test_every_notebook_is_run():
    assert sorted(DECLARED) == sorted(nb.stem for nb in NOTEBOOKS) and len(DECLARED) >= 8


def test_every_schema_field_has_a_strategy_and_the_defaults_build():
    """The strategies cover the schema; the default parameters build every section."""
    valid_params()  # raises for a field type the strategies do not cover
    build_sections(params.defaults_dict())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=VALID)
def test_any_valid_parameters_build_every_section(data):
    build_sections(data)


# --- The crashes this test found (regressions) --------------------------------------------------


def _defaults_with(**changes) -> dict:
    """The defaults with ``changes``; skipped if the schema has since been bounded to reject them."""
    data = {**params.defaults_dict(), **changes}
    try:
        params.make(**data)
    except InputError as exc:  # pragma: no cover - depends on the schema's bounds
        pytest.skip(f"no longer valid parameters: {exc}")
    return data


def test_tco_workload_that_fits_no_single_gpu():
    """``--set workloads.0.model=llama-2-70b``: 70B at fp16 fits neither default GPU alone, and the
    sensitivity table had no row at all (KeyError 'usd_per_mtok_high_input')."""
    workloads = [dict(w) for w in params.defaults_dict()["workloads"]]
    workloads[0]["model"] = "llama-2-70b"
    data = _defaults_with(workloads=workloads)
    build_sections(data, ["06_tco", "07_decision", "00_summary"])
    p = params.make(**data)
    t = cost.sensitivity_table(p)
    assert t["usd_per_mtok_base"].isna().all()  # no cost where it does not fit
    assert set(t.index.get_level_values("input")) == {cost.DOES_NOT_FIT}
    assert cost.DOES_NOT_FIT in tco_section.sensitivity(p).caption


@pytest.mark.parametrize(
    "changes",
    [
        {"training_gpus": 500_000},
        {"checkpoint_interval_hours": 1000.0},
        {"dram_errors_per_gb_year": 1000.0, "uncorrectable_fraction": 1.0},
    ],
    ids=["training_gpus", "checkpoint_interval_hours", "error_rate"],
)
def test_reliability_rollbacks_that_outpace_checkpoints(changes):
    """exp(L tau) beyond the largest float raised OverflowError in the training table."""
    data = _defaults_with(**changes)
    build_sections(data, ["05_reliability"])
    p = params.make(**data)
    shown = reliability_section.training(p)
    t = shown.frame
    assert (t["wasted_gpu_hours"] >= 0).all()
    assert t["p_at_least_one_silent"].between(0, 1).all()
    assert "never finishes" in shown.caption


@pytest.mark.parametrize(
    ("changes", "section"),
    [
        ({"gpus": ["rtx-4090"]}, "06_tco"),  # no second GPU to break even with: KeyError
        ({"tp_degrees": [1]}, "04_interconnect"),  # no all-reduce at TP 1: InputError (inf GB/s)
        ({"tp_decode_batches": [8, 64]}, "04_interconnect"),  # caption read batch 1: KeyError
    ],
    ids=["one_gpu", "tp_1", "decode_batches_without_1"],
)
def test_small_lists(changes, section):
    build_sections(_defaults_with(**changes), [section])


def test_workload_name_with_math_text():
    """A workload name with a pair of $ is math text to matplotlib: invalid math failed the figures."""
    workloads = [dict(w) for w in params.defaults_dict()["workloads"]]
    workloads[0]["name"] = "batch $\\frac{$ 1"
    build_sections(_defaults_with(workloads=workloads), ["06_tco", "07_decision"])


def test_memory_error_rate_of_zero():
    """``dram_errors_per_gb_year: 0`` divided by zero in the probability caption."""
    build_sections(_defaults_with(dram_errors_per_gb_year=0.0), ["05_reliability"])


# --- Gaps the random draws found, closed in the schema and the data ---------------------------------


def test_h200_tensor_derivation_holds_within_two_percent():
    """Notebook 01 asserts the derivation within 2%; the H200 had no peak clock (it fell back to the
    boost clock, 8.2% off) until the catalog took the H100 SXM5's 1830 MHz for the same die."""
    p = params.make(gpus=["h200-sxm"])
    assert (specs.tensor_derivation(p.gpus)["error_pct"].abs() < 2).all()


#: A list parameter whose items repeat (a table would get two rows or columns with one label).
REPEATED = {
    "decode_batch_sizes": [1, 1],
    "memory_weight_precisions": ["int4", "int4"],
    "mig_weight_precisions": ["int4", "int4"],
    "tp_cluster_precisions": ["fp16", "fp16"],
    "sweep_context_tokens": [4096, 4096],
    "tp_degrees": [2, 2],
    "tp_decode_batches": [8, 8],
}


@pytest.mark.parametrize("name", sorted(REPEATED))
def test_repeated_list_items_are_rejected(name):
    data = {**params.defaults_dict(), name: REPEATED[name]}
    with pytest.raises(InputError, match=rf"{name}.*repeated item"):
        params.make(**data)


def test_repeated_workload_names_are_rejected():
    workloads = [dict(w) for w in params.defaults_dict()["workloads"]]
    workloads[1]["name"] = workloads[0]["name"]
    data = {**params.defaults_dict(), "workloads": workloads}
    with pytest.raises(InputError, match=r"workloads.*named"):
        params.make(**data)


@pytest.mark.parametrize(
    ("name", "value"),
    [("mc_utilization_range", [0.5, 1.5]), ("mc_electricity_range_usd_per_kwh", [0.1, 1e6])],
)
def test_monte_carlo_ranges_have_the_ceilings_of_their_parameters(name, value):
    with pytest.raises(InputError, match=name):
        params.make(**{**params.defaults_dict(), name: value})
