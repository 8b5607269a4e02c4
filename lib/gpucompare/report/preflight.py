"""Before a build: parameters resolved once, every data file loaded and checked, and the
parameters checked against the data and the formulas, so that bad input stops with exit code 2
before any notebook starts and before anything is written.

The data layer checks the data alone (:mod:`gpucompare.data.checkdata`); what needs the formulas
or the audit (a claim whose check kind is not registered, a GPU without a link the tensor-parallel
model needs, a tensor-parallel degree larger than a node, a GPU without a cloud price) is checked
here, above them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, checkdata, claims
from gpucompare.data.problem import Problem
from gpucompare.data.problem import display as _display
from gpucompare.model import interconnect, tco
from gpucompare.report import cache


def claim_kind_problems() -> list[Problem]:
    """Claims whose check kind no audit module registers."""
    # The audit's modules load pandas (~0.5 s): only when the data's checks run, not when a price
    # edit is checked against data that passed them before (cache.data_checked).
    from gpucompare import audit

    data = paths.data_dir()
    registry = audit.checks()
    out = []
    for c in claims.claims():
        kind = c.check.get("kind")
        if kind not in registry:
            out.append(
                Problem(
                    _display(data, f"claims/{c.section}.yaml"),
                    f"{c.id}.check.kind",
                    f"unknown check kind '{kind}'; allowed: {', '.join(sorted(registry))}",
                )
            )
    return out


def link_problems() -> list[Problem]:
    """GPUs whose scale-up (NVLink, Infinity Fabric) or PCIe link the interconnect model cannot find."""
    shown = _display(paths.data_dir(), "interconnect.yaml")
    out = []
    for g in catalog.gpu_ids():
        for probe in (interconnect.gpu_link_id, interconnect.pcie_link_id):
            try:
                probe(g)
            except InputError as exc:
                out.append(Problem(shown, f"gpus[{g}]", str(exc)))
    return out


def check_all() -> list[Problem]:
    """``gpucompare check-data``: every problem of every data file, sorted, without duplicates."""
    problems = checkdata.check_all()
    if problems:  # the checks below need data that loads
        return problems
    return sorted(set(claim_kind_problems() + link_problems()))


def parameter_problems(p: params.Params) -> list[str]:
    """What the parameters ask of the data that it cannot give: tensor-parallel degrees larger than a
    node of any catalog GPU (the interconnect tables cover them all) and GPUs without a cloud price."""
    out = []
    for probe in (
        lambda: interconnect.check_tp_degrees(p, catalog.gpu_ids()),
        *[lambda g=g: tco.cloud_rate(p, g) for g in catalog.gpu_ids()],
        *[lambda g=g: catalog.arch_variant(g) for g in p.gpus],
    ):
        try:
            probe()
        except InputError as exc:
            out.append(str(exc))
    return out


def data_problems() -> list[Problem]:
    """What the preflight finds in the data alone: every check-data check (ids with markup
    included: an id never reaches a page raw), then claims whose check kind is not registered."""
    return checkdata.check_all() or claim_kind_problems()


def preflight(p: params.Params) -> None:
    """Check every data file as ``gpucompare check-data`` does (schemas, units, values, sources,
    cross-field sanity: a negative bandwidth is refused here, not by ten failing notebooks), then
    the parameters against the data; one InputError listing every problem. The data's checks
    (~0.7 s) run once per data and library (:func:`gpucompare.report.cache.data_checked`), the whole
    preflight once per inputs and parameters (:func:`gpucompare.report.cache.checked`); the report
    runs it before any notebook starts."""
    problems = cache.data_checked(data_problems)
    lines = [str(x) for x in problems]
    if not problems:
        lines += parameter_problems(p)
    if lines:
        raise InputError("\n".join(dict.fromkeys(lines)))


def resolve(files: list[Path] = (), sets: list[str] = ()) -> tuple[params.Params, dict[str, Any]]:
    """:func:`gpucompare.params.resolve` (defaults, files, ``--set``; validated), then
    :func:`preflight`: what every command that builds or answers from the data calls first."""
    p, data = params.resolve(files, sets)
    preflight(p)
    return p, data
