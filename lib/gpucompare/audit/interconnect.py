"""Claim checks of the interconnect section (``data/claims/interconnect.yaml``): link figures and
ratios, all-reduce and GEMM times, the article's tensor-parallel table and its "RTX 4090 cluster",
recomputed with :mod:`gpucompare.model.interconnect` and :mod:`gpucompare.model.tensor_parallel` at the
default parameters."""

from __future__ import annotations

import math

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.data.interconnect import get_link
from gpucompare.model import gemm, memory, throughput
from gpucompare.model.interconnect import (
    article_allreduce_time_us,
    gpu_allreduce_time_us,
    link_per_direction_gb_s,
    link_total_gb_s,
    tp_hop_latency_us,
    tp_link,
)
from gpucompare.model.tensor_parallel import (
    ACTIVATION_BYTES,
    ALLREDUCES_PER_LAYER,
    activation_allreduce_bytes,
    article_tp_efficiency,
    gemm_time_ms_at_peak,
    tp_step,
)
from gpucompare.params import Params

#: Relative tolerance for times and bandwidths the article rounds (it writes "~").
TIME_TOLERANCE = 0.10
#: Relative tolerance for link figures quoted from datasheets.
LINK_TOLERANCE = 0.05
#: Efficiency claims within this many percentage points of the model count as agreeing.
EFFICIENCY_TOLERANCE_PTS = 10.0
#: Relative tolerance for an "N times" figure (whole or half multiples).
RATIO_TOLERANCE = 0.05
#: A slowdown blamed on the link is misleading when communication is less than this share of the
#: slower group's decode step (the rest is compute and memory, which a faster link would not change).
LINK_SHARE_FOR_BLAME = 0.5


def _defaults() -> Params:
    return params.validate(params.defaults_dict(), str(params.default_file()))


def _to_unit_us(value: float, unit: str) -> float:
    if unit == "us":
        return value
    if unit == "ms":
        return value * units.US_PER_MS
    raise InputError(f"claim unit '{unit}': allowed for times: ms, us")


def _gemm_ms_at_peak(chk: dict) -> float:
    """2 x M x N x K at the GPU's datasheet dense peak (check ``field``), in ms."""
    return gemm_time_ms_at_peak(
        chk["gpu"], chk["m"], chk["n"], chk["k"], chk.get("field", "fp16_tensor_fp32acc_tflops")
    )


def _check_link_bandwidth(c: Claim) -> Finding:
    """A link figure against the catalog; a figure that is the other direction's is wrong, and says so."""

    link, direction = c.check["link"], c.check["direction"]
    figures = {"per_direction": link_per_direction_gb_s(link), "total": link_total_gb_s(link)}
    computed = figures[direction]
    verdict = relative_verdict(float(c.value), computed, LINK_TOLERANCE)
    why = f"{get_link(link).name}: {figures['per_direction']:.4g} GB/s per direction, {figures['total']:.4g} total"
    other = "total" if direction == "per_direction" else "per_direction"
    if (
        verdict == "wrong"
        and relative_verdict(float(c.value), figures[other], LINK_TOLERANCE) == "ok"
    ):
        why += f"; {c.value} is the {other.replace('_', ' ')} figure, labelled {direction.replace('_', ' ')}"
    return Finding(computed, verdict, why)


def _check_link_ratio(c: Claim) -> Finding:
    """A bandwidth ratio: like for like (per direction / per direction) against the article's, which is
    misleading when its own arithmetic holds but divides a total by a per-direction figure."""

    chk = c.check
    like = link_per_direction_gb_s(chk["numerator_link"]) / link_per_direction_gb_s(
        chk["denominator_link"]
    )
    own = chk["article_numerator_gb_s"] / chk["article_denominator_gb_s"]
    num = _check_link_bandwidth_value(chk["numerator_link"], chk["article_numerator_gb_s"])
    den = _check_link_bandwidth_value(chk["denominator_link"], chk["article_denominator_gb_s"])
    why = (
        f"its arithmetic {chk['article_numerator_gb_s']} / {chk['article_denominator_gb_s']} = {own:.1f}; but "
        f"{chk['article_numerator_gb_s']} is {num} and {chk['article_denominator_gb_s']} is {den}: per direction "
        f"{link_per_direction_gb_s(chk['numerator_link']):.4g} / {link_per_direction_gb_s(chk['denominator_link']):.4g} = {like:.1f}x"
    )
    if relative_verdict(float(c.value), like, LINK_TOLERANCE) == "ok":
        return Finding(like, "ok", why)
    verdict = (
        "misleading" if relative_verdict(float(c.value), own, LINK_TOLERANCE) == "ok" else "wrong"
    )
    return Finding(like, verdict, why)


