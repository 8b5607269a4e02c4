"""MIG tables of the reliability section: GPUs without MIG are shown as not supported."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.sections import mig


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


def test_tenants_tables(p):
    t = mig.tenants_per_gpu(p).frame
    assert (t["rtx-4090 tenants"] == "not supported").all()
    assert mig.support(p).frame.loc["rtx-4090", "mig"] == "not supported"
