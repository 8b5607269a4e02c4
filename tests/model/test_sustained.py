"""Sustained against peak throughput: the fractions in use and the measurements behind their defaults."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.model import sustained


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


def test_sustained_fraction_and_tflops(p):
    assert sustained.sustained_fraction(p, "h100-sxm") == 0.80
    assert sustained.sustained_fraction(p, "rtx-4090") == 0.94
    assert sustained.sustained_tflops(p, "h100-sxm") == pytest.approx(0.80 * 989.4)
    assert sustained.sustained_tflops(p, "rtx-4090") == pytest.approx(0.94 * 165.2)
    # The measurements: 794.5 / 989.4 = 0.8030 (H100 MAMF), 155.5 / 165.2 = 0.9413 (RTX 4090).
    assert sustained.segment_measured_fraction("datacenter") == pytest.approx(794.5 / 989.4)
    assert sustained.segment_measured_fraction("consumer") == pytest.approx(155.5 / 165.2)


def test_parameter_defaults_are_the_measured_fractions_rounded(p):
    assert p.sustained_fraction_datacenter == round(
        sustained.segment_measured_fraction("datacenter"), 2
    )
    assert p.sustained_fraction_consumer == round(
        sustained.segment_measured_fraction("consumer"), 2
    )


def test_bad_input(p):
    with pytest.raises(InputError, match=r"gpu_id: unknown GPU 'h100'"):
        sustained.sustained_fraction(p, "h100")
