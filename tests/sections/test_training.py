"""Training section's tables, figure and captions: the fit table's acceptance facts by hand (16 bytes
per AdamW parameter, QLoRA's NF4 weights), every run no faster than the 6ND / peak floor, captions
against their own tables, a run whose rollbacks outpace its checkpoints, and the parameters the
section reads (exactly the notebook's declared ones)."""

from __future__ import annotations

import re

import nbformat
import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import training_calibration as tc
from gpucompare.report import execute
from gpucompare.sections import training

GB = 1e9
GIB = 2**30
LLAMA2_7B = 6_738_415_616  # parameters (data/models.yaml)


@pytest.fixture(scope="module")
def p():
    return params.make()


@pytest.fixture(scope="module")
def fit(p):
    return training.fit(p)


@pytest.fixture(scope="module")
def time_cost(p):
    return training.time_and_cost(p)


def _methods() -> dict[str, tuple[str, str]]:
    return {label: (s.model, s.method) for label, s in training.jobs(params.make())}


def test_default_jobs_are_the_former_module_constant():
    """The parameter's defaults are the six jobs the section had as a constant (the numbers of the
    page do not change): AdamW, bf16, 2,048-token sequences, one sequence per micro-batch."""
    assert _methods() == {
        "Llama 2 7B LoRA": ("llama-2-7b", "lora"),
        "Llama 2 7B QLoRA": ("llama-2-7b", "qlora"),
        "Llama 2 7B full": ("llama-2-7b", "full"),
        "Llama 3 8B LoRA": ("llama-3-8b", "lora"),
        "Llama 3 8B full": ("llama-3-8b", "full"),
        "Llama 2 70B QLoRA": ("llama-2-70b", "qlora"),
    }
    for _, setup in training.jobs(params.make()):
        assert (setup.optimizer, setup.precision, setup.seq_len, setup.micro_batch) == (
            "adamw",
            "bf16",
            2048,
            1,
        )


def test_the_jobs_parameter_sets_the_rows():
    q = params.make(
        gpus=["h100-sxm", "rtx-4090"],
        training_jobs=[{"name": "Mistral QLoRA", "model": "mistral-7b", "method": "qlora"}],
    )
    t = training.time_and_cost(q).frame
    assert set(t.index.get_level_values("job")) == {"Mistral QLoRA"}
    assert "Mistral QLoRA" in training.time_and_cost(q).caption
    # Adapter jobs only: the fit caption has no full fine-tuning sentence.
    assert "fine-tuning keeps" not in training.fit(q).caption


# --- What fits --------------------------------------------------------------------------------------


def test_full_finetune_of_llama2_7b_with_adamw_needs_sharding_on_an_80_gb_card(fit):
    # ZeRO §3.1: bf16 weights 2 + gradients 2 + fp32 master, momentum, variance 12 = 16 bytes per
    # parameter: 16 x 6.74e9 = 107.8 GB, more than an 80 GiB card (85.9 GB) holds before activations.
    states_gb = 16 * LLAMA2_7B / GB
    assert states_gb == pytest.approx(107.8, abs=0.05) and states_gb > 80 * GIB / GB
    for gpu in ("h100-sxm", "a100-sxm-80gb"):
        row = fit.frame.loc[("Llama 2 7B full", gpu)]
        assert not row["fits_one_gpu"]
        assert row["gpus_needed"] == 2
        # ZeRO-3 divides every state by the GPU count: the parts times the GPUs are the 16 bytes.
        parts = row["weights_gb"] + row["gradients_gb"] + row["optimizer_gb"]
        assert parts * row["gpus_needed"] == pytest.approx(states_gb)
        assert row["memory_per_gpu_gb"] <= row["usable_gb"]
    # The 141 GiB H200 holds it unsharded (107.8 GB + 9.4 GB of activations < 150.3 GB).
    assert fit.frame.loc[("Llama 2 7B full", "h200-sxm"), "fits_one_gpu"]


def test_qlora_of_llama2_7b_fits_one_rtx_4090_by_hand(fit):
    # Adapters: rank 16 on q, k, v, o (4096 -> 4096, 4096 -> 4096 x 3) and gate, up, down
    # (4096 <-> 11008): 32 layers x 16 x (4 x 8192 + 3 x 15104) = 39,976,960 parameters.
    adapters = 32 * 16 * (4 * 8192 + 3 * 15104)
    assert adapters == 39_976_960
    # NF4 frozen weights: 4 + 8/64 + 32/(64 x 256) bits, embeddings and LM head (2 x 32,000 x
    # 4,096) in 16 bits; adapters 2 + 2 + 12 bytes; activations 34 s b h L + 4 s b V (bf16, s 2,048,
    # b 1, FlashAttention).
    emb = 2 * 32_000 * 4096
    nf4 = 4 + 8 / 64 + 32 / (64 * 256)
    weights = (LLAMA2_7B - emb) * nf4 / 8 + emb * 2 + adapters * 2
    activations = 34 * 2048 * 4096 * 32 + 4 * 2048 * 32_000
    total = weights + adapters * (2 + 12) + activations
    usable = (24 - 1) * GIB  # 24 GiB less the 1 GiB reserve
    assert total < usable
    row = fit.frame.loc[("Llama 2 7B QLoRA", "rtx-4090")]
    assert row["fits_one_gpu"] and row["gpus_needed"] == 1 and row["recompute"] == "none"
    assert row["weights_gb"] == pytest.approx(weights / GB)
    assert row["activations_gb"] == pytest.approx(activations / GB)
    assert row["memory_per_gpu_gb"] == pytest.approx(total / GB)
    assert row["largest_micro_batch"] >= 1


