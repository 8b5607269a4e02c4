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
