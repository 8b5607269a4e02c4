"""The preflight promise: a parameter set that passes validation builds every section.

Random VALID parameter sets are drawn from the pydantic schema itself (:class:`gpucompare.params.Params`):
each field's type and its bounds (``gt``/``ge``/``lt``/``le`` in the field's metadata) give the strategy,
so the test follows the schema when bounds change. A field without an upper bound is drawn up to
:data:`UNBOUNDED_MAX` (:data:`UNBOUNDED` names them), one open at 0 from :data:`TINY`; list items are
distinct (repeated ones are a known gap, see the xfail tests at the end). For each notebook the test makes the notebook's own calls (read from its code
cells; :func:`test_section_calls_match_the_notebooks` keeps the lists in step) on the notebook's view of
the parameters (:func:`gpucompare.params.notebook_params` with the names its parameters cell declares),
renders every table and figure as the notebook would, and checks the notebook's asserts. Nothing here
executes a notebook. Speed (about 2 s a draw): three parameter-free loaders are computed once per
session (:func:`_constants_cached`) and figures are drawn small without pixels (:func:`_shown`).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import json
import math
import types
import typing
from pathlib import Path

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gpucompare import (
    audit,
    decide,
    gemm,
    interconnect,
    measure,
    memory,
    params,
    reliability,
    specs,
    summary,
    tco,
    throughput,
)
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, checkdata
from gpucompare.sections import display

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
SPEED_CAP = {"mc_draws": 2_000}
#: The longest list and dict a draw makes (the tables grow with their product).
MAX_ITEMS = 3
#: String fields that hold catalog ids, by the name of the field.
GPU_ID_FIELDS = {"gpus", "tp_gpus", "price_usd", "cloud_usd_per_gpu_hour"}
MODEL_ID_FIELDS = {"model", "tp_model"}
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
    (:func:`checkdata.preflight` rejects larger ones before any notebook runs)."""
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


# --- What each notebook runs -------------------------------------------------------------------