def test_the_report_gpus_come_first_then_the_key_gpus(p):
    q = params.make(gpus=["l4", "rtx-4090"])
    assert training.gpu_ids(q)[:3] == ["l4", "rtx-4090", "h100-sxm"]
    assert len(set(training.gpu_ids(q))) == len(training.gpu_ids(q))
    assert training.gpu_ids(p) == list(dict.fromkeys([*p.gpus, *training.KEY_GPUS]))


def test_fit_caption_agrees_with_its_table(fit):
    t = fit.frame
    for label, (model, method) in _methods().items():
        if method != "full":
            continue
        state = 16 * catalog.get_model(model).parameters / GB
        assert f"{label} fine-tuning keeps {state:,.0f} GB" in fit.caption
        one = [g for g in t.xs(label, level="job").index if t.loc[(label, g), "fits_one_gpu"]]
        assert f"fits one {' or '.join(one)}" in fit.caption
    split = t[[not f for f in t["fits_one_gpu"]]]
    for (job, gpu), n in split["gpus_needed"].items():
        if _methods()[job][1] != "full":
            assert f"{int(n)} {gpu} cards" in fit.caption


# --- Time and cost ----------------------------------------------------------------------------------


def test_no_run_beats_the_6nd_over_peak_floor(time_cost):
    # A token of full training costs at least 6 P FLOPs (Kaplan et al.), of LoRA at least 4 P (no
    # weight gradients of frozen weights); at most the dense bf16 peak on every GPU.
    for (job, gpu), row in time_cost.frame.iterrows():
        if row["hours"] is None:
            continue
        model, method = _methods()[job]
        flops_per_token = (6 if method == "full" else 4) * catalog.get_model(model).parameters
        peak = catalog.get_gpu(gpu).spec("bf16_tensor_tflops") * 1e12
        floor = training.TOKENS * flops_per_token / (row["gpus"] * peak) / 3600
        assert row["hours"] >= floor, (job, gpu)
        assert row["gpu_hours"] == pytest.approx(row["hours"] * row["gpus"])
        assert 0 < row["mfu_pct"] <= 100 and 0 < row["scaling_efficiency_pct"] <= 100


def test_time_cost_rows_follow_the_fit_table(fit, time_cost):
    assert list(fit.frame.index) == list(time_cost.frame.index)
    gpus = time_cost.frame["gpus"].tolist()
    assert gpus == fit.frame["gpus_needed"].tolist()


def test_time_cost_caption_agrees_with_its_table(p, time_cost):
    t, caption = time_cost.frame, time_cost.caption
    for column, how in (("cost_usd_rent", "renting"), ("cost_usd_own", "owning")):
        winners = training.cheapest(t, column)
        # By hand: the smallest value per job.
        for job, gpu in winners.items():
            values = t.xs(job, level="job")[column].dropna()
            assert values[gpu] == min(values)
        sentence = caption.split(f"{how}, the cheapest GPU is ")[1].split(";")[0].split(".")[0]
        for gpu in set(winners.values()):
            assert f"the {gpu} for" in sentence
    a, b = p.gpus[0], p.gpus[1]
    ratio = (t.xs(b, level="gpu")["hours"] / t.xs(a, level="gpu")["hours"]).astype(float)
    assert f"{ratio.min():.1f}x to {ratio.max():.1f}x sooner" in caption


def test_rollbacks_that_outpace_checkpoints_leave_no_hours():
    """At a million memory errors per GB-year a GPU without ECC rolls back faster than it
    checkpoints: its runs never finish, the table says so with empty cells, the caption stays whole."""
    q = params.make(dram_errors_per_gb_year=1e6)
    shown = training.time_and_cost(q)
    row = shown.frame.loc[("Llama 2 7B LoRA", "rtx-4090")]
    assert row["hours"] is None and row["cost_usd_rent"] is None
    assert shown.frame.loc[("Llama 2 7B LoRA", "h100-sxm"), "hours"] is not None
    assert "rtx-4090" not in shown.caption and "sooner" not in shown.caption
    shown._repr_mimebundle_()


# --- Scaling --------------------------------------------------------------------------------------


