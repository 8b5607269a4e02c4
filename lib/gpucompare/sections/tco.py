"""The cost section (``notebooks/06_tco.ipynb``): the article's cost arithmetic, total cost of
ownership, cost per million tokens, break-evens, sensitivity, where each GPU is cheaper and the
Monte Carlo uncertainty, each as a ready table or figure with its caption."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from gpucompare import audit
from gpucompare.data import prices
from gpucompare.model import cost, decide
from gpucompare.model.tco import (
    average_power_w,
    break_even_utilization,
    capex_usd,
    cloud_rate,
    energy_cost_usd,
    rent_usd,
    tco_usd,
)
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import LEGEND_PT, colour, new_row
from gpucompare.sections.prose import fmt_range


def figure_literal(text: str) -> str:
    """``text`` (a workload name: any string) as matplotlib shows it verbatim: a pair of ``$`` would
    start math text, and invalid math fails the figure."""
    return text.replace("$", r"\$")


def _gpu_class(p: Params):
    """A cell-class function colouring a GPU id by its position in ``p.gpus`` (for winner tables)."""
    order = {g: i for i, g in enumerate(p.gpus)}

    def _cls(value: object) -> str:
        return f"gc-series-{order[value]}" if value in order else "gc-bad"

    return _cls


# --- The article's cost arithmetic --------------------------------------------------------------


def article_audit() -> display.Table:
    """The article's cost figures recomputed with its own formula and inputs."""
    t = audit.audit_table("tco")
    wrong = int((t["verdict"] == "wrong").sum())
    caption = f"{wrong} of the article's {len(t)} cost figures do not follow from its own formula and inputs; rows without a stated throughput cannot be checked."
    return display.table(t, "tco_article_audit", caption)


# --- Total cost of ownership ---------------------------------------------------------------------


def tco(p: Params) -> display.Table:
    """Per GPU: price, host share, energy, resale, TCO, rental at the same utilization, and the
    break-even utilization of buying vs renting."""
    rows = []
    for g in p.gpus:
        rate, where = cloud_rate(p, g)
        rows.append(
            {
                "gpu": g,
                "price_usd": p.price_of(g),
                "host_usd": capex_usd(p, g) - p.price_of(g),
                "average_power_w": average_power_w(p, g),
                "energy_usd": energy_cost_usd(p, g),
                "resale_usd": p.resale_fraction * p.price_of(g),
                "tco_usd": tco_usd(p, g),
                "cloud_usd_per_gpu_hour": rate,
                "cloud_price_source": where,
                "rent_usd": rent_usd(p, g),
                "break_even_utilization": break_even_utilization(p, g),
            }
        )
    t = pd.DataFrame(rows).set_index("gpu").astype(object).replace({np.nan: None})
    parts = []
    for g, r in t.iterrows():
        verdict = "buying is cheaper" if r["tco_usd"] < r["rent_usd"] else "renting is cheaper"
        parts.append(f"{g} ${r['tco_usd']:,.0f} ({verdict})")
    caption = (
        f"Over {p.years:g} years at {p.utilization:.0%} utilization: " + "; ".join(parts) + "."
    )
    return display.table(t, "tco", caption)


# --- Cost per million tokens ---------------------------------------------------------------------


def _winners_caption(p: Params, winners: pd.DataFrame) -> str:
    """One sentence counting the workloads each GPU wins when owned, one card each."""
    counts = winners["cheapest_own"].value_counts()
    parts = [f"{g} is cheapest for {counts.get(g, 0)}" for g in p.gpus]
    none = int(winners["cheapest_own"].isna().sum())
    tail = f"; {none} fit none of them on one card" if none else ""
    return (
        f"Owning one card, over {len(winners)} workloads: "
        + ", ".join(parts)
        + tail
        + " (the next table costs a workload that does not fit one card on several)."
    )


def cost_per_token(p: Params) -> display.Table:
    """Per workload and GPU: decode tokens/s and cost per million tokens owning and renting, one card."""
    t = cost.cost_table(p)
    return display.table(t, "cost_per_token", _winners_caption(p, cost.winners_table(p, t)))


def configuration_winners_caption(p: Params, winners: pd.DataFrame) -> str:
    """One sentence: per chosen GPU, the workloads it wins owned, naming multi-card wins."""
    parts = []
    for g in p.gpus:
        won = winners[winners["cheapest_own"] == g]
        several = int((won["gpus_own"].fillna(1).astype(int) > 1).sum())
        text = f"{g} for {len(won)}"
        parts.append(text + (f" ({several} on several cards)" if several else ""))
    none = int(winners["cheapest_own"].isna().sum())
    tail = f"; {none} fit none of them within a node" if none else ""
    return (
        f"Owning, each GPU on the fewest cards the workload fits, over {len(winners)} workloads: "
        + ", ".join(parts)
        + tail
        + "."
    )


def cost_winners(p: Params) -> display.Table:
    """Per workload: the cheaper chosen GPU to own and to rent, each on the fewest cards it fits."""
    t = cost.configuration_winners(p, decide.candidates_table(p))
    return display.table(t, "cost_winners", configuration_winners_caption(p, t))