def _declared(nb: Path) -> list[str]:
    """The names the notebook's ``parameters`` cell declares."""
    cells = json.loads(nb.read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return [
        n.target.id if isinstance(n, ast.AnnAssign) else n.targets[0].id
        for n in tree.body
        if isinstance(n, (ast.AnnAssign, ast.Assign))
    ]


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


#: Functions that do not read the parameters and cost the most (the claims audit, run by several
#: tables; the kernel measurements, parsed per lookup; the checkout's root, resolved per data-file
#: lookup): the same for every draw, so each runs once per test session and later calls get a copy.
_CONSTANT = [(audit, "run"), (measure, "load_kernel_measurements"), (paths, "repo_root")]
_CONSTANT_CACHE: dict = {}


def _copy(value):
    if isinstance(value, list):  # audit rows: dicts of scalars
        return [dict(r) for r in value]
    return value.copy() if hasattr(value, "copy") else value


@contextlib.contextmanager
def _constants_cached():
    originals = {(m, n): getattr(m, n) for m, n in _CONSTANT}

    def cached(module, name, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = (module.__name__, name, args, tuple(sorted(kwargs.items())))
            if key not in _CONSTANT_CACHE:
                _CONSTANT_CACHE[key] = func(*args, **kwargs)
            return _copy(_CONSTANT_CACHE[key])

        return wrapper

    try:
        for (m, n), func in originals.items():
            setattr(m, n, cached(m, n, func))
        yield
    finally:
        for (m, n), func in originals.items():
            setattr(m, n, func)


def nb_00_summary(p):
    _shown(
        display.table(
            summary.findings_table(p),
            "key_findings",
            "Generated from the audit and the section tables.",
        )
    )
    _shown(
        display.table(
            summary.recommendation_table(p),
            "summary_recommendation",
            summary.recommendation_caption(p),
        )
    )
    _shown(
        display.table(
            memory.article_memory_table(), "summary_article_memory", memory.article_memory_caption()
        )
    )
    _shown(display.table(tco.cost_table(p), "summary_cost_per_token", tco.winners_caption(p)))
    _shown(display.table(audit.verdict_counts(), "verdict_counts", summary.verdicts_caption()))
    _shown(
        display.table(
            summary.verdicts_by_section(), "verdicts_by_section", summary.verdicts_caption()
        )
    )
    _shown(display.table(summary.wrong_claims_table(), "wrong_claims", ""))
    _shown(display.table(audit.audit_table(), "audit", ""))
    assert set(audit.audit_table()["verdict"]) <= set(audit.VERDICTS)
    _shown(display.table(summary.sources_table(), "summary_sources"))


def nb_01_specs(p):
    _shown(display.table(specs.spec_table(p), "spec_table", specs.spec_caption(p)))
    _shown(display.table(specs.spec_claims_table(p), "spec_claims", specs.spec_claims_caption(p)))
    _shown(
        display.table(
            specs.bandwidth_table(p), "bandwidth_per_capacity", specs.bandwidth_caption(p)
        )
    )
    _shown(display.table(specs.ridge_table(p), "ridge_points", "", digits=0))
    _shown(display.figure(specs.roofline_figure(p), "roofline_bf16", specs.roofline_caption(p)))
    _shown(
        display.table(specs.derivation_table(p), "tensor_derivation", specs.derivation_caption(p))
    )
    _shown(
        display.table(
            specs.article_derivation_table(),
            "article_derivation",
            specs.article_derivation_caption(),
        )
    )
    _shown(
        display.figure(
            specs.derivation_figure(), "article_derivation", specs.article_derivation_caption()
        )
    )
    derivation = specs.derivation_table(p)
    assert (derivation["error_pct"].abs() < 2).all()
    _shown(display.table(catalog.gpu_sources_frame(p.gpus), "specs_sources"))


def nb_02_memory(p):
    _shown(
        display.table(
            memory.article_memory_table(), "article_memory", memory.article_memory_caption()
        )
    )
    _shown(display.table(memory.workload_table(p), "memory_workloads", memory.workload_caption(p)))
    _shown(
        display.table(
            memory.fit_matrix(p),
            "fit_matrix",
            memory.fit_matrix_caption(p),
            cell_class=display.gpus_needed_class,
        )
    )
    _shown(display.table(memory.max_batch_table(p), "max_batch", memory.max_batch_caption(p)))
    _shown(
        display.figure(
            memory.max_batch_figure(p), "max_batch_vs_context", memory.max_batch_caption(p)
        )
    )
    assert (memory.article_memory_table()["exact config and formats (GB)"] > 0).all()
    _shown(display.table(catalog.model_sources_frame(), "memory_sources"))


def nb_03_gemm(p):
    _shown(
        display.table(
            gemm.measurement_table(),
            "kernel_measurements",
            gemm.measurement_caption(p),
            **{"fraction of datasheet": 3},
        )
    )
    _shown(display.table(gemm.ridge_table(p), "gemm_ridge", gemm.ridge_caption(p)))
    _shown(
        display.table(
            gemm.gemm_table(p),
            "gemm_article",
            gemm.gemm_caption(p),
            **{"intensity_flop_per_byte": 0, "ridge_flop_per_byte": 0},
        )
    )
    _shown(display.figure(gemm.gemm_figure(p), "gemm_roofline", gemm.gemm_figure_caption(p)))
    _shown(
        display.table(gemm.square_sweep_table(p), "gemm_square_sweep", gemm.square_sweep_caption(p))
    )
    _shown(
        display.table(throughput.decode_table(p), "decode_workloads", throughput.decode_caption(p))
    )
    _shown(
        display.table(
            throughput.decode_sweep_table(p),
            "decode_batch_sweep",
            throughput.decode_sweep_caption(p),
            digits=0,
        )
    )
    _shown(
        display.figure(
            throughput.decode_figure(p), "decode_vs_batch", throughput.decode_sweep_caption(p)
        )
    )
    _shown(
        display.table(
            throughput.prefill_table(p), "prefill", throughput.prefill_caption(p), digits=0
        )
    )
    _shown(
        display.table(
            throughput.article_throughput_table(p),
            "throughput_article",
            throughput.article_throughput_caption(p),
            **{"article / bandwidth bound": 3},
        )
    )
    _shown(
        display.table(
            throughput.public_comparison_table(p),
            "decode_public_comparison",
            throughput.public_comparison_caption(p),
            error_pct=0,
        )
    )
    _shown(
        display.table(throughput.audit_table(), "gemm_throughput_audit", throughput.audit_caption())
    )
    t = throughput.article_throughput_table(p)
    assert all(
        v is None or v <= b
        for v, b in zip(
            t["model_tokens_per_s"], t["datasheet_bandwidth_bound_tokens_per_s"], strict=True
        )
    )
    _shown(display.table(throughput.sources_table(), "gemm_throughput_sources"))


def nb_04_interconnect(p):
    _shown(
        display.table(
            interconnect.links_table(), "interconnect_links", interconnect.links_caption()
        )
    )
    _shown(
        display.table(
            interconnect.gpu_link_table(p), "gpu_tp_links", interconnect.gpu_link_caption(p)
        )
    )
    _shown(
        display.table(
            interconnect.measurements_table(),
            "p2p_measurements",
            interconnect.measurements_caption(),
        )
    )
    _shown(
        display.table(interconnect.ratio_table(), "nvlink_pcie_ratio", interconnect.ratio_caption())
    )
    _shown(
        display.table(
            interconnect.allreduce_table(p), "allreduce_times", interconnect.allreduce_caption(p)
        )
    )
    _shown(
        display.figure(
            interconnect.allreduce_figure(p),
            "allreduce_vs_size",
            interconnect.allreduce_figure_caption(p),
        )
    )
    _shown(
        display.table(
            interconnect.article_tp_table(p), "article_tp_table", interconnect.article_tp_caption(p)
        )
    )
    _shown(
        display.table(
            interconnect.tp_efficiency_table(p),
            "tp_efficiency",
            interconnect.tp_efficiency_caption(p),
        )
    )
    _shown(
        display.figure(
            interconnect.tp_efficiency_figure(p),
            "tp_efficiency_vs_batch",
            interconnect.tp_efficiency_figure_caption(p),
        )
    )
    _shown(
        display.table(
            interconnect.cluster_table(p), "rtx4090_cluster", interconnect.cluster_caption(p)
        )
    )
    _shown(
        display.table(
            interconnect.audit_table(), "interconnect_claims", interconnect.audit_caption()
        )
    )
    assert (interconnect.tp_efficiency_table(p).filter(like="(%)") <= 100).all().all()
    _shown(display.table(interconnect.sources_frame(), "interconnect_sources"))


def nb_05_reliability(p):
    _shown(
        display.table(
            reliability.field_study_table(),
            "memory_error_field_studies",
            reliability.field_study_caption(),
            errors_per_gb_year=4,
            errors_per_device_year=4,
        )
    )
    _shown(
        display.table(
            reliability.error_model_table(p),
            "memory_errors_per_gpu",
            reliability.error_model_caption(p),
            detected_uncorrectable_per_gpu_year=4,
        )
    )
    _shown(
        display.table(
            reliability.article_fleet_table(),
            "article_error_counts",
            reliability.article_fleet_caption(),
        )
    )
    _shown(
        display.table(
            reliability.training_table(p),
            "training_memory_errors",
            reliability.training_caption(p),
            p_at_least_one_silent=4,
            p_at_least_one_uncorrectable=4,
            wasted_fraction=4,
        )
    )
    _shown(
        display.figure(
            reliability.probability_figure(p),
            "silent_error_probability",
            reliability.probability_caption(p),
        )
    )
    _shown(
        display.table(
            reliability.serving_table(p),
            "serving_memory_errors",
            reliability.serving_caption(p),
            failed_per_million_requests=4,
            failed_requests_per_gpu_day=4,
        )
    )
    _shown(
        display.table(
            reliability.measurement_table(),
            "sustained_measurements",
            reliability.measurement_caption(),
            measured_fraction=3,
        )
    )
    _shown(
        display.table(
            reliability.sustained_table(p),
            "sustained_throughput",
            reliability.sustained_caption(p),
        )
    )
    _shown(
        display.table(
            reliability.mig_support_table(p), "mig_support", reliability.mig_support_caption(p)
        )
    )
    _shown(
        display.table(
            reliability.mig_profile_table(p),
            "mig_profiles",
            reliability.mig_profile_caption(p),
            sm_share_of_gpu=3,
        )
    )
    _shown(display.table(reliability.mig_fit_table(p), "mig_fit", reliability.mig_fit_caption(p)))
    _shown(
        display.table(reliability.tenants_table(p), "mig_tenants", reliability.tenants_caption(p))
    )
    _shown(
        display.figure(
            reliability.tenants_figure(p),
            "mig_tenants_vs_model_size",
            reliability.tenants_caption(p),
        )
    )
    _shown(
        display.table(
            reliability.claims_table(), "reliability_claims", reliability.claims_caption()
        )
    )
    assert abs(reliability.field_errors_per_gb_year() - 0.511) < 0.001
    assert (reliability.training_table(p)["wasted_gpu_hours"] >= 0).all()
    _shown(display.table(reliability.sources_frame(), "reliability_sources"))


def nb_06_tco(p):
    _shown(
        display.table(audit.audit_table("tco"), "tco_article_audit", tco.article_audit_caption())
    )
    _shown(display.table(tco.tco_table(p), "tco", tco.tco_caption(p)))
    _shown(display.table(tco.cost_table(p), "cost_per_token", tco.winners_caption(p)))
    _shown(display.table(tco.winners_table(p), "cost_winners", tco.winners_caption(p)))
    _shown(display.table(tco.break_even_table(p), "break_even", tco.break_even_caption(p)))
    _shown(display.table(tco.sensitivity_table(p), "sensitivity", tco.sensitivity_caption(p)))
    _shown(display.figure(tco.tornado_figure(p), "tornado", tco.sensitivity_caption(p)))
    _shown(
        display.table(
            tco.cheaper_by_batch_and_model(p),
            "cheaper_by_batch_model",
            tco.cheaper_by_batch_caption(p),
            cell_class=tco.gpu_class(p),
        )
    )
    _shown(
        display.table(
            tco.cheaper_by_price_and_utilization(p),
            "cheaper_by_price_utilization",
            tco.cheaper_by_price_caption(p),
            cell_class=tco.gpu_class(p),
        )
    )
    _shown(
        display.figure(
            tco.cheaper_heatmap_figure(p), "cheaper_heatmaps", tco.cheaper_by_price_caption(p)
        )
    )
    _shown(display.table(tco.monte_carlo_table(p), "monte_carlo", tco.monte_carlo_caption(p)))
    assert all(v is None or v > 0 for v in tco.cost_table(p)["usd_per_mtok_own"])
    _shown(display.table(tco.sources_frame(), "tco_sources"))


def nb_07_decision(p):
    _shown(display.table(decide.rule_coverage(), "article_rules", decide.rule_coverage_caption()))
    _shown(display.table(decide.rule_findings_table(), "article_rule_findings", ""))
    _shown(display.table(decide.recommend_table(p), "recommendation", decide.recommend_caption(p)))
    _shown(
        display.table(
            decide.candidates_table(p), "recommendation_candidates", decide.candidates_caption(p)
        )
    )
    _shown(display.table(tco.winners_table(p), "decision_winners", tco.winners_caption(p)))
    _shown(
        display.figure(
            decide.perf_per_dollar_figure(p), "perf_per_dollar", decide.perf_per_dollar_caption(p)
        )
    )
    assert decide.rule_coverage()["workloads_decided"].sum() == decide.rule_grid_size()
    _shown(display.table(tco.sources_frame(), "decision_sources"))


SECTIONS = {
    "00_summary": nb_00_summary,
    "01_specs": nb_01_specs,
    "02_memory": nb_02_memory,
    "03_gemm": nb_03_gemm,
    "04_interconnect": nb_04_interconnect,
    "05_reliability": nb_05_reliability,
    "06_tco": nb_06_tco,
    "07_decision": nb_07_decision,
}
DECLARED = {nb.stem: _declared(nb) for nb in NOTEBOOKS}


def build_sections(data: dict, only: list[str] | None = None) -> None:
    """Validate ``data`` as the build does (schema, then the preflight against the data files), then
    run each section's calls on the notebook's own view of the parameters."""
    checkdata.preflight(params.make(**data))
    with _constants_cached():
        for name in only or SECTIONS:
            p = params.notebook_params(**{k: data[k] for k in DECLARED[name]})
            SECTIONS[name](p)


# --- Tests -------------------------------------------------------------------------------------


def _library_calls(tree: ast.AST) -> set[str]:
    """``module.function`` for every call of a gpucompare module's function in ``tree``."""
    modules = {
        n for n, v in globals().items() if isinstance(v, types.ModuleType) and n in SECTION_MODULES
    }
    return {
        f"{n.func.value.id}.{n.func.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id in modules
    } - {"params.notebook_params"}


SECTION_MODULES = {
    "audit",
    "catalog",
    "decide",
    "display",
    "gemm",
    "interconnect",
    "memory",
    "reliability",
    "specs",
    "summary",
    "tco",
    "throughput",
}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.stem)
def test_section_calls_match_the_notebooks(nb):
    """Each notebook's library calls are the ones its function here makes (so a call added to a
    notebook is covered here too)."""
    assert nb.stem in SECTIONS, f"{nb.name}: add a function for it to SECTIONS"
    cells = json.loads(nb.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    in_notebook = _library_calls(ast.parse(code))
    in_test = _library_calls(ast.parse(inspect.getsource(SECTIONS[nb.stem])))
    assert in_notebook == in_test


def test_every_schema_field_has_a_strategy_and_the_defaults_build():
    """The strategies cover the schema; the default parameters build every section."""
    valid_params()  # raises for a field type the strategies do not cover
    build_sections(params.defaults_dict())


@settings(
    max_examples=25,
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
    t = tco.sensitivity_table(p)
    assert t["usd_per_mtok_base"].isna().all()  # no cost where it does not fit
    assert set(t.index.get_level_values("input")) == {tco.DOES_NOT_FIT}
    assert tco.DOES_NOT_FIT in tco.sensitivity_caption(p)


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
    t = reliability.training_table(p)
    assert (t["wasted_gpu_hours"] >= 0).all()
    assert t["p_at_least_one_silent"].between(0, 1).all()
    assert "never finishes" in reliability.training_caption(p)


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
    assert (specs.derivation_table(p)["error_pct"].abs() < 2).all()


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
