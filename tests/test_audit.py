"""The claims audit: every claim recomputed by a registered check; recomputations against hand
calculations written here; the CLI's JSON contract."""

from __future__ import annotations

import json

import pytest

from gpucompare import audit, params
from gpucompare.data import claims
from gpucompare.sections import summary


@pytest.fixture(scope="module")
def rows():
    return {r["id"]: r for r in audit.run()}


def test_every_claim_has_a_check_and_a_valid_verdict(rows):
    assert len(rows) == len(claims.claims())
    assert all(r["verdict"] in audit.VERDICTS and r["explanation"] for r in rows.values())


def test_at_least_ten_errors_beyond_the_two_named_in_the_brief(rows):
    named = {"mem-7b-fp16-bs1-kv", "cpm-h100-7b-fp16-bs1"}
    wrong = {i for i, r in rows.items() if r["verdict"] in ("wrong", "misleading")}
    assert named <= wrong
    assert len(wrong - named) >= 8


@pytest.mark.parametrize(
    ("claim_id", "expected", "verdict"),
    [
        # KV cache: 2 x 32 layers x 32 heads x 128 x 2 B x 4,096 tokens = 2.147e9 B.
        ("mem-7b-fp16-bs1-kv", 2 * 32 * 32 * 128 * 2 * 4096 / 1e9, "wrong"),
        # Batch 32 multiplies it: 68.72 GB (the article prints 32).
        ("mem-7b-fp16-bs32-kv", 32 * 2 * 32 * 32 * 128 * 2 * 4096 / 1e9, "wrong"),
        # Llama-2-70B GQA: 2 x 80 x 8 x 128 x 2 x 4,096 = 1.342e9 B (the article prints 2.5).
        ("mem-70b-fp16-kv", 2 * 80 * 8 * 128 * 2 * 4096 / 1e9, "wrong"),
        # Power cost: 700 W x 8,760 h x $0.08 / 1,000 = $490.56 a year (the article: $490).
        ("tco-h100-power-per-year", 700 * 8760 * 0.08 / 1000, "ok"),
        # Cost per million tokens: (30,000 + 3 x 490.56) / (95 x 86,400 x 365 x 3 / 1e6) = $3.50.
        ("cpm-h100-7b-fp16-bs1", (30000 + 3 * 490.56) / (95 * 86400 * 365 * 3 / 1e6), "wrong"),
        ("cpm-4090-7b-fp16-bs1", (1800 + 3 * 245.28) / (42 * 86400 * 365 * 3 / 1e6), "wrong"),
        # The article's per-SM derivation: 132 x 256 x 1.83 GHz x 2 = 123.7 TFLOPS (it states 990).
        ("derivation-h100-fp16", 132 * 256 * 1830e6 * 2 / 1e12, "wrong"),
        ("derivation-4090-fp16", 128 * 128 * 2520e6 * 2 / 1e12, "wrong"),
        # Datasheet: the RTX 4090's FP16 with FP32 accumulate is 165.2 TFLOPS; 330 is its FP16-accumulate rate.
        ("spec-4090-fp16-tflops", 165.2, "misleading"),
        # Datasheet: H100 SXM FP64 (non-tensor) 33.5 TFLOPS; 67 is the FP64 tensor-core rate.
        ("spec-h100-fp64-tflops", 33.5, "misleading"),
        # Batch-32 verdict: 4090 (1,800 + 3 x 245.28) / (320 tok/s) against H100 (30,000 + 3 x 490.56) / (2,800 tok/s).
        (
            "winner-7b-fp16-bs32",
            ((1800 + 3 * 245.28) / 320) / ((30000 + 3 * 490.56) / 2800),
            "wrong",
        ),
    ],
)
def test_recomputations_against_hand_calculations(rows, claim_id, expected, verdict):
    r = rows[claim_id]
    assert r["computed_value"] == pytest.approx(expected, rel=1e-3)
    assert r["verdict"] == verdict


def test_nvlink_pcie_ratio_is_per_direction_like_for_like(rows):
    # NVLink 4: 900 GB/s both directions = 450 per direction; PCIe Gen4 x16: 16 GT/s x 16 lanes
    # x 128/130 / 8 = 31.51 GB/s per direction -> 14.3x, not 28x.
    r = rows["ic-nvlink-pcie-ratio"]
    assert r["computed_value"] == pytest.approx(450 / (16 * 16 * 128 / 130 / 8), rel=1e-3)
    assert r["verdict"] == "misleading"


def test_verdict_counts_cover_all_claims():
    counts = audit.verdict_counts()
    assert list(counts.index) == list(audit.VERDICTS)
    assert counts["claims"].sum() == len(claims.claims())


def test_cli_audit_json(run_cli):
    res = run_cli("audit", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {
        "id",
        "section",
        "claim",
        "seed_value",
        "computed_value",
        "unit",
        "verdict",
        "explanation",
    } == set(out[0])
    assert len(out) == len(claims.claims())


def test_unknown_check_kind_is_an_input_error(tmp_path, monkeypatch):
    import shutil

    from gpucompare.core import paths
    from gpucompare.core.errors import InputError

    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    (data / "claims" / "zz.yaml").write_text(
        "schema_version: 1\nclaims:\n- {id: x, section: zz, quote: q, value: 1, unit: u, check: {kind: nope}}\n"
    )
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(data))
    with pytest.raises(InputError, match=r"claim x: unknown check kind 'nope'; allowed: .*memory"):
        audit.run()


def test_summary_findings_follow_the_parameters():
    default = summary.key_findings(params.make())
    other = summary.key_findings(params.make(gpus=["h200-sxm", "rtx-5090"]))
    assert any("H200" in f for f in other) and not any("H200" in f for f in default)


def test_the_article_verdict_counts_every_claim_in_at_most_five_sentences():
    verdict = summary.verdict_sentences()
    assert 1 <= len(verdict) <= 5
    assert f"recomputed {len(claims.claims())} numeric claims" in verdict[0]


def test_fit_and_max_batch_claims_against_hand_calculations(rows):
    # Llama-2-70B int4: body (68,976,648,192 - 2 x 32,000 x 8,192) at 4 + 20/128 bits, embeddings fp16.
    emb = 2 * 32_000 * 8_192
    weights = (68_976_648_192 - emb) * (4 + 20 / 128) / 8 + emb * 2
    usable = 80 * 2**30 * 0.9 - 2**30  # H100 SXM at the default utilization and reserve
    per_seq = 2 * 80 * 8 * 128 * 2 * 4096  # fp16 KV of one 4,096-token sequence
    assert (
        rows["mem-h100-70b-int4-max-batch"]["computed_value"]
        == int((usable - weights) // per_seq)
        == 29
    )
    # Llama-2-13B fp16 on an RTX 4090: 13,015,864,320 x 2 B of weights alone exceed 24 GiB x 0.9 - 1 GiB.
    assert 13_015_864_320 * 2 > 24 * 2**30 * 0.9 - 2**30
    assert rows["mem-4090-13b-fp16-fits"]["verdict"] == "wrong"
    # 7B fp16 at batch 32 x 4,096: 13.48 GB + 68.72 GB = 82.2 GB > 76.2 GB usable, < 85.9 GB of DRAM.
    assert rows["mem-h100-7b-fp16-bs32-fits"]["verdict"] == "misleading"