# --- Break-even ----------------------------------------------------------------------------------


def break_even(p: Params) -> display.Table:
    """The reference GPU's price, the electricity price and the utilization at which two GPUs tie."""
    t = cost.break_even_table(p)
    if len(p.gpus) < 2:
        caption = f"Only {p.gpus[0]} is chosen, so there is no other GPU to break even with."
    else:
        found = t.dropna(subset=["break_even_reference_price_usd"])
        if found.empty:
            caption = "No workload fits both GPUs, so there is no price at which they tie."
        else:
            (wl, g), row = next(iter(found.iterrows()))
            caption = (
                f"For {wl}, {p.gpus[0]} would have to cost ${row['break_even_reference_price_usd']:,.0f} "
                f"(now ${p.price_of(p.gpus[0]):,.0f}) to match {g} per token."
            )
    return display.table(t, "break_even", caption)


# --- Sensitivity ---------------------------------------------------------------------------------


def _sensitivity_caption(p: Params, t: pd.DataFrame, workload_index: int) -> str:
    """One sentence naming the input that moves cost per token most, per GPU."""
    parts = [
        f"{g}: {sub.index.get_level_values('input')[0]}"
        for g, sub in t.groupby(level="gpu", sort=False)
    ]
    return (
        f"What moves the cost per token of {p.workloads[workload_index].name} most: "
        + "; ".join(parts)
        + "."
    )


def sensitivity(p: Params, workload_index: int = 0) -> display.Table:
    """Cost per million tokens with one input at a time at the ends of its range."""
    t = cost.sensitivity_table(p, workload_index)
    return display.table(t, "sensitivity", _sensitivity_caption(p, t, workload_index))


