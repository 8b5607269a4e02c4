"""Positive-integer guards of the command line and the library."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from gpucompare import params
from gpucompare.core import guards
from gpucompare.core.errors import InputError


def test_cli_bound_is_the_longest_context():
    assert guards.MAX_CLI_INT == params.MAX_CONTEXT_TOKENS


def test_positive_int_argument():
    assert guards.positive_int("12") == 12
    for bad in ("0", "-3", "1e309", "x", str(guards.MAX_CLI_INT + 1)):
        with pytest.raises(argparse.ArgumentTypeError):
            guards.positive_int(bad)


def test_require_positive_int():
    assert guards.require_positive_int("batch", np.int64(3)) == 3
    for bad in (0, True, 1.5, "2"):
        with pytest.raises(InputError, match="batch: must be a positive integer"):
            guards.require_positive_int("batch", bad)
