"""The training section (``notebooks/08_training.ipynb``): which fine-tuning jobs fit which GPUs, what
they take in hours and dollars, how data-parallel training scales over NVLink, PCIe and PCIe staged
through host memory, how well the speed model matches published runs, and the article's training
claims. Each public function returns one ready :class:`~gpucompare.sections.display.Table` or
:class:`~gpucompare.sections.display.Figure` whose caption is written from the same frame; the
formulas live in :mod:`gpucompare.model.training` and the modules it names.

The jobs are the parameter ``training_jobs`` (:func:`jobs`); the GPUs beside the report's own
(:data:`KEY_GPUS`), the tokens of a job (:data:`TOKENS`) and the scaling figure's job and GPUs are
module constants. The section also reads the report's GPUs, prices and ownership costs, cloud
prices, the memory-error and checkpoint parameters and the all-reduce latencies.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from gpucompare.core import units
from gpucompare.data.interconnect import get_link, max_gpus_per_node
from gpucompare.data.training import load_training
from gpucompare.model import interconnect
from gpucompare.model import training as tr
from gpucompare.model import training_calibration as tc
from gpucompare.model import training_memory as tm
from gpucompare.params import Params
from gpucompare.sections import audit as audit_page
from gpucompare.sections import display
from gpucompare.sections.figures import new_row, overlaps, row_legend, series
from gpucompare.sections.prose import fmt_range, join_words, overlap_sentence

#: Catalog GPUs shown after the report's own (``gpus`` parameter).
KEY_GPUS = ("h100-sxm", "rtx-4090", "a100-sxm-80gb", "h200-sxm", "rtx-5090")
#: Tokens of each job (a fine-tuning run: about 50,000 sequences of 2,048 tokens).
TOKENS = tr.JOB_TOKENS
#: The scaling figure's job: full fine-tuning of a 7B model sharded with ZeRO-3 (FSDP), the way it
#: runs on several GPUs; memory is not checked in the figure (the fit table says where it fits).
SCALING_JOB = ("Llama 2 7B full", tm.Setup("llama-2-7b", "full", zero=3))
#: One GPU per kind of link: NVSwitch, PCIe 5.0 and 4.0 with P2P, PCIe 4.0 staged through host memory.
SCALING_FIGURE_GPUS = ("h100-sxm", "h100-pcie", "l40s", "rtx-4090")
#: The micro-batch of the figure caption's second case (more compute per all-gather).
LARGER_MICRO_BATCH = 4
#: GPU count at which the figure caption compares the links (one full node).
NODE_GPUS = 8

_FIT_MEMORY = ("weights", "gradients", "optimizer", "activations")


def gpu_ids(p: Params) -> list[str]:
    """The report's GPUs, then :data:`KEY_GPUS` not among them."""
    return list(dict.fromkeys([*p.gpus, *KEY_GPUS]))


def jobs(p: Params) -> list[tuple[str, tm.Setup]]:
    """The fine-tuning jobs (parameter ``training_jobs``): (label, setup at one GPU: AdamW, bf16,
    2,048-token sequences, one sequence per micro-batch, LoRA rank 16 on every linear layer)."""
    return [(j.name, tm.Setup(j.model, j.method).check()) for j in p.training_jobs]


def _placements(p: Params) -> list[tuple[str, str, tm.Setup | None]]:
    """(job label, GPU, the job on the fewest GPUs that hold it or None) for every job and GPU."""
    return [(label, g, tr.smallest_fit(s, g)) for label, s in jobs(p) for g in gpu_ids(p)]


# --- What fits --------------------------------------------------------------------------------------


def _fit_frame(p: Params) -> pd.DataFrame:
    """Per job and GPU: fits one GPU, GPUs needed (ZeRO-3 beyond one), activation recomputation,
    memory per GPU by part (GB), usable memory (GB) and the largest micro-batch at that placement."""
    rows = []
    for label, g, placed in _placements(p):
        row = {"job": label, "gpu": g, "fits_one_gpu": placed is not None and placed.gpus == 1}
        if placed is None:
            row |= {"gpus_needed": None, "recompute": None}
            row |= {f"{k}_gb": None for k in (*_FIT_MEMORY, "memory_per_gpu")}
            row |= {
                "usable_gb": tm.usable_bytes(g) / units.BYTES_PER_GB,
                "largest_micro_batch": None,
            }
            rows.append(row)
            continue
        mem = tm.memory_per_gpu(placed)
        row |= {"gpus_needed": placed.gpus, "recompute": placed.recompute}
        row |= {f"{k}_gb": mem[k] / units.BYTES_PER_GB for k in _FIT_MEMORY}
        row["memory_per_gpu_gb"] = mem["total"] / units.BYTES_PER_GB
        row["usable_gb"] = tm.usable_bytes(g) / units.BYTES_PER_GB
        row["largest_micro_batch"] = tm.max_micro_batch(placed, g)
        rows.append(row)
    return display.nones(pd.DataFrame(rows).set_index(["job", "gpu"]))


