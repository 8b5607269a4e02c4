"""The interconnect section (``notebooks/04_interconnect.ipynb``): links, measurements and all-reduce
times (the tensor-parallel tables are in :mod:`gpucompare.sections.tensor_parallel`); one function per table or figure the
notebook shows, each returning a ready :class:`~gpucompare.sections.display.Table` or
:class:`~gpucompare.sections.display.Figure` whose caption is written from the same frame. The function
names are the report's table and figure names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog, claims
from gpucompare.data import interconnect as data
from gpucompare.model import tensor_parallel as tpm
from gpucompare.model.interconnect import (
    ALGORITHMS,
    allreduce_time_us,
    article_allreduce_time_us,
    check_tp_degrees,
    gpu_allreduce_time_us,
    latency_floor_us,
    link_per_direction_gb_s,
    link_source_ids,
    link_total_gb_s,
    pcie_link_id,
    tp_hop_latency_us,
    tp_link,
)
from gpucompare.params import Params
from gpucompare.sections import display, verdicts
from gpucompare.sections.figures import new_row, overlaps, row_legend, series
from gpucompare.sections.prose import fmt_extremes, fmt_range, join_words, overlap_sentence

# --- The link catalog and each GPU's link -----------------------------------------------------


def _links_frame() -> pd.DataFrame:
    """The link catalog: per-direction and total bandwidth (GB/s) with their sources."""
    rows = []
    for x in data.interconnect_catalog().links:
        rows.append(
            {
                "link": x.id,
                "name": x.name,
                "kind": x.kind,
                "scope": x.scope,
                "per_direction_gb_s": link_per_direction_gb_s(x.id),
                "total_gb_s": link_total_gb_s(x.id),
                "sources": ", ".join(link_source_ids(x.id)),
            }
        )
    return pd.DataFrame(rows).set_index("link")


def interconnect_links() -> display.Table:
    """The link catalog, captioned with the spread between the fastest intra-node link and staged PCIe."""
    t = _links_frame()
    intra = t[t["scope"] == "intra-node"]["per_direction_gb_s"]
    caption = (
        # Link names carry parentheses of their own ("NVLink 5 (B200)"): named before their
        # figures, not inside another pair.
        f"Per direction, intra-node links range from {intra.idxmin()} at {intra.min():.2f} GB/s "
        f"to {intra.idxmax()} at {intra.max():.0f} GB/s, a factor of {intra.max() / intra.min():.0f}; "
        f"PCIe 4.0 x16 carries {link_per_direction_gb_s('pcie4-x16'):.1f} GB/s each way, "
        f"{link_total_gb_s('pcie4-x16'):.0f} GB/s both ways together."
    )
    return display.table(t, "interconnect_links", caption)


def _gpu_links_frame(p: Params) -> pd.DataFrame:
    """Every catalog GPU: its scale-up link (NVLink, Infinity Fabric: spec fields, the vendor's name),
    its domain, PCIe, P2P, GPUs per node, and the link (per-direction GB/s) a TP group of each of
    ``p.tp_degrees`` is limited by."""
    check_tp_degrees(p, catalog.gpu_ids())
    rows = []
    for gid in catalog.gpu_ids():
        gpu = catalog.get_gpu(gid)
        topo = data.gpu_topology(gid)
        row = {
            "gpu": gid,
            "scale_up_link": catalog.gpu_terms(gid).gpu_link_name if topo.gpu_link else None,
            "gpu_link_per_direction_gb_s": gpu.spec("gpu_link_bandwidth_per_direction_gb_s"),
            "gpu_link_total_gb_s": gpu.spec("gpu_link_bandwidth_total_gb_s"),
            "gpu_link_domain_gpus": topo.gpu_link_domain_gpus.value,
            "pcie": f"{gpu.spec('pcie_generation')}.0 x{gpu.spec('pcie_lanes')}",
            "p2p_over_pcie": topo.p2p_over_pcie.value,
            "pcie_per_direction_gb_s": link_per_direction_gb_s(pcie_link_id(gid)),
            "max_gpus_per_node": topo.max_gpus_per_node.value,
        }
        for tp in p.tp_degrees:
            link = tp_link(gid, tp)
            row[f"TP {tp} link"] = link.link_id
            row[f"TP {tp} per direction (GB/s)"] = link.per_direction_gb_s
        rows.append(row)
    return pd.DataFrame(rows).set_index("gpu").astype(object).replace({np.nan: None})


def gpu_tp_links(p: Params) -> display.Table:
    """Each GPU's links, captioned with the TP link of the largest degree for the slowest and fastest GPU."""
    frame = _gpu_links_frame(p)
    tp = max(p.tp_degrees)
    t = frame[f"TP {tp} per direction (GB/s)"].dropna().astype(float)
    staged = [g for g in catalog.gpu_ids() if not data.gpu_topology(g).p2p_over_pcie.value]
    caption = (
        f"At TP {tp}, per-direction bandwidth is {fmt_extremes(t, 'GB/s', ',.3g')}. "
        f"Without P2P over PCIe, {join_words(staged)} stage their traffic through host memory at "
        f"{data.interconnect_catalog().host_staged_fraction.value:.0%} of the PCIe rate."
    )
    # The page names each TP group's link; its rate is the row's GPU-link or PCIe column (CSV: both).
    rates = tuple(f"TP {tp} per direction (GB/s)" for tp in p.tp_degrees)
    return display.table(frame, "gpu_tp_links", caption, hidden=rates)


def _measurements_frame() -> pd.DataFrame:
    """Published measurements of GPU-to-GPU traffic next to the model's line rate of the same link: per
    direction for one-way copies and bus bandwidths, both directions for two-way copies (``compare_to``)."""
    rows = []
    for m in data.interconnect_catalog().measurements:
        if m.compare_to == "per_direction":
            rate = link_per_direction_gb_s(m.link)
        else:
            rate = link_total_gb_s(m.link)
        rows.append(
            {
                "measurement": m.id,
                "setup": m.setup,
                "quantity": m.quantity,
                "measured": m.value,
                "unit": m.unit,
                "model_link": m.link,
                "model_compares": m.compare_to,
                "model_gb_s": rate,
                "measured_over_model": m.value / rate if m.unit == "GB/s" else None,
                "source": m.source,
            }
        )
    return pd.DataFrame(rows).set_index("measurement").astype(object).replace({np.nan: None})


def p2p_measurements() -> display.Table:
    """The measurements, captioned with how GeForce P2P measurements compare with the PCIe rate."""
    t = _measurements_frame()
    staged = t[t["model_link"].str.contains("host-staged") & (t["unit"] == "GB/s")]
    pcie4 = link_per_direction_gb_s("pcie4-x16")
    uni = t.loc["rtx4090-staged-unidirectional", "measured"]
    both = t.loc["rtx4090-staged-bidirectional", "measured"]
    caption = (
        f"With P2P disabled, six RTX 4090s copied {uni:.0f} GB/s one way but {both:.0f} GB/s both ways together, "
        f"{both / (2 * pcie4):.0%} of PCIe 4.0 x16's {2 * pcie4:.0f} GB/s; the {len(staged)} staged measurements "
        f"land at {fmt_range(staged['measured_over_model'].min(), staged['measured_over_model'].max(), '', '.2f')} "
        "times the model's staged rate."
    )
    return display.table(t, "p2p_measurements", caption)


def nvlink_pcie_ratio() -> display.Table:
    """The article's 28x NVLink / PCIe ratio next to like-for-like ratios (H100 SXM vs RTX 4090),
    captioned with the article's ratio against the like-for-like one."""
    nv_total, nv_dir = link_total_gb_s("nvlink4-h100"), link_per_direction_gb_s("nvlink4-h100")
    pc_total, pc_dir = link_total_gb_s("pcie4-x16"), link_per_direction_gb_s("pcie4-x16")
    staged = link_per_direction_gb_s(pcie_link_id("rtx-4090"))
    art = claims.claims(kind="link_ratio")[0].check
    rows = [
        (
            "article: NVLink total / PCIe 4.0 per direction",
            art["article_numerator_gb_s"],
            art["article_denominator_gb_s"],
        ),
        ("NVLink total / PCIe 4.0 total", nv_total, pc_total),
        ("NVLink per direction / PCIe 4.0 per direction", nv_dir, pc_dir),
        ("NVLink per direction / RTX 4090's staged PCIe per direction", nv_dir, staged),
    ]
    frame = pd.DataFrame(
        [
            {"comparison": c, "numerator_gb_s": a, "denominator_gb_s": b, "ratio": a / b}
            for c, a, b in rows
        ]
    ).set_index("comparison")
    t = frame["ratio"]
    caption = (
        f"The article's {t.iloc[0]:.0f}x divides a two-way figure by a one-way one; like for like the NVLink 4 / "
        f"PCIe 4.0 x16 ratio is {t.iloc[2]:.1f}x, and against the RTX 4090's staged path it is {t.iloc[3]:.0f}x."
    )
    return display.table(frame, "nvlink_pcie_ratio", caption)


# --- All-reduce time --------------------------------------------------------------------------


def _article_messages() -> list[int]:
    """The all-reduce message sizes (bytes) of the article's claims, smallest first."""
    return sorted({int(c.check["message_bytes"]) for c in claims.claims(kind="allreduce_time")})


def _article_bandwidths() -> list[float]:
    """The bandwidth figures (GB/s) the article divides by in its all-reduce claims, largest first."""
    found = {c.check.get("article_bandwidth_gb_s") for c in claims.claims(kind="allreduce_time")}
    return sorted((b for b in found if b is not None), reverse=True)


def _messages(p: Params) -> list[tuple[str, float]]:
    """Message sizes of the all-reduce table: the article's (smallest and largest) and the TP model's
    decode and prefill activations, smallest first."""
    model = catalog.get_model(p.tp_model, "tp_model")
    art = _article_messages()
    rows = [
        (f"article: {art[0]:,} B", art[0]),
        (f"{p.tp_model} decode, batch 1", tpm.activation_allreduce_bytes(model, 1, 1)),
        (
            f"{p.tp_model} prefill, {p.tp_prefill_tokens} tokens",
            tpm.activation_allreduce_bytes(model, 1, p.tp_prefill_tokens),
        ),
        (f"article: {art[-1]:,} B", art[-1]),
    ]
    return sorted(rows, key=lambda r: r[1])


def _allreduce_frame(p: Params) -> pd.DataFrame:
    """All-reduce time (us) per message and GPU: the article's size / bandwidth (with the TP-2 link's
    per-direction figure) next to the ring and tree alpha-beta model for each of ``p.tp_degrees``."""
    check_tp_degrees(p)
    rows = []
    for label, size in _messages(p):
        for gid in p.tp_gpus:
            link2 = tp_link(gid, 2)
            row = {
                "message": label,
                "gpu": gid,
                "message_bytes": size,
                "TP 2 link": link2.link_id,
                "per_direction_gb_s": link2.per_direction_gb_s,
                "size / bandwidth (us)": article_allreduce_time_us(size, link2.per_direction_gb_s),
            }
            for algo in ALGORITHMS:
                for tp in p.tp_degrees:
                    row[f"{algo}, {tp} GPUs (us)"] = gpu_allreduce_time_us(p, gid, tp, size, algo)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["message", "gpu"])


