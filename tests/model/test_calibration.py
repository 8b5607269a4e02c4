"""Engine calibration: the fitter recovers known rates from synthetic measurements, rows the model
does not describe are left out, the error summaries match hand calculations, and on the real data
the held-out error stays within the project's limit."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from gpucompare import params
from gpucompare.data import measurements
from gpucompare.model import calibration, calibration_data, work

# True rates of the synthetic engines (the same on every GPU).
TRUE = {
    "vllm": dict(
        eta_bw=0.80,
        eta_c=0.60,
        overhead_fixed_ms=0.40,
        overhead_per_layer_us=10.0,
        comm_scale=1.5,
        eta_attn=0.40,
    ),
    "llama-cpp": dict(
        eta_bw=0.65,
        eta_c=0.35,
        overhead_fixed_ms=1.50,
        overhead_per_layer_us=25.0,
        comm_scale=2.0,
        eta_attn=0.20,
    ),
}
WEIGHTS = {"vllm": ("fp16", "bf16"), "llama-cpp": ("fp16", "q4_0")}
KV = {"fp16": "fp16", "bf16": "bf16", "q4_0": "fp16"}
#: (engine, GPU) pairs measured -> the largest group measured (1: one GPU; 2: one and two GPUs).
PAIRS = {
    ("vllm", "h100-sxm"): 2,
    ("vllm", "a100-sxm-80gb"): 2,
    ("vllm", "rtx-4090"): 1,
    ("vllm", "h200-sxm"): 1,
    ("llama-cpp", "h100-sxm"): 2,
    ("llama-cpp", "rtx-4090"): 2,
    ("llama-cpp", "rtx-3090"): 1,
}
#: (metric, batch, input, output) of each measurement of a pair, per model and weight format.
SHAPES = [
    ("decode", 1, 128, 256),
    ("decode", 8, 128, 256),
    ("decode", 32, 512, 256),
    ("decode", 128, 1024, 128),
    ("prefill", 1, 512, 0),
    ("prefill", 4, 2048, 0),
    ("prefill", 1, 8192, 0),
    ("generation", 16, 1024, 128),
]
#: Models of 32 and 40 layers, MHA and GQA, one with a sliding window.
MODELS = ("llama-2-7b", "llama-2-13b", "llama-3-8b", "mistral-7b")
#: Rows per (pair, GPU count): 4 models x 2 formats x 8 shapes.
ROWS_PER_GROUP = 64


def synthetic_cases() -> list[tuple[str, work.Case]]:
    """Every synthetic measurement: (source, case)."""
    out = []
    for (engine, gpu), max_gpus in PAIRS.items():
        split = "tensor" if engine == "vllm" else "layer"
        for gpus in range(1, max_gpus + 1):
            for model in MODELS:
                for weights in WEIGHTS[engine]:
                    for metric, b, inp, outp in SHAPES:
                        c = work.Case(
                            engine=engine,
                            model=model,
                            weights=weights,
                            kv=KV[weights],
                            gpu=gpu,
                            batch=b,
                            input_tokens=inp,
                            output_tokens=outp,
                            metric=metric,
                            gpus=gpus,
                            split="none" if gpus == 1 else split,
                        )
                        out.append((f"synthetic {engine} on {gpu}", c))
    return out


def true_tokens_per_s(p, cases: list[work.Case]) -> np.ndarray:
    w = work.stack([work.work(p, c) for c in cases])
    cols = {
        "batch": [c.batch for c in cases],
        "input_tokens": [c.input_tokens for c in cases],
        "output_tokens": [c.output_tokens for c in cases],
        "metric": np.array([c.metric for c in cases]),
    }
    r = work.Rates(
        **{k: np.array([TRUE[c.engine][k] for c in cases]) for k in TRUE["vllm"]},
    )
    return work.predict(w, cols, r)


def csv_row(i: int, source: str, c: work.Case, tokens_per_s: float) -> dict:
    return {
        "id": f"syn-{i:04d}",
        "engine": c.engine,
        "engine_version": "test",
        "gpu_id": c.gpu,
        "gpus": str(c.gpus),
        "split": c.split,
        "model": c.model,
        "weights": c.weights,
        "kv_cache": c.kv,
        "batch": str(c.batch),
        "input_tokens": str(c.input_tokens),
        "output_tokens": str(c.output_tokens),
        "metric": c.metric,
        "measured_tokens_per_s": repr(float(tokens_per_s)),
        "date": "2026-11-29",
        "source": source,
        # One document per row: every row weighs 1 in the fit (source_weights), so the data, not
        # the priors, decide the offsets.
        "url": f"https://example.org/syn-{i:04d}",
        "verified": "true",
        "note": "",
    }


def write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=measurements.INFERENCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _no_fit(*args, **kwargs):
    raise AssertionError("a fit ran although it was cached")


@pytest.fixture(scope="module")
def p():
    return params.make()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, p):
    """A folder of synthetic measurements made with :data:`TRUE` and the loaded frame."""
    folder = tmp_path_factory.mktemp("synthetic")
    items = synthetic_cases()
    tps = true_tokens_per_s(p, [c for _, c in items])
    rows = [csv_row(i, s, c, t) for i, ((s, c), t) in enumerate(zip(items, tps, strict=True))]
    write_csv(folder / "inference_synthetic.csv", rows)
    return folder, measurements.load_inference(folder)


@pytest.fixture(scope="module")
def synthetic_fit(p, synthetic):
    _, frame = synthetic
    return calibration.fit_frame(p, frame)


def test_synthetic_design_is_as_planned(synthetic):
    _, frame = synthetic
    # 7 pairs on one GPU and 4 of them on two: 11 groups x 64 rows = 704.
    assert len(frame) == 11 * ROWS_PER_GROUP == 704
    assert (frame["gpus"] == 2).sum() == 4 * ROWS_PER_GROUP


def test_fit_recovers_the_synthetic_predictions(p, synthetic, synthetic_fit):
    _, frame = synthetic
    pred = calibration.predictions(p, synthetic_fit, frame)
    err = np.abs(pred / frame["measured_tokens_per_s"].to_numpy() - 1)
    # The priors pull the offsets a little towards 0; the data hold them within a few percent.
    assert np.median(err) < 0.02
    assert err.max() < 0.05


def test_fit_recovers_the_bandwidth_and_compute_fractions(synthetic_fit):
    # Small-batch decode is bandwidth-bound and long prefills compute-bound, so the data pin eta_bw
    # and the prefill's matmul share eta_c x prefill_scale down (every synthetic decode is
    # bandwidth-bound, so eta_c and prefill_scale apart, the overheads, the communication scale and
    # eta_attn trade off against each other and lean on the priors: not compared).
    for engine, gpu in PAIRS:
        r = synthetic_fit.rates([engine], [gpu])
        assert r.eta_bw[0] == pytest.approx(TRUE[engine]["eta_bw"], rel=0.05)
        assert r.eta_c[0] * r.prefill_scale[0] == pytest.approx(TRUE[engine]["eta_c"], rel=0.05)


def test_fit_is_deterministic(p, synthetic, synthetic_fit):
    _, frame = synthetic
    again = calibration.fit_frame(p, frame)
    assert np.array_equal(again.x, synthetic_fit.x)


def test_warm_start_reaches_the_same_optimum(p, synthetic, synthetic_fit):
    _, frame = synthetic
    warm = calibration.fit_frame(p, frame, warm=synthetic_fit)
    a = calibration.predictions(p, warm, frame)
    b = calibration.predictions(p, synthetic_fit, frame)
    np.testing.assert_allclose(a, b, rtol=1e-4)


def test_held_out_prediction_ignores_the_held_out_rows(p, synthetic):
    # Leave-one-group-out: the prediction of a group's rows must not depend on their measured
    # values. Scale one source's measurements by 1.5: its held-out predictions stay put (up to the
    # optimizer's tolerance; the warm start moves), while its in-sample predictions follow.
    _, frame = synthetic
    target = "synthetic vllm on rtx-4090"
    mask = (frame["source"] == target).to_numpy()
    # Two groups (the target source and the rest) keep it to two fits per call.
    groups = pd.Series(np.where(mask, "target", "rest"), index=frame.index)
    bent = frame.copy()
    bent.loc[mask, "measured_tokens_per_s"] *= 1.5

    fit_a = calibration.fit_frame(p, frame)
    fit_b = calibration.fit_frame(p, bent)
    held_a = calibration._held_out(p, frame, groups, fit_a, {})
    held_b = calibration._held_out(p, bent, groups, fit_b, {})
    assert np.isfinite(held_a).all() and len(held_a) == len(frame)
    np.testing.assert_allclose(held_b[mask], held_a[mask], rtol=1e-3)
    in_a = calibration.predictions(p, fit_a, frame)[mask]
    in_b = calibration.predictions(p, fit_b, bent)[mask]
    assert np.median(in_b / in_a) > 1.1
    # Truth has no GPU effect, yet the left-out pair loses vLLM's consumer-segment offsets (the RTX
    # 4090 is its only consumer GPU), which carry part of vLLM's difference from the typical
    # engine: the prediction is a fallback, still within the project's 25% limit.
    truth = frame["measured_tokens_per_s"].to_numpy()
    assert np.median(np.abs(held_a[mask] / truth[mask] - 1)) < 0.25


def test_one_cross_validation_computes_each_rows_work_once_and_the_same(
    p, synthetic, synthetic_fit, monkeypatch
):
    # The refits of a cross-validation share a memo of the rows' work: the same numbers as work
    # computed afresh for every fit, each distinct row computed once.
    _, frame = synthetic
    half = len(frame) // 2
    first, second = frame.iloc[:half].reset_index(drop=True), frame.iloc[half // 2 :]
    second = second.reset_index(
        drop=True
    )  # overlaps the first half: shared rows come from the memo
    fresh = [calibration.predictions(p, synthetic_fit, f) for f in (first, second)]
    calls = []
    real = calibration.work.work
    monkeypatch.setattr(calibration.work, "work", lambda p_, c: calls.append(c) or real(p_, c))
    works: dict = {}
    shared = [calibration.predictions(p, synthetic_fit, f, works) for f in (first, second)]
    for a, b in zip(fresh, shared, strict=True):
        np.testing.assert_array_equal(a, b)
    distinct = set(calibration_data.cases_of(frame))  # the two parts cover every row
    assert len(calls) == len(set(calls)) == len(distinct)


def test_not_modelled_reason():
    base = {"engine": "llama-cpp", "gpu_id": "rtx-3090", "weights": "fp16", "split": "layer"}
    assert calibration_data.not_modelled_reason(base) is None
    assert calibration_data.not_modelled_reason(dict(base, split="none")) is None
    # llama.cpp's pipeline = its layer split.
    assert calibration_data.not_modelled_reason(dict(base, split="pipeline")) is None
    row = calibration_data.not_modelled_reason(dict(base, split="row"))
    assert row and "row" in row and "layer" in row
    # vLLM splits by tensor: a pipeline row is not its own split.
    assert calibration_data.not_modelled_reason(
        {"engine": "vllm", "gpu_id": "h100-sxm", "weights": "fp16", "split": "pipeline"}
    )
    fp8 = {"engine": "vllm", "gpu_id": "a100-sxm-80gb", "weights": "fp8", "split": "none"}
    reason = calibration_data.not_modelled_reason(fp8)
    assert reason and "a100-sxm-80gb" in reason and "FP8" in reason
    assert calibration_data.not_modelled_reason(dict(fp8, gpu_id="h100-sxm")) is None


def test_calibration_rows_drop_excluded_and_unmodelled(tmp_path, p):
    items = [
        ("s1", work.Case("vllm", "llama-2-7b", "fp16", "fp16", "h100-sxm", 1, 128, 128)),
        ("s1", work.Case("vllm", "llama-2-7b", "fp16", "fp16", "h100-sxm", 8, 128, 128)),
        ("s1", work.Case("vllm", "llama-2-7b", "fp16", "fp16", "h100-sxm", 64, 128, 128)),
        ("s2", work.Case("llama-cpp", "llama-2-7b", "q4_0", "fp16", "rtx-4090", 1, 0, 128)),
        (
            "s2",
            work.Case(
                "llama-cpp", "llama-2-7b", "q4_0", "fp16", "rtx-4090", 1, 0, 128, "decode", 2, "row"
            ),
        ),
        (
            "s2",
            work.Case(
                "llama-cpp",
                "llama-2-7b",
                "q4_0",
                "fp16",
                "rtx-4090",
                1,
                0,
                128,
                "decode",
                2,
                "layer",
            ),
        ),
        ("s3", work.Case("vllm", "llama-2-7b", "fp8", "fp8", "a100-sxm-80gb", 1, 128, 128)),
    ]
    rows = [csv_row(i, s, c, 100.0) for i, (s, c) in enumerate(items)]
    write_csv(tmp_path / "inference_x.csv", rows)
    (tmp_path / "excluded.yaml").write_text(
        "schema_version: 1\nexcluded:\n  - reason: test\n    ids: [syn-0001, syn-0005]\n"
    )
    kept = calibration.calibration_rows(tmp_path)
    # Dropped: syn-0001 and syn-0005 (excluded), syn-0004 (row split), syn-0006 (FP8 on an A100).
    assert sorted(kept["id"]) == ["syn-0000", "syn-0002", "syn-0003"]
    assert list(kept.index) == [0, 1, 2]


def test_calibration_rows_on_the_real_data_leave_out_every_exclusion():
    kept = calibration.calibration_rows()
    excluded = measurements.load_exclusions()
    assert len(excluded) > 0
    assert not set(kept["id"]) & set(excluded)
    assert not (kept["split"] == "row").any()
    everything = measurements.load_inference()
    assert set(kept["id"]) <= set(everything["id"])


def test_error_summary_hand_calculation():
    cv = pd.DataFrame(
        {
            "engine": ["a", "a", "a", "b"],
            "error_in_sample": [0.1, -0.3, 0.2, -0.5],
            "error_held_out_gpu": [0.0, 0.4, -0.6, 0.1],
            "error_held_out_source": [-0.2, -0.2, 0.9, 0.0],
        }
    )
    s = calibration.error_summary(cv)
    assert list(s.index) == ["a", "b", "all"]
    assert list(s["measurements"]) == [3, 1, 4]
    # a: |0.1|, |0.3|, |0.2| -> median 0.2, worst 0.3; b: 0.5; all: 0.1 0.2 0.3 0.5 -> 0.25, 0.5.
    assert s.loc["a", "median_abs_error_in_sample"] == pytest.approx(0.2)
    assert s.loc["a", "worst_abs_error_in_sample"] == pytest.approx(0.3)
    assert s.loc["b", "median_abs_error_in_sample"] == pytest.approx(0.5)
    assert s.loc["all", "median_abs_error_in_sample"] == pytest.approx(0.25)
    assert s.loc["all", "worst_abs_error_in_sample"] == pytest.approx(0.5)
    # Held out by GPU: a: 0, 0.4, 0.6 -> 0.4, 0.6; all: 0 0.1 0.4 0.6 -> 0.25, 0.6.
    assert s.loc["a", "median_abs_error_held_out_gpu"] == pytest.approx(0.4)
    assert s.loc["all", "median_abs_error_held_out_gpu"] == pytest.approx(0.25)
    assert s.loc["all", "worst_abs_error_held_out_gpu"] == pytest.approx(0.6)
    # Held out by source: a: 0.2 0.2 0.9 -> 0.2, 0.9; all: 0 0.2 0.2 0.9 -> 0.2, 0.9.
    assert s.loc["a", "median_abs_error_held_out_source"] == pytest.approx(0.2)
    assert s.loc["all", "median_abs_error_held_out_source"] == pytest.approx(0.2)
    assert s.loc["all", "worst_abs_error_held_out_source"] == pytest.approx(0.9)


def test_provenance_labels(synthetic_fit):
    # vLLM on the H100: 64 rows on 1 GPU and 64 on 2 = 128; vLLM in all: H100 128 + A100 128 +
    # RTX 4090 64 + H200 64 = 384; llama.cpp: H100 128 + RTX 4090 128 + RTX 3090 64 = 320.
    prov = calibration.provenance(synthetic_fit, "vllm", "h100-sxm")
    assert (prov.rows_pair, prov.rows_engine, prov.rows_gpu) == (128, 384, 256)
    assert prov.label == "fitted on 128 measurements of vllm on h100-sxm"
    # llama.cpp never ran on the H200; vLLM did (64 rows).
    prov = calibration.provenance(synthetic_fit, "llama-cpp", "h200-sxm")
    assert (prov.rows_pair, prov.rows_engine, prov.rows_gpu) == (0, 320, 64)
    assert prov.label.startswith("fallback: llama-cpp's values fitted on 320 measurements")
    assert "and 64 measurements of other engines on it" in prov.label
    # Nothing ran on the L40S.
    prov = calibration.provenance(synthetic_fit, "llama-cpp", "l40s")
    assert prov.rows_gpu == 0
    assert prov.label.startswith("fallback: llama-cpp's values fitted on 320 measurements")
    assert "other engines" not in prov.label
    # An engine with no measurements.
    prov = calibration.provenance(synthetic_fit, "sglang", "h100-sxm")
    assert (prov.rows_pair, prov.rows_engine) == (0, 0)
    assert prov.label == "fallback: every engine's typical values (this engine has no measurements)"


def test_unmeasured_engine_falls_back_to_the_typical_values(synthetic_fit):
    # With no engine, engine-segment or engine-GPU offset, sglang reads the same rates as any
    # other engine without measurements.
    a = synthetic_fit.rates(["sglang"], ["h100-sxm"])
    b = synthetic_fit.rates(["tgi"], ["h100-sxm"])
    for field in work.Rates.__dataclass_fields__:
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


# --- Real data ----------------------------------------------------------------------------------


def test_real_parameters_of_an_engine_without_measurements():
    # sglang and tgi have no rows in data/measurements today.
    assert not (measurements.load_inference()["engine"].isin(["sglang", "tgi"])).any()
    for engine in ("sglang", "tgi"):
        got = calibration.parameters(engine, "h100-sxm")
        assert got["fitted_on_rows"] == 0 and got["engine_rows"] == 0
        assert got["provenance"].startswith("fallback: every engine's typical values")
        assert 0 < got["achieved_bandwidth_fraction"] < 1
    got = calibration.parameters("vllm", "h100-sxm")
    kept = calibration.calibration_rows()
    assert (
        got["fitted_on_rows"]
        == int(((kept["engine"] == "vllm") & (kept["gpu_id"] == "h100-sxm")).sum())
        > 0
    )


@pytest.fixture(scope="module")
def real_cv():
    """The one cross-validation of the suite on the real data (~20 s)."""
    return calibration.cross_validate()


def test_real_data_in_sample_and_held_out_median_error_within_25_percent(real_cv):
    cv = real_cv
    measured = cv["measured_tokens_per_s"].to_numpy()
    assert len(cv) == len(calibration.calibration_rows())
    in_sample = np.abs(cv["predicted_tokens_per_s"].to_numpy() / measured - 1)
    by_source = np.abs(cv["held_out_source_tokens_per_s"].to_numpy() / measured - 1)
    by_gpu = np.abs(cv["held_out_gpu_tokens_per_s"].to_numpy() / measured - 1)
    assert (
        np.isfinite(in_sample).all() and np.isfinite(by_source).all() and np.isfinite(by_gpu).all()
    )
    # The rule: a test fails if the held-out median passes 25%.
    assert np.median(in_sample) < 0.25
    assert np.median(by_source) < 0.25
    assert np.median(by_gpu) < 0.25
    # The summary's overall row agrees with the medians computed here.
    s = calibration.error_summary(cv).loc["all"]
    assert s["median_abs_error_held_out_source"] == pytest.approx(np.median(by_source))
    assert s["median_abs_error_in_sample"] == pytest.approx(np.median(in_sample))


# --- the disk cache of the fit (issue 21) ----------------------------------------------------


def test_a_fit_read_from_the_disk_cache_equals_the_fit_it_stored(tmp_path, monkeypatch):
    """The cached fit gives the same numbers, bit for bit, as a fit computed in this process: its
    parameter vector, offsets' keys and rows; and a fit read back runs no least squares."""
    from gpucompare.core import paths
    from gpucompare.model import fitcache

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(calibration, "_FITS", {})
    fresh_fit, fresh_rows = calibration.fitted()  # computed, and stored
    assert len(list((tmp_path / "fits").glob("*.json"))) == 1
    independent = calibration.fit_frame(calibration.base_params(), calibration.calibration_rows())
    assert np.array_equal(fresh_fit.x, independent.x)

    monkeypatch.setattr(calibration, "_FITS", {})

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran although it was cached")

    monkeypatch.setattr(calibration, "fit_frame", no_fit)
    cached_fit, cached_rows = calibration.fitted()
    assert np.array_equal(cached_fit.x, independent.x)
    assert cached_fit.layout == independent.layout
    pd.testing.assert_frame_equal(cached_rows, fresh_rows)
    pd.testing.assert_frame_equal(cached_fit.rows, independent.rows)
    a, b = cached_fit.rates(["vllm"], ["h100-sxm"]), independent.rates(["vllm"], ["h100-sxm"])
    assert vars(a).keys() == vars(b).keys()
    assert all(np.array_equal(vars(a)[k], vars(b)[k]) for k in vars(a))
    assert fitcache.key(calibration.FIT_CACHE) == fitcache.key(calibration.FIT_CACHE)