def test_scaling_caption_quotes_the_figure_data(p):
    fig = training.scaling(p)
    t = training._scaling_frame(p)
    for g in training.SCALING_FIGURE_GPUS:
        eff = t.loc[(g, training.NODE_GPUS), "scaling_efficiency_pct"]
        assert f"{eff:.0f}% over {training.link_words(g)} ({g})" in fig.caption
    # NVSwitch keeps the most at one node; host-staged PCIe the least.
    at_node = t.xs(training.NODE_GPUS, level="gpus")["scaling_efficiency_pct"]
    assert at_node.idxmax() == "h100-sxm" and at_node.idxmin() == "rtx-4090"
    assert training.link_words("rtx-4090") == "PCIe via host memory"
    assert training.link_words("l40s") == "PCIe with P2P"
    assert training.link_words("h100-sxm") == "NVSwitch"
    # Throughput = GPUs x tokens per GPU-step / step: never above linear scaling of one GPU.
    for g in training.SCALING_FIGURE_GPUS:
        one = t.loc[(g, 1), "throughput_tokens_per_s"]
        for n, row in t.xs(g, level="gpu").iterrows():
            assert row["throughput_tokens_per_s"] <= n * one * (1 + 1e-9)
            assert row["throughput_tokens_per_s"] == pytest.approx(
                n * one * row["scaling_efficiency_pct"] / 100
            )


# --- Calibration --------------------------------------------------------------------------------


def test_calibration_caption_reports_the_datacenter_error(p):
    shown = training.calibration(p)
    t = shown.frame
    held = tc.calibration(p).held_out()
    assert t.loc["datacenter", "measurements"] == held["datacenter"]["rows"]
    d = 100 * held["datacenter"]["median_abs_error"]
    c = 100 * held["consumer"]["median_abs_error"]
    assert f"consumer GPUs by a median {c:.0f}%" in shown.caption
    assert f"datacenter GPUs by a median {d:.0f}%" in shown.caption
    source_out = 100 * tc.calibration(p).held_out("loso_error")["datacenter"]["median_abs_error"]
    assert f"datacenter GPUs by {source_out:.0f}%" in shown.caption
    # The honest part: the datacenter class is the worse one, and the caption says so.
    assert d > c and "so the datacenter hours and costs above are uncertain" in shown.caption
    assert t.loc["all", "measurements"] == len(tc.load_training())


def test_calibration_caption_states_the_qlora_dequantisation(p):
    shown = training.calibration(p)
    cal = tc.calibration(p)
    held = cal.held_out_dequant()
    # The published pairs (data/measurements/training.csv): torchtune's RTX 4090 QLoRA 2,413 against
    # LoRA 3,083 tokens/s (78%) is the slowest, Unsloth's RTX 5090 Qwen3 4B 6,000 / 6,100 (98%) the
    # fastest of the six.
    assert held["pairs"] == 6
    assert f"{2413 / 3083:.0%} to {6000 / 6100:.0%} of the speed" in shown.caption
    assert f"{cal.dequant_factor:.1f} times the memory traffic" in shown.caption
    assert f"within a median {100 * held['median_abs_error']:.0f}%" in shown.caption
    assert f"(worst {100 * held['max_abs_error']:.0f}%)" in shown.caption


def test_measurements_caption_counts_its_rows(p):
    shown = training.measurements(p)
    err = shown.frame["error_held_out_pct"].astype(float)
    n = int(re.match(r"(\d+) of (\d+)", shown.caption).group(1))
    assert n == int((err.abs() <= 20).sum())
    assert list(err.abs()) == sorted(err.abs(), reverse=True)
    assert f"{err.index[0]} ({err.iloc[0]:+.0f}%)" in shown.caption


def test_sources_count_every_measurement():
    t = training.sources().frame
    assert t["measurements"].sum() == len(tc.load_training())
    assert t["url"].str.startswith("https://").all()


# --- Parameters -----------------------------------------------------------------------------------


def _declared() -> set[str]:
    nb = nbformat.read(paths.notebooks_dir() / "08_training.ipynb", as_version=4)
    return set(execute.parameter_names(nb))


def _run_all(q) -> None:
    training.fit(q)
    training.time_and_cost(q)
    training.scaling(q)
    training.calibration(q)
    training.measurements(q)


def test_the_section_reads_exactly_the_declared_parameters(monkeypatch):
    """Every declared parameter is read (else a change to it re-runs the section for nothing) and no
    other (else the build would not inject it)."""
    declared = _declared()
    monkeypatch.setattr(tc, "_CACHE", {})  # the calibration reads its parameters once per process
    _run_all(params.SectionParams(params.make(), declared))
    for name in sorted(declared):
        monkeypatch.setattr(tc, "_CACHE", {})
        with pytest.raises(InputError, match=f"reads parameter '{name}'"):
            _run_all(params.SectionParams(params.make(), declared - {name}))