def _allreduce_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence: how far size / bandwidth misses for the smallest and largest message."""
    tp = max(p.tp_degrees)
    if tp == 1:
        return "With TP 1 (one GPU per model) there is no all-reduce; the times are zero."
    small = t.xs(_messages(p)[0][0], level="message")
    small_ratio = (
        small[f"ring, {min(d for d in p.tp_degrees if d > 1)} GPUs (us)"]
        / small["size / bandwidth (us)"]
    ).min()
    size = _messages(p)[-1][1]
    large_ratio = max(
        gpu_allreduce_time_us(p, g, tp, size)
        / article_allreduce_time_us(size, tp_link(g, tp).per_direction_gb_s)
        for g in p.tp_gpus
        if tp <= data.max_gpus_per_node(g)
    )
    return (
        f"For the {_messages(p)[0][1]:,.0f}-byte message, latency makes the ring at least {small_ratio:.0f}x slower "
        f"than size / bandwidth; for {size:,.0f} bytes the bandwidth term dominates, and {tp} GPUs take up to "
        f"{large_ratio:.2f}x size / bandwidth on the same link because each GPU moves 2({tp}-1)/{tp} of the message."
    )


def allreduce_times(p: Params) -> display.Table:
    """All-reduce times per message and GPU, captioned with how far size / bandwidth misses."""
    t = _allreduce_frame(p)
    return display.table(t, "allreduce_times", _allreduce_caption(p, t))


def allreduce_vs_size(p: Params) -> display.Figure:
    """All-reduce time (us) against message size (bytes), log-log, one panel per TP degree, one line
    per GPU's link (ring), with the article's size / bandwidth at its two quoted figures, and one
    legend below the panels naming each GPU's link per degree; captioned with the latency floor at
    the smallest degree, the message size where the bandwidth term catches up with it
    (floor x B / (2(n-1)/n)) on the slowest and fastest link, and the GPUs whose lines coincide."""
    check_tp_degrees(p)
    sizes = np.logspace(10, 30, 81, base=2)
    degrees = [tp for tp in p.tp_degrees if tp > 1] or [2]
    fig, axes = new_row(
        "All-reduce time: ring model vs the article's size / bandwidth",
        [f"{tp} GPUs" for tp in degrees],
        "message size (bytes)",
        "all-reduce time (us)",
        panel_height_in=4.4,  # room for the legend of links below the panels
    )
    for ax, tp in zip(axes, degrees, strict=True):
        for i, gid in enumerate(p.tp_gpus):
            # gpu_allreduce_time_us (tp > 1 here), with the link looked up once per line
            link = tp_link(gid, tp)
            times = [
                allreduce_time_us(
                    float(s),
                    tp,
                    link.per_direction_gb_s,
                    tp_hop_latency_us(p, gid, tp),
                    p.allreduce_base_latency_us,
                )
                for s in sizes
            ]
            ax.loglog(sizes, times, label=gid, **series(i, len(sizes)))
        for style, bw in zip((":", "--", "-."), _article_bandwidths(), strict=False):
            ax.loglog(
                sizes,
                [article_allreduce_time_us(float(s), bw) for s in sizes],
                color="#555555",
                linestyle=style,
                linewidth=1,
                label=f"article: size / {bw:g} GB/s",
            )
    row_legend(fig, axes, _link_labels(p, degrees), ncols=1)
    tp = max(2, min(p.tp_degrees))
    fits = [g for g in p.tp_gpus if tp <= data.max_gpus_per_node(g)]
    slow = min(fits, key=lambda g: tp_link(g, tp).per_direction_gb_s)
    fast = max(fits, key=lambda g: tp_link(g, tp).per_direction_gb_s)
    cross = [
        latency_floor_us(p, g, tp)
        / units.US_PER_S
        * tp_link(g, tp).per_direction_gb_s
        * units.BYTES_PER_GB
        / (2 * (tp - 1) / tp)
        for g in (slow, fast)
    ]
    floors = [latency_floor_us(p, g, tp) for g in fits]
    staged = " (the highest without peer-to-peer)" if max(floors) > min(floors) else ""
    caption = (
        f"At {tp} GPUs every link has a latency floor of {fmt_range(min(floors), max(floors), 'us')}"
        f"{staged}. The time stays on it until the bandwidth term catches up: at "
        f"{cross[0] / 1e3:,.0f} KB on the slowest link and {cross[1] / 1e6:,.1f} MB on the fastest. "
        "The article's size / bandwidth lines ignore that floor and fall toward zero."
    )
    same = overlap_sentence([o for o in overlaps(fig) if o.whole])
    return display.figure(fig, "allreduce_vs_size", f"{caption} {same}".strip())


def _link_labels(p: Params, degrees: list[int]) -> dict[str, str]:
    """Legend text per GPU: its link, or its link at each TP degree where they differ."""
    out = {}
    for gid in p.tp_gpus:
        by_link: dict[str, list[str]] = {}
        for tp in degrees:
            by_link.setdefault(tp_link(gid, tp).link_id, []).append(str(tp))
        if len(by_link) == 1:
            out[gid] = f"{gid}: {next(iter(by_link))}"
        else:
            out[gid] = f"{gid}: " + ", ".join(
                f"{link} at {join_words(tps)} GPUs" for link, tps in by_link.items()
            )
    return out


# --- Claims and sources -----------------------------------------------------------------------


def interconnect_claims() -> display.Table:
    """This section's claims with the audit's recomputation and verdict."""
    return verdicts.claims_table(["interconnect"], "interconnect_claims", "interconnect")


def interconnect_sources() -> display.Table:
    """Every source of data/interconnect.yaml and the data/gpus.yaml sources its figures cite."""
    return display.table(data.sources_frame(), "interconnect_sources")