def test_a_fit_read_from_the_disk_cache_counts_its_rows_as_the_fresh_fit(
    tmp_path, monkeypatch, synthetic, synthetic_fit
):
    """The provenance of a fit read back (its rows as plain columns, no DataFrame built) gives the
    hand-counted numbers of :func:`test_provenance_labels`, and the rows' table is the one
    calibration_rows returns."""
    from gpucompare.core import paths

    folder, frame = synthetic
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(calibration, "_FITS", {})
    kept = calibration.calibration_rows(folder)
    assert len(kept) == len(frame) == 704  # every synthetic row is modelled and kept
    # The fit itself is the module's (same rows, same parameters): no second least squares.
    monkeypatch.setattr(calibration, "fit_frame", lambda p, f: synthetic_fit)
    calibration.fitted(folder)  # stored

    monkeypatch.setattr(calibration, "_FITS", {})
    monkeypatch.setattr(calibration, "fit_frame", _no_fit)
    cached = calibration.base_fit(folder)
    assert cached.table._frame is None  # plain columns: pandas not needed to count
    prov = calibration.provenance(cached, "vllm", "h100-sxm")
    assert (prov.rows_pair, prov.rows_engine, prov.rows_gpu) == (128, 384, 256)
    prov = calibration.provenance(cached, "llama-cpp", "h200-sxm")
    assert (prov.rows_pair, prov.rows_engine, prov.rows_gpu) == (0, 320, 64)
    prov = calibration.provenance(cached, "sglang", "l40s")
    assert (prov.rows_pair, prov.rows_engine, prov.rows_gpu) == (0, 0, 0)
    assert cached.table.column("engine") == kept["engine"].tolist()
    pd.testing.assert_frame_equal(cached.rows, synthetic_fit.rows, check_exact=True)
    fit, rows = calibration.fitted(folder)
    assert fit is cached
    pd.testing.assert_frame_equal(rows, kept, check_exact=True)
    assert calibration.fitted(folder)[1] is rows  # built once