def _check_link_bandwidth_value(link_id: str, value: float) -> str:
    """Which figure of a link ``value`` is: 'the per-direction figure', 'the total' or 'neither'."""

    if relative_verdict(value, link_per_direction_gb_s(link_id), LINK_TOLERANCE) == "ok":
        return f"{link_id}'s per-direction figure"
    if relative_verdict(value, link_total_gb_s(link_id), LINK_TOLERANCE) == "ok":
        return f"{link_id}'s total (both directions)"
    return f"neither figure of {link_id}"


def _check_allreduce_time(c: Claim) -> Finding:
    """An all-reduce time against the alpha-beta ring on the GPU's real TP link (default latencies).
    Right time from a wrong bandwidth figure (``article_bandwidth_gb_s`` vs ``article_link``) is misleading."""

    chk = c.check
    p = _defaults()
    size = chk["message_bytes"]
    us = gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], size)
    link = tp_link(chk["gpu"], chk["tp"])
    computed = us / (units.US_PER_MS if c.unit == "ms" else 1)
    size_only = article_allreduce_time_us(size, link.per_direction_gb_s) / (
        units.US_PER_MS if c.unit == "ms" else 1
    )
    verdict = relative_verdict(_to_unit_us(float(c.value), c.unit), us, TIME_TOLERANCE)
    why = (
        f"{size:,} B over {chk['tp']} x {chk['gpu']} ({link.link_id}, {link.per_direction_gb_s:.4g} GB/s per direction): "
        f"ring {computed:.4g} {c.unit} with {p.allreduce_base_latency_us} + {2 * (chk['tp'] - 1)} x "
        f"{tp_hop_latency_us(p, chk['gpu'], chk['tp']):g} us latency; size / bandwidth alone {size_only:.4g} {c.unit}"
    )
    stated = chk.get("article_bandwidth_gb_s")
    if stated is not None:
        named = chk["article_link"]
        right = link_per_direction_gb_s(named)
        if relative_verdict(stated, right, LINK_TOLERANCE) == "wrong":
            why += f"; its {stated} GB/s is not {named}'s per-direction {right:.4g} GB/s"
            if verdict == "ok":
                verdict = "misleading"
    return Finding(computed, verdict, why)


def _check_gemm_time(c: Claim) -> Finding:
    """A GEMM time against 2 M N K at the article's own measured TFLOPS for that shape; the datasheet
    peak's time is given too."""

    chk = c.check
    flop = gemm.flops(chk["m"], chk["n"], chk["k"])
    own = flop / (chk["article_tflops"] * units.FLOPS_PER_TFLOPS) * units.US_PER_S / units.US_PER_MS
    peak = catalog.get_gpu(chk["gpu"]).spec(chk["field"])
    return Finding(
        own,
        relative_verdict(float(c.value), own, TIME_TOLERANCE),
        f"2 x {chk['m']} x {chk['n']} x {chk['k']} = {flop:.4g} FLOP at its own {chk['article_tflops']} TFLOPS "
        f"(its GEMM table) = {own:.3g} ms; at the datasheet {peak} TFLOPS = {_gemm_ms_at_peak(chk):.3g} ms",
    )


