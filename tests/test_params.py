"""Parameters: defaults validate; every kind of bad input is one InputError naming the key."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.errors import InputError


def test_defaults_validate():
    p, _ = params.resolve()
    assert p.gpus == ["h100-sxm", "rtx-4090"]
    assert p.workloads


def test_files_then_sets_later_wins(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("electricity_usd_per_kwh: 0.30\nprice_usd: {h100-sxm: 25000}\n")
    b = tmp_path / "b.yaml"
    b.write_text("electricity_usd_per_kwh: 0.20\n")
    p, _ = params.resolve([a, b], ["price_usd.rtx-4090=2000", "gpus=[a100-sxm-80gb, l40s]"])
    assert p.electricity_usd_per_kwh == 0.20
    assert p.price_usd == {"h100-sxm": 25000, "rtx-4090": 2000}
    assert p.gpus == ["a100-sxm-80gb", "l40s"]
    assert p.price_of("h100-sxm") == 25000


def test_set_into_list_item():
    p, _ = params.resolve(sets=["workloads.0.batch_size=8"])
    assert p.workloads[0].batch_size == 8


@pytest.mark.parametrize(
    ("sets", "pattern"),
    [
        (
            ["electricity_usd_per_kwh=-0.1"],
            r"electricity_usd_per_kwh: Input should be greater than 0",
        ),
        (["price_usd.h100-sxm=0"], r"price_usd\.h100-sxm: Input should be greater than 0"),
        (["price_usd.h100-sxm=.nan"], r"price_usd\.h100-sxm"),
        (["pue=.inf"], r"pue"),
        (
            ["gpus=[h100-sxm, h100]"],
            r"gpus: unknown GPU 'h100'.*did you mean 'h100-sxm'.*allowed: .*rtx-4090",
        ),
        (["price_usd.rtx4090=1500"], r"unknown GPU 'rtx4090'.*did you mean 'rtx-4090'"),
        (
            ["workloads.0.model=llama-7b"],
            r"workloads\[0\]\.model: unknown model 'llama-7b'.*allowed: .*llama-2-7b",
        ),
        (["workloads.0.weights=int3"], r"workloads\[0\]\.weights: Input should be 'fp32', 'bf16'"),
        (
            ["workloads.0.batch_size=0"],
            r"workloads\[0\]\.batch_size: Input should be greater than 0",
        ),
        (
            ["electricty_usd_per_kwh=0.2"],
            r"electricty_usd_per_kwh: unknown key \(did you mean 'electricity_usd_per_kwh'\?\)",
        ),
        (["years=three"], r"years: Input should be a valid number"),
        (["gpus=[]"], r"gpus: List should have at least 1 item"),
        (["utilization=1.5"], r"utilization: Input should be less than or equal to 1"),
    ],
)
def test_bad_values_name_the_key(sets, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        params.resolve(sets=sets)
    assert info.value.exit_code == 2


def test_malformed_and_empty_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: [h100-sxm\nyears: 3\n")
    with pytest.raises(InputError, match=r"bad.yaml:.*line \d+.*malformed YAML"):
        params.resolve([bad])
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match=r"empty.yaml: the parameters file is empty"):
        params.resolve([empty])
    with pytest.raises(InputError, match=r"missing.yaml: file not found"):
        params.resolve([tmp_path / "missing.yaml"])


def test_set_needs_key_and_value():
    with pytest.raises(InputError, match="expected key=value"):
        params.resolve(sets=["years"])


def test_notebook_params_reject_unknown_names():
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['gpu'\]"):
        params.notebook_params(gpu="h100-sxm")
    assert params.notebook_params(gpus=["l40s"]).gpus == ["l40s"]


def test_non_default_keys():
    p, _ = params.resolve(sets=["pue=1.5", "years=3.0"])  # 3.0 equals the default 3
    assert params.non_default_keys(p) == ["pue"]


def test_sections_cannot_read_undeclared_parameters():
    # The build injects only a notebook's declared parameters; reading another one would
    # silently use its default, so the notebook view refuses it.
    p = params.notebook_params(gpus=["h100-sxm"])
    assert p.gpus == ["h100-sxm"]
    with pytest.raises(
        InputError, match=r"reads parameter 'pue' but its parameters cell does not declare it"
    ):
        _ = p.pue
    with pytest.raises(InputError, match=r"'price_usd'"):
        p.price_of("h100-sxm")
