"""Column headers in words for readers: the machine names of the tables' columns (kept in the CSV
files, which analysts script against) turned into words with their units on the page.

A name found in :data:`HEADERS` gets that label. Otherwise the name is read by its parts, units
last: ``memory_bandwidth_gb_s`` -> "Memory bandwidth (GB/s)", ``usd_per_mtok_own`` -> "Own: $
per million tokens", ``p_at_least_one_silent`` -> "Chance of at least one silent". A name that
already reads as words (a space, or an upper-case letter) is kept as it is.

Catalog ids (``rtx-4090``, ``llama-2-7b``) in column names and cells read as the names the catalog
gives them (:func:`words`, with the mapping of :func:`gpucompare.data.catalog.display_names`):
"RTX 4090", "Llama 2 7B", "2 x H100 SXM".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

#: Labels of names whose parts do not read well on their own.
HEADERS = {
    "seed_value": "Article's value",
    "computed_value": "Recomputed value",
    "cheapest_own": "Cheapest to own",
    "cheapest_rent": "Cheapest to rent",
    "gpus_own": "Own: GPUs",
    "gpus_rent": "Rent: GPUs",
    "advantage_own": "Own: runner-up / cheapest",
    "advantage_rent": "Rent: runner-up / cheapest",
    "fits_on": "Fits one card of",
    "best_to_own": "Best to own",
    "best_to_rent": "Best to rent",
    "qualifying_configurations": "Configurations meeting the target",
    "meets_target": "Meets the speed target",
    "probability_cheapest": "Chance of being cheapest",
    "tokens_per_s_per_user": "Tokens/s per sequence",
    "per_sequence_tokens_per_s": "Tokens/s per sequence",
    "gpus_needed": "GPUs needed",
    "max_batch": "Most sequences that fit",
    "shadowed_fraction": "Share taken by earlier rules",
    "workloads_matching": "Workloads its condition matches",
    "workloads_decided": "Workloads it decides",
    "sm_count": "SMs",
    "tp": "Tensor-parallel GPUs",
    "id": "ID",
    "url": "Address",
}

#: Units at the end of a name, longest first: (suffix parts, label).
UNITS = (
    (("flop", "per", "byte"), "FLOP/byte"),
    (("tokens", "per", "s"), "tokens/s"),
    (("gb", "s", "per", "gib"), "GB/s per GiB"),
    (("gb", "s"), "GB/s"),
    (("per", "gpu", "year"), "per GPU-year"),
    (("per", "gpu", "day"), "per GPU-day"),
    (("per", "device", "year"), "per device-year"),
    (("per", "gb", "year"), "per GB-year"),
    (("usd", "per", "kwh"), "USD/kWh"),
    (("usd", "per", "gpu", "hour"), "USD/GPU-hour"),
    (("tflops",), "TFLOPS"),
    (("gib",), "GiB"),
    (("gb",), "GB"),
    (("usd",), "USD"),
    (("mhz",), "MHz"),
    (("ms",), "ms"),
    (("us",), "µs"),
    (("w",), "W"),
    (("pct",), "%"),
    (("bytes",), "bytes"),
)

#: How a part reads (acronyms and product names).
WORDS = {
    "gpu": "GPU",
    "gpus": "GPUs",
    "sm": "SM",
    "kv": "KV",
    "mig": "MIG",
    "ecc": "ECC",
    "pcie": "PCIe",
    "nvlink": "NVLink",
    "p2p": "P2P",
    "tco": "TCO",
    "fp16": "FP16",
    "fp32": "FP32",
    "fp32acc": "FP32 accumulate",
    "bf16": "BF16",
    "fp8": "FP8",
    "dram": "DRAM",
    "abs": "absolute",
    "fma": "FMA",
    "mfu": "MFU",
    "mc": "Monte Carlo",
    "kusd": "1,000 USD",
    "p5": "5th percentile",
    "p50": "median",
    "p95": "95th percentile",
    "mtok": "million tokens",
    "usd": "$",
}

_CODE_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$|^[a-z]+$")


def is_code_name(name: str) -> bool:
    """``snake_case`` or one lower-case word: a machine name, not a header for readers."""
    return bool(_CODE_NAME.match(name))


@functools.cache
def _id_pattern(ids: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``ids`` as a whole token: not inside a longer id (``a100-sxm`` in ``a100-sxm-80gb``),
    a path or a file name; a full stop after it ends a sentence."""
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w/-]|\.\w)")


def words(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every catalog id in ``names`` replaced by its name ("2 x rtx-3090" -> "2 x RTX
    3090"); addresses (``://``) are left as they are."""
    if not names or "://" in text:
        return text
    pattern = _id_pattern(tuple(names))
    return pattern.sub(lambda m: names[m.group(0)], text)


def header(name: object, names: Mapping[str, str] | None = None) -> str:
    """The label of column ``name`` on the page (module docstring); ``names`` maps catalog ids to
    the names shown (a column per GPU: ``rtx-4090`` -> "RTX 4090", ``h100-sxm max_batch`` -> "H100
    SXM: Most sequences that fit")."""
    text = str(name)
    if text in HEADERS:
        return HEADERS[text]
    if names:
        first, _, rest = text.partition(" ")
        if first in names and rest and is_code_name(rest):
            return f"{names[first]}: {header(rest)}"
    if not is_code_name(text):
        return words(text, names or {})
    parts = text.split("_")
    prefix = ""
    if parts[0] == "p" and len(parts) > 1:
        parts, prefix = parts[1:], "Chance of "
    if parts[-1] in ("own", "rent") and len(parts) > 1:
        prefix, parts = f"{parts[-1].capitalize()}: ", parts[:-1]
    unit = ""
    for suffix, label in UNITS:
        n = len(suffix)
        if len(parts) > n and tuple(parts[-n:]) == suffix:
            parts, unit = parts[:-n], label
            break
    if parts[:3] == ["usd", "per", "mtok"]:
        terms = ["$ per million tokens", *(WORDS.get(p, p) for p in parts[3:])]
    else:
        terms = [WORDS.get(p, p) for p in parts]
    body = " ".join(terms)
    label = prefix + (body[:1].upper() + body[1:] if not prefix else body)
    return f"{label} ({unit})" if unit else label