def _check_tp_gemm_per_gpu(c: Claim) -> Finding:
    """A per-GPU GEMM time against the datasheet-peak lower bound 2 M N K / (tp x peak): below it is
    impossible (wrong), above it plausible (ok, with the fraction of peak it implies)."""

    chk = c.check
    bound = _gemm_ms_at_peak(chk) / chk["tp"]
    share = bound / float(c.value)
    verdict = "ok" if float(c.value) >= bound * (1 - TIME_TOLERANCE) else "wrong"
    return Finding(
        bound,
        verdict,
        f"half of 2 x {chk['m']}^3 FLOP at {chk['gpu']}'s datasheet {catalog.get_gpu(chk['gpu']).spec(chk['field'])} "
        f"TFLOPS takes at least {bound:.3g} ms; {c.value} ms implies {share:.0%} of peak"
        + ("" if verdict == "ok" else ", faster than the GPU can compute"),
    )


def _check_tp_comm(c: Claim) -> Finding:
    """The table's communication column: same recomputation as :func:`_check_allreduce_time`."""
    return _check_allreduce_time(c)


def _check_tp_step_total(c: Claim) -> Finding:
    """A total step against the article's own per-GPU GEMM + communication; the catalog total is given."""

    chk = c.check
    p = _defaults()
    own = chk["per_gpu_gemm_ms"] + chk["comm_ms"]
    cat = (
        _gemm_ms_at_peak(chk) / chk["tp"]
        + gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], chk["message_bytes"]) / units.US_PER_MS
    )
    return Finding(
        own,
        relative_verdict(float(c.value), own, TIME_TOLERANCE),
        f"{chk['per_gpu_gemm_ms']} + {chk['comm_ms']} = {own:.3g} ms; with catalog figures (datasheet peak, ring on "
        f"the real link) the same step takes {cat:.3g} ms",
    )


