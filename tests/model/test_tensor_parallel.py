"""Tensor-parallel efficiency of one transformer layer: layer weights, compute and communication by hand,
the article's formula, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.data import catalog
from gpucompare.model import interconnect, tensor_parallel

P = params.validate(params.defaults_dict())
MIB_128 = 8192 * 8192 * 2  # the article's 8192 x 8192 FP16 matrix, 134,217,728 bytes

bandwidths = st.floats(min_value=1.0, max_value=2000.0, allow_nan=False)


def test_llama_2_70b_layer_parameters():
    # 8192*64*128*2 (q, o) + 2*8192*8*128 (k, v) + 3*8192*28672 (MLP) + 2*8192 (norms) = 855,654,400;
    # 80 layers + 2 x 32,000 x 8,192 embeddings + 8,192 final norm = the catalog's 68,976,648,192.
    m = catalog.get_model("llama-2-70b")
    assert tensor_parallel.layer_parameters(m) == 855_654_400
    assert m.parameters == 80 * 855_654_400 + 2 * 32_000 * 8_192 + 8_192
    # Mixtral: 2 of 8 experts active per token -> 6 experts x 3 x 4096 x 14336 fewer active weights.
    mx = catalog.get_model("mixtral-8x7b")
    assert (
        tensor_parallel.layer_parameters(mx) - tensor_parallel.layer_active_parameters(mx)
        == 6 * 3 * 4096 * 14336
    )


def test_decode_layer_by_hand_on_two_h100s():
    # Weights 855,654,400 x 2 B split over 2 GPUs at 3,350 GB/s: 255.42 us (FLOPs: 0.86 us, not binding).
    # Communication: 2 all-reduces of 8,192 x 2 = 16,384 B: 2 x (6.6 + 2 x 1.0 + 16,384 / 450,000) = 17.27 us.
    step = tensor_parallel.tp_step(P, "h100-sxm", 2, 1, 1)
    compute = 855_654_400 * 2 / 2 / 3_350_000
    comm = 2 * (6.6 + 2 + 16_384 / 450_000)
    assert step.compute_us == pytest.approx(compute)
    assert step.comm_us == pytest.approx(comm)
    assert step.efficiency == pytest.approx(compute / (compute + comm))
    assert step.efficiency == pytest.approx(0.9367, abs=1e-4)


def test_prefill_layer_by_hand_on_two_h100s():
    # 2 x 855,654,400 x 2,048 FLOP over 2 GPUs at 989.4 TFLOPS = 1,771.2 us (compute-bound).
    step = tensor_parallel.tp_step(P, "h100-sxm", 2, 1, 2048)
    assert step.compute_us == pytest.approx(2 * 855_654_400 * 2048 / (2 * 989.4e12) * 1e6)
    assert step.compute_us == pytest.approx(1771.2, abs=0.1)


def test_article_tp_efficiency_formula():
    # tp_efficiency(3.5, 0.28, 2): 1.75 / (1.75 + 0.28) = 86.2%; (8.5, 8.0, 2): 4.25 / 12.25 = 34.7%.
    assert tensor_parallel.article_tp_efficiency(3.5, 0.28, 2) == pytest.approx(1.75 / 2.03)
    assert tensor_parallel.article_tp_efficiency(8.5, 8.0, 2) == pytest.approx(4.25 / 12.25)


def test_one_gpu_needs_no_communication():
    assert interconnect.allreduce_time_us(MIB_128, 1, 450, 1.0, 6.6) == 0
    step = tensor_parallel.tp_step(P, "rtx-4090", 1, 8, 1)
    assert step.comm_us == 0 and step.efficiency == 1.0


@settings(max_examples=80, deadline=None)
@given(
    b1=bandwidths,
    b2=bandwidths,
    n=st.sampled_from([2, 4, 8]),
    batch=st.integers(1, 256),
    tokens=st.sampled_from([1, 128, 2048]),
    algorithm=st.sampled_from(interconnect.ALGORITHMS),
)
def test_more_link_bandwidth_never_lowers_efficiency(b1, b2, n, batch, tokens, algorithm):
    lo, hi = sorted((b1, b2))
    m = catalog.get_model("llama-2-70b")
    compute = tensor_parallel.layer_compute_us(
        tensor_parallel.layer_weight_bytes(m, "fp16"),
        tensor_parallel.layer_active_parameters(m),
        batch,
        tokens,
        n,
        3350,
        989.4,
    )
    size = tensor_parallel.activation_allreduce_bytes(m, batch, tokens)
    effs = [
        tensor_parallel.tp_efficiency(
            compute, 2 * interconnect.allreduce_time_us(size, n, bw, 1.0, 6.6, algorithm)
        )
        for bw in (lo, hi)
    ]
    assert effs[1] >= effs[0]


@settings(max_examples=40, deadline=None)
@given(gpu_id=st.sampled_from(catalog.gpu_ids()), tp=st.sampled_from([1, 2, 4, 8]))
def test_efficiency_is_a_fraction_and_comm_grows_with_batch(gpu_id, tp):
    small = tensor_parallel.tp_step(P, gpu_id, tp, 1, 1)
    large = tensor_parallel.tp_step(P, gpu_id, tp, 64, 1)
    assert 0 < small.efficiency <= 1
    assert large.comm_us >= small.comm_us