def tornado(p: Params, workload_index: int = 0) -> display.Figure:
    """Horizontal bars: cost per million tokens at the low and high end of each input, per GPU."""
    t = cost.sensitivity_table(p, workload_index)
    gpus = list(dict.fromkeys(t.index.get_level_values("gpu")))
    fig, axes = new_row(
        f"Sensitivity of cost per token, {figure_literal(p.workloads[workload_index].name)}",
        gpus,
        "cost per million tokens (USD)",
        "input",
    )
    for ax, g in zip(axes, gpus, strict=True):
        sub = t.xs(g, level="gpu").iloc[::-1]
        if sub["usd_per_mtok_base"].isna().all():
            ax.text(0.5, 0.5, cost.DOES_NOT_FIT, ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        y = np.arange(len(sub))
        lo, hi = (
            sub["usd_per_mtok_low_input"].astype(float),
            sub["usd_per_mtok_high_input"].astype(float),
        )
        left = np.minimum(lo, hi)
        ax.barh(y, np.abs(hi - lo), left=left, color=colour(0), alpha=0.8)
        ax.axvline(float(sub["usd_per_mtok_base"].iloc[0]), color="black", linewidth=1)
        ax.set_yticks(y, sub.index)
    return display.figure(fig, "tornado", _tornado_caption(p, t, workload_index))


def _tornado_caption(p: Params, t: pd.DataFrame, workload_index: int) -> str:
    """What the bars show: each GPU's base cost (the black line) and the span of its widest bar."""
    parts = []
    for g, sub in t.groupby(level="gpu", sort=False):
        sub = sub.droplevel("gpu")
        if sub["usd_per_mtok_base"].isna().all():
            parts.append(f"{g}: {cost.DOES_NOT_FIT}")
            continue
        lo = sub[["usd_per_mtok_low_input", "usd_per_mtok_high_input"]].astype(float).min(axis=1)
        hi = sub[["usd_per_mtok_low_input", "usd_per_mtok_high_input"]].astype(float).max(axis=1)
        widest = (hi - lo).idxmax()
        parts.append(
            f"{g}: base ${float(sub['usd_per_mtok_base'].iloc[0]):,.2f}, {widest} "
            f"{fmt_range(lo[widest], hi[widest], spec=',.2f', prefix='$')}"
        )
    return (
        f"Each bar spans the cost per million tokens of {p.workloads[workload_index].name} with one "
        "input at the low and the high end of its range; the black line is the base cost. "
        + "; ".join(parts)
        + "."
    )


# --- Where each GPU is cheaper -------------------------------------------------------------------


def _by_batch_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence: from which batch on the first GPU is cheaper, per model where it changes."""
    ref = p.gpus[0]
    flips = []
    for model, row in t.iterrows():
        winners = list(row.values)
        if ref in winners and any(w not in (ref, None) for w in winners):
            flips.append(f"{model} from {row.index[winners.index(ref)]}")
    if not flips:
        return "The cheaper single card does not change with batch size for any catalog model."
    return (
        f"{ref} becomes the cheaper single card as batches grow: "
        + "; ".join(flips)
        + "; empty cells fit none of the chosen GPUs."
    )


def _by_price_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence: whether the first GPU wins anywhere on the price x utilization grid."""
    ref = p.gpus[0]
    wins = int((t == ref).to_numpy().sum())
    return (
        f"For {p.workloads[0].name} on one card each, {ref} is the cheaper GPU in {wins} of {t.size} combinations of its price and utilization"
        + ("." if wins else ": even at a fraction of its price it does not pay for this workload.")
    )


def cheaper_by_batch_model(p: Params) -> display.Table:
    """The cheaper GPU to own per catalog model and batch."""
    t = cost.cheaper_by_batch_and_model(p)
    return display.table(
        t, "cheaper_by_batch_model", _by_batch_caption(p, t), cell_class=_gpu_class(p)
    )


def cheaper_by_price_utilization(p: Params) -> display.Table:
    """The cheaper GPU to own per price of the first GPU and utilization."""
    t = cost.cheaper_by_price_and_utilization(p)
    return display.table(
        t, "cheaper_by_price_utilization", _by_price_caption(p, t), cell_class=_gpu_class(p)
    )


def cheaper_heatmaps(p: Params) -> display.Figure:
    """Two heatmaps of the cheaper GPU to own: per model and batch, and per reference-GPU price
    and utilization (first workload); grey where none of the chosen GPUs fits."""
    by_price = cost.cheaper_by_price_and_utilization(p)
    by_batch = cost.cheaper_by_batch_and_model(p)
    grids = [
        (by_batch, "batch (sequences)", "model"),
        (by_price, "utilization (share of hours)", f"{p.gpus[0]} price (share of list)"),
    ]
    fig, axes = new_row(
        "Cheaper GPU to own",
        [
            f"by model and batch ({p.workloads[0].weights})",
            f"by price and utilization ({figure_literal(p.workloads[0].name)})",
        ],
        "see panel",
        "see panel",
        sharey=False,
    )
    cmap = ListedColormap(["#dddddd"] + [colour(i) for i in range(len(p.gpus))])
    for ax, (grid, xlabel, ylabel) in zip(axes, grids, strict=True):
        codes = np.array(
            [[0 if v is None else p.gpus.index(v) + 1 for v in row] for row in grid.to_numpy()]
        )
        ax.imshow(codes, cmap=cmap, vmin=0, vmax=len(p.gpus), aspect="auto")
        ax.set_xticks(
            range(grid.shape[1]),
            [str(c).split(" ", 1)[-1] for c in grid.columns],
        )
        ax.set_yticks(range(grid.shape[0]), [_heatmap_row_label(i) for i in grid.index])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(False)
    handles = [Patch(color=colour(i), label=g) for i, g in enumerate(p.gpus)] + [
        Patch(color="#dddddd", label="none fits")
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=LEGEND_PT)
    return display.figure(fig, "cheaper_heatmaps", _heatmaps_caption(p, by_batch, by_price))


def _heatmap_row_label(label: object) -> str:
    """A heatmap row label without the GPU's name where the axis label carries it
    ("h100-sxm at 5% of price" -> "5%")."""
    text = str(label).split(" (")[0]
    if " at " in text and text.endswith(" of price"):
        return text.split(" at ", 1)[1].removesuffix(" of price")
    return text


def _heatmaps_caption(p: Params, by_batch: pd.DataFrame, by_price: pd.DataFrame) -> str:
    """Both panels in two sentences: how many (model, batch) cells each GPU wins, and how many
    price-utilization cells the first GPU wins."""
    cells = by_batch.to_numpy().ravel()
    wins = [f"{g} {int((cells == g).sum())}" for g in p.gpus]
    none = int(sum(v is None for v in cells))
    ref = p.gpus[0]
    right = int((by_price == ref).to_numpy().sum())
    return (
        f"Left, of {len(cells)} model-batch cells: {', '.join(wins)}; {none} fit none of them (grey). "
        f"Right, for {p.workloads[0].name}: {ref} is the cheaper GPU in {right} of {by_price.size} "
        "price-utilization cells."
    )


# --- Uncertainty ---------------------------------------------------------------------------------


def monte_carlo(p: Params) -> display.Table:
    """Per workload and GPU: percentiles of cost per million tokens and the probability of being cheapest."""
    t = cost.monte_carlo_table(p)
    parts = []
    for wl in p.workloads:
        sub = t.xs(wl.name, level="workload")
        fits = sub[sub["usd_per_mtok_p50"].notna()]
        if len(fits) > 1:
            best = fits["probability_cheapest"].astype(float).idxmax()
            parts.append(f"{wl.name}: {best} ({float(fits.loc[best, 'probability_cheapest']):.0%})")
    head = f"Over {p.mc_draws:,} draws (seed {p.mc_seed})"
    caption = head + (
        ", the likely cheaper GPU where both fit: " + "; ".join(parts) + "."
        if parts
        else ": no workload fits more than one chosen GPU."
    )
    return display.table(t, "monte_carlo", caption)


def sources() -> display.Table:
    """The cloud-price sources, one row per source."""
    return display.table(prices.sources_frame(), "tco_sources")
