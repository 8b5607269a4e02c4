"""The ``gpucompare plan`` command: JSON options sorted by cost with the documented fields, the same
best option as the library, an unservable load answered with an empty best, bad input exit 2."""

from __future__ import annotations

import json

from gpucompare import cli, params
from gpucompare.model import plan

FIELDS = {
    "gpu",
    "gpu_count",
    "tensor_parallel",
    "replicas",
    "acquisition",
    "usd_per_million_output_tokens",
    "usd_per_month",
    "ttft_ms",
    "tpot_ms",
    "meets_slo",
    "limited_by",
}
LOAD = ["--model", "llama-3-70b", "--weights", "int4", "--requests-per-s", "10"]
LOAD += [
    "--prompt-tokens",
    "2000",
    "--output-tokens",
    "300",
    "--ttft-ms",
    "2000",
    "--tpot-ms",
    "100",
]


def _run(capsys, *args):
    rc = cli.main(["plan", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_plan_json_matches_the_library(capsys):
    rc, out, err = _run(capsys, *LOAD, "--gpus", "h100-sxm,rtx-5090", "--json")
    assert rc == 0, err
    got = json.loads(out)
    assert set(got) >= {"options", "best"}
    assert all(set(o) >= FIELDS for o in got["options"])
    costs = [o["usd_per_million_output_tokens"] for o in got["options"]]
    assert costs == sorted(costs)
    load = plan.Load("llama-3-70b", "int4", "fp16", 10.0, 2000, 300, 2000.0, 100.0)
    lib = plan.plan(params.make(), load, ["h100-sxm", "rtx-5090"])
    assert got["best"]["gpu"] == lib["best"]["gpu"]
    assert got["best"]["gpu_count"] == lib["best"]["gpu_count"]
    rc, out, _ = _run(capsys, *LOAD, "--gpus", "h100-sxm", "--acquisition", "rent", "--json")
    assert {o["acquisition"] for o in json.loads(out)["options"]} == {"rent"}


def test_plan_text_and_unservable_load(capsys):
    rc, out, _ = _run(capsys, *LOAD, "--gpus", "h100-sxm")
    assert rc == 0 and "limited by" in out and "h100-sxm" in out
    tight = [*LOAD[:-4], "--ttft-ms", "10", "--tpot-ms", "5"]
    rc, out, _ = _run(capsys, *tight, "--gpus", "rtx-4090", "--json")
    got = json.loads(out)
    assert rc == 0 and got["best"] == {} and got["reason"]


def test_plan_bad_input_exits_2(capsys):
    rc, _, err = _run(capsys, *LOAD, "--gpus", "h100")
    assert rc == 2 and "--gpus: unknown GPU 'h100'" in err
    rc, _, err = _run(capsys, *LOAD, "--engine", "llama-cpp")
    assert rc == 2 and "llama.cpp does not run 'int4'" in err