def test_pair_rates_are_the_rates_of_the_pair_computed_once(synthetic_fit):
    a = synthetic_fit.pair_rates("vllm", "rtx-4090")
    b = synthetic_fit.rates(["vllm"], ["rtx-4090"])
    assert vars(a).keys() == vars(b).keys()
    assert all(vars(a)[k].tobytes() == vars(b)[k].tobytes() for k in vars(a))
    assert synthetic_fit.pair_rates("vllm", "rtx-4090") is a
    with pytest.raises(ValueError):  # shared between callers: read-only
        a.eta_bw[0] = 0.5


def test_the_fit_cache_key_follows_the_data_and_the_defaults(tmp_path, monkeypatch):
    import shutil

    from gpucompare.core import paths
    from gpucompare.model import fitcache

    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    before = fitcache.key(calibration.FIT_CACHE)
    csv_file = sorted((data / "measurements").glob("inference_*.csv"))[0]
    csv_file.write_text(csv_file.read_text() + "\n")
    assert fitcache.key(calibration.FIT_CACHE) != before
    assert fitcache.key("another-fit") != fitcache.key(calibration.FIT_CACHE)


def test_a_fit_cache_entry_of_another_shape_is_a_miss(tmp_path, monkeypatch):
    from gpucompare.core import filecache, paths
    from gpucompare.model import fitcache

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    key = fitcache.key(calibration.FIT_CACHE)
    filecache.JsonCache(tmp_path / "fits", calibration.FIT_CACHE, 8).put(key, {"x": [1.0]})
    assert fitcache.load(calibration.FIT_CACHE, key) is None


