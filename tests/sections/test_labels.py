"""Headers in words: machine names read as words with their units; names already in words stay."""

from __future__ import annotations

import pytest

from gpucompare.sections import labels


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("memory_bandwidth_gb_s", "Memory bandwidth (GB/s)"),
        ("memory_gib", "Memory (GiB)"),
        ("usd_per_mtok_own", "Own: $ per million tokens"),
        ("usd_per_mtok_p95", "$ per million tokens 95th percentile"),
        ("cloud_usd_per_gpu_hour", "Cloud (USD/GPU-hour)"),
        ("overhead_per_layer_us", "Overhead per layer (µs)"),
        ("p_at_least_one_silent", "Chance of at least one silent"),
        ("tco_usd", "TCO (USD)"),
        ("seed_value", "Article's value"),
        ("Best to own", "Best to own"),
        ("rtx-4090", "rtx-4090"),
    ],
)
def test_headers_read_as_words_with_units(name, expected):
    assert labels.header(name) == expected
    assert not labels.is_code_name(labels.header(name))


def test_code_names_are_told_apart_from_words():
    assert labels.is_code_name("cheapest_own") and labels.is_code_name("verdict")
    assert not labels.is_code_name("Cheapest to own") and not labels.is_code_name("rtx-4090")


#: Names as a reader knows them, written here from the vendors' and publishers' product names.
NAMES = {
    "rtx-4090": "RTX 4090",
    "a100-sxm": "A100 SXM",
    "a100-sxm-80gb": "A100 SXM 80GB",
    "l4": "L4",
    "llama-2-7b": "Llama 2 7B",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtx-4090", "RTX 4090"),
        ("2 x rtx-4090 (2 replicas)", "2 x RTX 4090 (2 replicas)"),
        ("a100-sxm-80gb, rtx-4090", "A100 SXM 80GB, RTX 4090"),  # the longer id wins
        ("a100-sxm", "A100 SXM"),
        ("llama-2-7b fp16 on one rtx-4090.", "Llama 2 7B fp16 on one RTX 4090."),
        ("rtx-4090's price", "RTX 4090's price"),
        # Not ids: inside another token, a path, an address, a file name.
        ("nvidia-rtx-4090-datasheet", "nvidia-rtx-4090-datasheet"),
        ("data/l4/specs", "data/l4/specs"),
        (
            "https://www.nvidia.com/en-us/data-center/l4/",
            "https://www.nvidia.com/en-us/data-center/l4/",
        ),
        ("l4.yaml", "l4.yaml"),
        ("l40s", "l40s"),
    ],
)
def test_catalog_ids_read_as_names(text, expected):
    assert labels.words(text, NAMES) == expected


def test_headers_name_gpus_in_words():
    assert labels.header("rtx-4090", NAMES) == "RTX 4090"
    assert labels.header("rtx-4090 max_batch", NAMES) == "RTX 4090: Most sequences that fit"
    assert labels.header("max_batch", NAMES) == "Most sequences that fit"