def _check_tp_efficiency(c: Claim) -> Finding:
    """An efficiency (%): its formula with its inputs must reproduce it (else wrong); it is misleading when
    a Llama layer (activation all-reduces, catalog figures) at the message's token count differs by more
    than EFFICIENCY_TOLERANCE_PTS."""

    chk = c.check
    p = _defaults()
    own = 100 * article_tp_efficiency(chk["per_gpu_gemm_ms"] * chk["tp"], chk["comm_ms"], chk["tp"])
    model = catalog.get_model(chk["model"])
    tokens = int(chk["message_bytes"] // (model.hidden_size * ACTIVATION_BYTES))
    layer = (
        100 * tp_step(p, chk["gpu"], chk["tp"], 1, tokens, chk["model"], chk["weights"]).efficiency
    )
    decode = 100 * tp_step(p, chk["gpu"], chk["tp"], 1, 1, chk["model"], chk["weights"]).efficiency
    why = (
        f"its formula with its inputs: {own:.1f}%; a {chk['model']} layer all-reducing its activations on "
        f"{chk['tp']} x {chk['gpu']}: {layer:.0f}% for a {tokens}-token prefill (the token count its {chk['message_bytes']:,} B "
        f"message implies), {decode:.0f}% for batch-1 decode"
    )
    if abs(float(c.value) - own) > 1.0:
        return Finding(layer, "wrong", why)
    verdict = "ok" if abs(float(c.value) - layer) <= EFFICIENCY_TOLERANCE_PTS else "misleading"
    return Finding(layer, verdict, why)


def _check_tp_gpus_needed(c: Claim) -> Finding:
    """GPUs needed against memory.gpus_needed (TP degrees 1, 2, 4, 8 dividing the heads; default overheads)."""

    chk = c.check
    p = _defaults()
    model = catalog.get_model(chk["model"])
    gpu = catalog.get_gpu(chk["gpu"])
    need = memory.gpus_needed(
        model,
        chk["weights"],
        chk["kv"],
        chk["batch"],
        chk["context_tokens"],
        gpu,
        memory.Overheads.from_params(p),
    )
    naive = memory.weights_bytes(model, chk["weights"]) / (
        gpu.spec("memory_gib") * units.BYTES_PER_GIB
    )
    why = (
        f"{memory.weights_bytes(model, chk['weights']) / units.BYTES_PER_GB:.1f} GB of weights plus KV, in "
        f"{memory.usable_bytes(gpu, p.gpu_memory_utilization, p.activation_reserve_gib) / units.BYTES_PER_GB:.1f} GB usable "
        f"per GPU, at a TP degree dividing {model.num_attention_heads} heads (1, 2, 4, 8): {need}; raw capacity alone "
        f"would say {math.ceil(naive)}"
    )
    return Finding(need, "ok" if need == c.value else "wrong", why)


def _check_tp_cluster_efficiency(c: Claim) -> Finding:
    """A cluster's TP efficiency (%) at the GPUs it needs: ok within EFFICIENCY_TOLERANCE_PTS of batch-1
    decode; misleading if it only matches the prefill case; else wrong."""

    chk = c.check
    p = _defaults()
    model = catalog.get_model(chk["model"])
    need = memory.gpus_needed(
        model,
        chk["weights"],
        chk["kv"],
        chk["batch"],
        chk["context_tokens"],
        catalog.get_gpu(chk["gpu"]),
        memory.Overheads.from_params(p),
    )
    if need is None:
        return Finding(
            None,
            "wrong",
            f"{chk['model']} at {chk['weights']} does not fit one node of {chk['gpu']}",
        )
    decode = (
        100 * tp_step(p, chk["gpu"], need, chk["batch"], 1, chk["model"], chk["weights"]).efficiency
    )
    prefill = (
        100
        * tp_step(
            p, chk["gpu"], need, chk["batch"], p.tp_prefill_tokens, chk["model"], chk["weights"]
        ).efficiency
    )
    why = (
        f"at the {need} GPUs it needs ({tp_link(chk['gpu'], need).link_id}): {decode:.0f}% for batch-{chk['batch']} decode, "
        f"{prefill:.0f}% for a {p.tp_prefill_tokens}-token prefill"
    )
    if abs(float(c.value) - decode) <= EFFICIENCY_TOLERANCE_PTS:
        verdict = "ok"
    elif abs(float(c.value) - prefill) <= EFFICIENCY_TOLERANCE_PTS:
        verdict = "misleading"
    else:
        verdict = "wrong"
    return Finding(decode, verdict, why)


def slowdowns(p: Params, chk: dict) -> list[dict]:
    """Per workload of the check: the GPUs each type needs (:func:`memory.gpus_needed`), decode tokens/s
    of each group (:func:`throughput.decode_tokens_per_s_tp`), the ratio ``gpu_a`` / ``gpu_b`` and the
    share of ``gpu_b``'s step spent in its all-reduces (layers x 2 x all-reduce of batch x hidden x
    2 bytes on its link / (batch / tokens per s))."""
    ov = memory.Overheads.from_params(p)
    out = []
    for wl in chk["workloads"]:
        model = catalog.get_model(wl["model"])
        args = (wl["model"], wl["weights"], chk["kv"], chk["batch"], chk["context_tokens"])
        row = {"workload": f"{wl['model']} {wl['weights']}"}
        for side in ("a", "b"):
            gid = chk[f"gpu_{side}"]
            n = memory.gpus_needed(
                model,
                wl["weights"],
                chk["kv"],
                chk["batch"],
                chk["context_tokens"],
                catalog.get_gpu(gid),
                ov,
            )
            tps = None if n is None else throughput.decode_tokens_per_s_tp(p, *args, gid, n)
            row[f"gpus_{side}"], row[f"tokens_per_s_{side}"] = n, tps
        n_b, tps_b = row["gpus_b"], row["tokens_per_s_b"]
        row["ratio"] = row["tokens_per_s_a"] / tps_b if row["tokens_per_s_a"] and tps_b else None
        message = activation_allreduce_bytes(model, chk["batch"], 1)
        comm_s = (
            model.num_hidden_layers
            * ALLREDUCES_PER_LAYER
            * gpu_allreduce_time_us(p, chk["gpu_b"], n_b, message)
            / units.US_PER_S
            if n_b
            else None
        )
        row["comm_share_b"] = (
            comm_s * tps_b / chk["batch"] if comm_s is not None and tps_b else None
        )
        out.append(row)
    return out


def _check_multi_gpu_slowdown(c: Claim) -> Finding:
    """An "N-M times slower" range for multi-GPU workloads: decode tokens/s of the GPUs each type needs,
    ``gpu_a``'s group over ``gpu_b``'s. Wrong when a ratio falls outside the range (RATIO_TOLERANCE);
    misleading when all are inside but the all-reduces are under LINK_SHARE_FOR_BLAME of ``gpu_b``'s
    step (the link the claim blames is not what makes it slower); else ok."""
    chk = c.check
    rows = [r for r in slowdowns(_defaults(), chk) if r["ratio"] is not None]
    low, high = float(c.value), float(chk["range_high"])
    if not rows:
        return Finding(None, "unverifiable", "no workload of the check runs on both GPU types")
    parts = [
        f"{r['workload']}: {r['gpus_a']} x {chk['gpu_a']} {r['tokens_per_s_a']:.1f} tok/s vs {r['gpus_b']} x "
        f"{chk['gpu_b']} {r['tokens_per_s_b']:.1f} tok/s = {r['ratio']:.2f}x, all-reduces {r['comm_share_b']:.0%} "
        f"of the {chk['gpu_b']} step"
        for r in rows
    ]
    why = f"batch {chk['batch']} decode at {chk['context_tokens']:,} tokens: " + "; ".join(parts)
    inside = all(
        low * (1 - RATIO_TOLERANCE) <= r["ratio"] <= high * (1 + RATIO_TOLERANCE) for r in rows
    )
    if not inside:
        verdict = "wrong"
    elif max(r["comm_share_b"] for r in rows) < LINK_SHARE_FOR_BLAME:
        verdict = "misleading"
        why += "; the gap is mostly memory bandwidth and compute, not the missing NVLink"
    else:
        verdict = "ok"
    return Finding(min(r["ratio"] for r in rows), verdict, why)


def _check_nvlink_dropped(c: Claim) -> Finding:
    """The first consumer series from which no card of the catalog has NVLink (``gpu_link_generation``
    of each series' card in data/gpus.yaml, NVIDIA cards), against the series the article names."""
    chk = c.check
    series = sorted(chk["series"], key=lambda x: x["series"])
    has = {x["series"]: catalog.get_gpu(x["gpu"]).spec("gpu_link_generation") for x in series}
    first = None
    for x in reversed(series):
        if has[x["series"]] is not None:
            break
        first = x["series"]
    parts = []
    for x in series:
        gpu = catalog.get_gpu(x["gpu"])
        gen = has[x["series"]]
        parts.append(
            f"{gpu.name}: "
            + (
                f"NVLink {gen} bridge, {gpu.spec('gpu_link_bandwidth_total_gb_s'):g} GB/s both ways "
                f"({gpu.specs.gpu_link_generation.source})"
                if gen is not None
                else "no NVLink"
            )
        )
    return Finding(
        first,
        "ok" if first == c.value else "wrong",
        "; ".join(parts) + f": NVLink left consumer cards with the RTX {first} series",
    )


CLAIM_CHECKS = {
    "multi_gpu_slowdown": _check_multi_gpu_slowdown,
    "nvlink_dropped_since": _check_nvlink_dropped,
    "link_bandwidth": _check_link_bandwidth,
    "link_ratio": _check_link_ratio,
    "allreduce_time": _check_allreduce_time,
    "gemm_time": _check_gemm_time,
    "tp_gemm_per_gpu": _check_tp_gemm_per_gpu,
    "tp_comm": _check_tp_comm,
    "tp_step_total": _check_tp_step_total,
    "tp_efficiency": _check_tp_efficiency,
    "tp_gpus_needed": _check_tp_gpus_needed,
    "tp_cluster_efficiency": _check_tp_cluster_efficiency,
}