# --- the disk cache of the cross-validation (issue 21) ---------------------------------------


@pytest.fixture
def small_folder(tmp_path, p):
    """48 synthetic measurements: three (engine, GPU) pairs on one GPU, one model; a
    cross-validation of them takes five small refits (2 GPUs, 3 sources)."""
    keep = {("vllm", "h100-sxm"), ("vllm", "rtx-4090"), ("llama-cpp", "h100-sxm")}
    items = [
        (s, c)
        for s, c in synthetic_cases()
        if (c.engine, c.gpu) in keep and c.gpus == 1 and c.model == "llama-2-7b"
    ]
    tps = true_tokens_per_s(p, [c for _, c in items])
    folder = tmp_path / "measurements"
    folder.mkdir()
    rows = [csv_row(i, s, c, t) for i, ((s, c), t) in enumerate(zip(items, tps, strict=True))]
    write_csv(folder / "inference_synthetic.csv", rows)
    return folder


def test_a_cross_validation_read_from_the_disk_cache_equals_a_fresh_one(
    tmp_path, monkeypatch, small_folder
):
    """The cached cross-validation is the computed one bit for bit (values, dtypes, index, column
    order), and a cache hit runs no fit at all (neither the full fit nor a held-out one)."""
    from gpucompare.core import filecache, paths

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(calibration, "_FITS", {})
    monkeypatch.setattr(calibration, "_CVS", {})
    fresh = calibration.cross_validate(small_folder)  # computed, and stored
    assert len(fresh) == 48
    marked = [
        p
        for p in (tmp_path / "cache" / "fits").glob("*.json")
        if filecache.read_marked(p, calibration.CV_CACHE)
    ]
    assert len(marked) == 1

    monkeypatch.setattr(calibration, "_FITS", {})
    monkeypatch.setattr(calibration, "_CVS", {})
    monkeypatch.setattr(calibration, "fit_frame", _no_fit)
    cached = calibration.cross_validate(small_folder)
    pd.testing.assert_frame_equal(
        cached, fresh, check_exact=True, check_index_type=True, check_column_type=True
    )
    assert list(cached.columns) == list(fresh.columns)
    assert list(cached.dtypes) == list(fresh.dtypes)
    for col in fresh.columns:
        if fresh[col].dtype.kind == "f":  # bits, so that -0.0 or a last-digit change would show
            assert cached[col].to_numpy().tobytes() == fresh[col].to_numpy().tobytes(), col