def _state_gb(row: pd.Series) -> float:
    """Weights + gradients + optimizer states of the whole job (GB): per GPU x GPUs when sharded."""
    per_gpu = row["weights_gb"] + row["gradients_gb"] + row["optimizer_gb"]
    return per_gpu * row["gpus_needed"]  # one GPU, or ZeRO-3 dividing every state by the GPUs


def _fit_caption(p: Params, t: pd.DataFrame) -> str:
    """Full fine-tuning's model states and where they fit one card; the adapter jobs that do not."""
    parts = []
    for label, setup in jobs(p):
        if setup.method != "full":
            continue
        rows = t.xs(label, level="job")
        placed = rows[rows["gpus_needed"].notna()]
        if placed.empty:
            parts.append(f"{label} fits none of these GPUs")
            continue
        state = _state_gb(placed.iloc[0])
        one = placed.index[placed["fits_one_gpu"].astype(bool)].tolist()
        many = placed[~placed["fits_one_gpu"].astype(bool)]["gpus_needed"]
        where = f"fits one {join_words(one, 'or')}" if one else "fits no single GPU here"
        if not many.empty:
            where += f" and needs {fmt_range(many.min(), many.max(), '', ',.0f')} GPUs with ZeRO-3 sharding on the others"
        parts.append(
            f"{label} fine-tuning keeps {state:,.0f} GB of weights, gradients and AdamW states before "
            f"activations, so it {where}"
        )
    full = [label for label, setup in jobs(p) if setup.method == "full"]
    adapters = t[~t.index.get_level_values("job").isin(full)]
    split = adapters[~adapters["fits_one_gpu"].astype(bool)]
    if not adapters.empty and split.empty:
        parts.append("every LoRA and QLoRA job fits one card of every GPU shown")
    elif not adapters.empty:
        cases = []
        for job in dict.fromkeys(split.index.get_level_values("job")):
            needs = [
                f"{int(n)} {g} cards" if n is not None else f"more {g} cards than a search finds"
                for g, n in split.xs(job, level="job")["gpus_needed"].items()
            ]
            cases.append(f"{job}, which needs {join_words(needs, 'or')}")
        parts.append(
            "the LoRA and QLoRA jobs fit one card of every GPU shown except " + join_words(cases)
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def fit(p: Params) -> display.Table:
    """Fit per job and GPU, captioned with the full fine-tunes' model states and the adapter jobs
    that need more than one card."""
    t = _fit_frame(p)
    return display.table(t, "training_fit", _fit_caption(p, t))


# --- Time and cost ----------------------------------------------------------------------------------


def _time_cost_frame(p: Params) -> pd.DataFrame:
    """Per job and GPU at the fit table's placement: GPUs, tokens/s, hours (with memory-error
    rollbacks), GPU-hours, USD owned and rented, MFU and scaling efficiency (%); None where the job
    fits no GPU count or its rollbacks outpace its checkpoints."""
    rows = []
    for label, g, placed in _placements(p):
        row = {"job": label, "gpu": g, "gpus": placed.gpus if placed else None}
        r = tr.speed_time_cost(p, placed, g, TOKENS) if placed else {}
        row |= {
            "throughput_tokens_per_s": r.get("tokens_per_s"),
            "hours": r.get("hours"),
            "gpu_hours": r.get("gpu_hours"),
            "cost_usd_own": r.get("usd_own"),
            "cost_usd_rent": r.get("usd_rent"),
            "mfu_pct": 100 * r["mfu"] if r else None,
            "scaling_efficiency_pct": 100 * r["scaling_efficiency"] if r else None,
        }
        rows.append(row)
    return display.nones(pd.DataFrame(rows).set_index(["job", "gpu"]))


def cheapest(t: pd.DataFrame, column: str) -> dict[str, str]:
    """Job label -> the GPU with the smallest ``column`` (jobs without any value left out)."""
    out = {}
    for label in dict.fromkeys(t.index.get_level_values("job")):
        values = pd.to_numeric(t.xs(label, level="job")[column], errors="coerce").dropna()
        if not values.empty:
            out[label] = values.idxmin()
    return out


def _cheapest_sentence(t: pd.DataFrame, column: str, how: str) -> str:
    """ "<how>, the cheapest GPU is the a for job, job and the b for job"."""
    by_gpu: dict[str, list[str]] = {}
    for job, g in cheapest(t, column).items():
        by_gpu.setdefault(g, []).append(job)
    if not by_gpu:
        return f"{how}, no job finishes"
    return f"{how}, the cheapest GPU is " + join_words(
        f"the {g} for {join_words(jobs)}" for g, jobs in by_gpu.items()
    )


def _time_cost_caption(p: Params, t: pd.DataFrame) -> str:
    text = (
        f"For {TOKENS / 1e6:,.0f} million tokens: "
        + _cheapest_sentence(t, "cost_usd_rent", "renting")
        + "; "
        + _cheapest_sentence(t, "cost_usd_own", "owning")
        + "."
    )
    if len(p.gpus) >= 2:
        a, b = p.gpus[0], p.gpus[1]
        ha = pd.to_numeric(t.xs(a, level="gpu")["hours"], errors="coerce")
        hb = pd.to_numeric(t.xs(b, level="gpu")["hours"], errors="coerce")
        ratio = (hb / ha).dropna()
        if not ratio.empty:
            text += (
                f" The {a} finishes the jobs both run "
                f"{fmt_range(ratio.min(), ratio.max(), 'x')} sooner than the {b}."
            )
    return text


def time_and_cost(p: Params) -> display.Table:
    """Hours and dollars per job and GPU, captioned with the cheapest GPU per job and the speed-up
    of the first report GPU over the second."""
    t = _time_cost_frame(p)
    return display.table(
        t,
        "training_time_cost",
        _time_cost_caption(p, t),
        cost_usd_own=2,
        cost_usd_rent=2,
        mfu_pct=0,
        scaling_efficiency_pct=0,
    )


# --- Scaling --------------------------------------------------------------------------------------


def link_words(gpu_id: str, gpus: int = NODE_GPUS) -> str:
    """The kind of link ``gpus`` GPUs of one node cross, in words."""
    lk = get_link(interconnect.tp_link(gpu_id, gpus, "gpus").link_id)
    if lk.kind == "pcie":
        return "PCIe via host memory" if lk.host_staged else "PCIe with P2P"
    return {"nvswitch": "NVSwitch", "nvlink": "NVLink", "xgmi": "Infinity Fabric"}.get(
        lk.kind, lk.name
    )


def _scaling_frame(p: Params, micro_batch: int = 1) -> pd.DataFrame:
    """Tokens/s and scaling efficiency (%) of :data:`SCALING_JOB` at each GPU count of
    :data:`gpucompare.model.training.SCALING_GPUS` on each GPU of :data:`SCALING_FIGURE_GPUS`."""
    setup = replace(SCALING_JOB[1], micro_batch=micro_batch)
    rows = []
    for g in SCALING_FIGURE_GPUS:
        for n in tr.SCALING_GPUS:
            r = tr.speed_time_cost(p, replace(setup, gpus=n), g, TOKENS)
            rows.append(
                {
                    "gpu": g,
                    "gpus": n,
                    "throughput_tokens_per_s": r["tokens_per_s"],
                    "scaling_efficiency_pct": 100 * r["scaling_efficiency"],
                }
            )
    return pd.DataFrame(rows).set_index(["gpu", "gpus"])


def scaling(p: Params) -> display.Figure:
    """Throughput and scaling efficiency against GPU count, one line per kind of link; captioned with
    the efficiencies at one full node and at a larger micro-batch."""
    t = _scaling_frame(p)
    fig, (ax_t, ax_e) = new_row(
        f"Scaling of {SCALING_JOB[0]} fine-tuning, ZeRO-3, micro-batch 1",
        ["throughput", "scaling efficiency"],
        "GPUs (data-parallel ranks)",
        "throughput (tokens/s)",
        sharey=False,
    )
    ax_e.set_ylabel("scaling efficiency (%)")
    counts = list(tr.SCALING_GPUS)
    for i, g in enumerate(SCALING_FIGURE_GPUS):
        rows = t.xs(g, level="gpu")
        label = f"{g} ({link_words(g)})"
        ax_t.loglog(counts, rows["throughput_tokens_per_s"], base=2, label=label, **series(i))
        ax_e.semilogx(counts, rows["scaling_efficiency_pct"], base=2, label=label, **series(i))
    per_node = min(max_gpus_per_node(g) for g in SCALING_FIGURE_GPUS)
    for ax in (ax_t, ax_e):
        ax.axvspan(per_node, counts[-1], color="0.5", alpha=0.08, linewidth=0)
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.minorticks_off()
    ax_t.set_yscale("log", base=10)
    ax_e.set_ylim(0, 105)
    row_legend(fig, [ax_t, ax_e], ncols=2)
    at_node = t.xs(NODE_GPUS, level="gpus")["scaling_efficiency_pct"]
    larger = _scaling_frame(p, LARGER_MICRO_BATCH)
    multi = t.index.get_level_values("gpus") > per_node
    larger_at_node = larger.xs(NODE_GPUS, level="gpus")["scaling_efficiency_pct"]
    caption = (
        f"With one sequence per micro-batch, the share of linear scaling {NODE_GPUS} GPUs keep is "
        + join_words(f"{at_node[g]:.0f}% over {link_words(g)} ({g})" for g in at_node.index)
        + ": every link runs the job, the slower ones at a loss"
    )
    if multi.any():
        beyond, larger_beyond = (x[multi]["scaling_efficiency_pct"] for x in (t, larger))
        caption += (
            f". Past one node (shaded; nodes joined by one InfiniBand NDR port per GPU, an assumption) "
            f"they keep {fmt_range(beyond.min(), beyond.max(), '%', '.0f')}"
        )
    caption += (
        f". ZeRO-3 gathers every layer's weights for every micro-batch, so longer micro-batches hide "
        f"more of it: with {LARGER_MICRO_BATCH} sequences the {NODE_GPUS}-GPU efficiency is "
        f"{fmt_range(larger_at_node.min(), larger_at_node.max(), '%', '.0f')}"
    )
    if multi.any():
        caption += (
            f" and past one node {fmt_range(larger_beyond.min(), larger_beyond.max(), '%', '.0f')}"
        )
    caption += ". Memory is not checked here: the fit table gives the GPUs each job needs."
    # At one GPU every line is at 100% by definition: only overlaps beyond it are worth a sentence.
    found = [o for o in overlaps(fig) if o.whole or o.x_from > 1]
    same = overlap_sentence(found, "GPUs")
    return display.figure(fig, "training_scaling", f"{caption} {same}".strip())


# --- Calibration ----------------------------------------------------------------------------------


def _error_stats(rows: pd.DataFrame) -> dict[str, float]:
    out = {}
    for col, name in (("loo_error", "held_out_row"), ("loso_error", "held_out_source")):
        err = rows[col].abs().dropna()
        out[f"median_abs_error_{name}_pct"] = 100 * float(err.median()) if len(err) else None
        out[f"worst_abs_error_{name}_pct"] = 100 * float(err.max()) if len(err) else None
    return out


def _calibration_frame(p: Params) -> pd.DataFrame:
    """Per GPU class and overall: measurements, sources, GPUs, fitted compute MFU (%) and the median
    and worst |error| (%) with each row left out of the fit and each source left out."""
    cal = tc.calibration(p)
    out = []
    for cls in (*tc.CLASSES, "all"):
        rows = cal.rows if cls == "all" else cal.rows[cal.rows["gpu_class"] == cls]
        out.append(
            {
                "gpu_class": cls,
                "measurements": len(rows),
                "sources": rows["source"].nunique(),
                "gpus": ", ".join(sorted(set(rows["gpu_id"]))),
                "fitted_compute_mfu_pct": 100 * cal.mfu[cls] if cls in cal.mfu else None,
                **_error_stats(rows),
            }
        )
    return display.nones(pd.DataFrame(out).set_index("gpu_class"))


def calibration(p: Params) -> display.Table:
    """The calibration per GPU class, captioned with the held-out errors of both classes."""
    t = _calibration_frame(p)
    by_class = t.loc[list(tc.CLASSES)]
    worse = by_class["median_abs_error_held_out_source_pct"].astype(float).idxmax()
    caption = (
        "Leaving each measurement out of the fit, the speed model misses "
        + join_words(
            f"{cls} GPUs by a median {r['median_abs_error_held_out_row_pct']:.0f}% (worst "
            f"{r['worst_abs_error_held_out_row_pct']:.0f}%)"
            for cls, r in by_class.iterrows()
        )
        + "; leaving a whole source out, "
        + join_words(
            f"{cls} GPUs by {r['median_abs_error_held_out_source_pct']:.0f}%"
            for cls, r in by_class.iterrows()
        )
        + f". One MFU per class cannot follow every framework and model size, so the {worse} hours "
        "and costs above are uncertain by about that much." + _dequant_sentence(p)
    )
    return display.table(t, "training_calibration", caption, digits=0)


def _dequant_sentence(p: Params) -> str:
    """QLoRA's dequantisation: the fitted multiple of its memory-traffic floor, the pairs it rests
    on and their held-out QLoRA / LoRA speed ratio errors ("" without pairs)."""
    cal = tc.calibration(p)
    held = cal.held_out_dequant()
    if not held["pairs"]:
        return ""
    ratios = cal.pairs["measured_ratio"]
    return (
        f" QLoRA rebuilds its 4-bit weights as 16-bit ones for every matmul, forward and backward: "
        f"{held['pairs']} published QLoRA runs ran at "
        f"{fmt_range(100 * ratios.min(), 100 * ratios.max(), '%', '.0f')} of the speed of the same "
        f"run with LoRA, which the model matches with {cal.dequant_factor:.1f} times the memory "
        "traffic of that rebuild; "
        f"leaving each pair out, it predicts the ratio within a median "
        f"{100 * held['median_abs_error']:.0f}% (worst {100 * held['max_abs_error']:.0f}%)."
    )


def _rows_frame(p: Params) -> pd.DataFrame:
    """Each measurement: GPU, GPUs, method, model, measured and held-out predicted tokens/s and the
    held-out error (%), largest |error| first."""
    r = tc.calibration(p).rows
    t = pd.DataFrame(
        {
            "id": r["id"],
            "gpu": r["gpu_id"],
            "gpus": r["gpus"],
            "method": r["method"],
            "model": r["model_name"],
            "measured_tokens_per_s": r["measured_tokens_per_s"],
            "predicted_held_out_tokens_per_s": r["loo_tokens_per_s"],
            "error_held_out_pct": 100 * r["loo_error"],
        }
    )
    t = t.iloc[t["error_held_out_pct"].abs().sort_values(ascending=False, kind="stable").index]
    return display.nones(t.set_index("id"))


def measurements(p: Params) -> display.Table:
    """Every measurement against its held-out prediction, captioned with the largest misses."""
    t = _rows_frame(p)
    err = pd.to_numeric(t["error_held_out_pct"], errors="coerce").dropna()
    within = int((err.abs() <= 20).sum())
    worst = err.index[:2]
    caption = (
        f"{within} of {len(t)} measurements are predicted within 20% when left out of the fit; the "
        "largest misses are " + join_words(f"{i} ({err[i]:+.0f}%)" for i in worst) + "."
    )
    return display.table(t, "training_measurements", caption, error_held_out_pct=0)


# --- Claims and sources ---------------------------------------------------------------------------


def claims() -> display.Table:
    """The article's training claims as the claims page words them (its text, both values, unit and
    verdict; the reasons, long for these claims, stay on the claims page), captioned with the
    verdict counts."""
    frame = audit_page.claims_frame("training").drop(columns="Why")
    inverse = {w: v for v, w in audit_page.VERDICT_WORDS.items()}
    counts = frame["Verdict"].map(inverse).value_counts().to_dict()
    caption = (
        f"Of the article's {len(frame)} training claims, {audit_page.verdicts_sentence(counts)}; "
        "the claims page gives the reason for each verdict."
    )
    return display.table(frame, "training_claims", caption, cell_class=_verdict_class)


def _verdict_class(value: object) -> str:
    """The claims page's colour of a verdict cell (the text says the same)."""
    return audit_page.VERDICT_CLASSES.get(value, "") if isinstance(value, str) else ""


def sources() -> display.Table:
    """The documents of the training measurements, one row per document and address."""
    r = load_training()
    t = (
        r.groupby(["source", "url"])
        .agg(
            measurements=("id", "count"),
            gpus=("gpu_id", lambda s: ", ".join(sorted(set(s)))),
            date=("date", "max"),
        )
        .reset_index()
        .set_index("source")[["measurements", "gpus", "date", "url"]]
    )
    caption = (
        f"{int(t['measurements'].sum())} published measurements from {t.index.nunique()} documents; "
        "rental prices are the cost section's."
    )
    return display.table(t, "training_sources", caption)