def test_a_corrupt_cross_validation_entry_is_computed_again(tmp_path, monkeypatch, small_folder):
    """A marked entry that is not a table is recomputed and overwritten; a file under an entry's
    name without the marker (unreadable) is recomputed around and left as it is."""
    import json

    from gpucompare.core import paths
    from gpucompare.model import fitcache

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(calibration, "_FITS", {})
    monkeypatch.setattr(calibration, "_CVS", {})
    fresh = calibration.cross_validate(small_folder)
    entry = tmp_path / "cache" / "fits" / f"{fitcache.key(calibration.CV_CACHE, small_folder)}.json"
    doc = json.loads(entry.read_text())
    doc["payload"]["data"] = doc["payload"]["data"][:-1]  # a column short: not a table
    entry.write_text(json.dumps(doc))

    monkeypatch.setattr(calibration, "_CVS", {})
    again = calibration.cross_validate(small_folder)
    pd.testing.assert_frame_equal(again, fresh, check_exact=True)
    assert len(json.loads(entry.read_text())["payload"]["data"]) == len(fresh.columns)

    entry.write_text("{not json")
    monkeypatch.setattr(calibration, "_CVS", {})
    pd.testing.assert_frame_equal(calibration.cross_validate(small_folder), fresh, check_exact=True)
    assert entry.read_text() == "{not json"


def test_the_cross_validation_cache_key_follows_the_measurements(small_folder):
    from gpucompare.model import fitcache

    before = fitcache.key(calibration.CV_CACHE, small_folder)
    assert before != fitcache.key(calibration.FIT_CACHE, small_folder)
    csv_file = small_folder / "inference_synthetic.csv"
    csv_file.write_text(csv_file.read_text() + "\n")
    assert fitcache.key(calibration.CV_CACHE, small_folder) != before
