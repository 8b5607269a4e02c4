"""``gpucompare check-data``: the real data passes; a copy broken in one place names the file, the key
and the problem. Also: every catalog figure has a source and a unit in its name."""

from __future__ import annotations

import re
import shutil
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, check_gpus, checkdata
from gpucompare.report import preflight

DATA = paths.repo_root() / "data"


def broken_copy(tmp_path: Path, monkeypatch, file: str, edit: Callable[[dict], None]) -> Path:
    """A copy of data/ with ``edit`` applied to one YAML file; the library reads the copy."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    raw = yaml.load((data / file).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    edit(raw)
    text = yaml.dump(raw, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    (data / file).write_text(text, encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return data


def gpu(raw: dict, gpu_id: str) -> dict:
    return next(g for g in raw["gpus"] if g["id"] == gpu_id)


def problems_text() -> str:
    return "\n".join(str(x) for x in preflight.check_all())


# --- The real data ------------------------------------------------------------------------------


def test_real_data_has_no_problems():
    assert checkdata.check_all() == []


def test_cli_real_data_exits_0_and_summarises(run_cli):
    res = run_cli("check-data")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no problems" in res.stdout and f"{len(catalog.gpu_ids())} GPUs" in res.stdout


def test_cli_broken_copy_exits_2_one_line_per_problem(run_cli, tmp_path, monkeypatch):
    def edit(raw):
        gpu(raw, "rtx-4090")["specs"]["memory_bandwidth_gb_s"]["value"] = 1100
        gpu(raw, "h100-sxm")["specs"]["gpu_link_bandwidth_total_gb_s"]["value"] = 450

    data = broken_copy(tmp_path, monkeypatch, "gpus.yaml", edit)
    res = run_cli("check-data")  # the subprocess inherits GPUCOMPARE_DATA_DIR
    assert res.returncode == 2
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert re.match(rf"^{re.escape(str(data / 'gpus.yaml'))}: \S+: .+$", line), line
    assert "2 problem(s) in 1 data file(s)" in res.stderr


# --- One broken thing per test -------------------------------------------------------------------


def test_tensor_tflops_against_sms_rate_and_clock(tmp_path, monkeypatch):
    # H100 SXM BF16: 132 SMs x 2048 FMA/clock/SM x 1830 MHz x 2 = 989.4 TFLOPS (NVIDIA whitepaper).
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "h100-sxm")["specs"]["bf16_tensor_tflops"].update(value=1200),
    )
    text = problems_text()
    assert "gpus.yaml: h100-sxm.specs.bf16_tensor_tflops: 1200 differs by" in text
    assert "= 989.4" in text
    assert len(checkdata.check_all()) == 1


def test_tensor_tflops_without_stated_clock_must_fit_between_base_and_boost(tmp_path, monkeypatch):
    # L40S states no peak clock: 500 TFLOPS would need 5e14 / (142 SMs x 512 FMA/clock x 2) =
    # 3,439 MHz, above its 2,520 MHz boost clock.
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "l40s")["specs"]["fp16_tensor_fp32acc_tflops"].update(value=500),
    )
    assert re.search(
        r"l40s\.specs\.fp16_tensor_fp32acc_tflops: 500 needs a clock of 3439 MHz.*boost 2520",
        problems_text(),
    )


def test_fp32_is_compute_units_times_the_architectures_rate_times_boost(tmp_path, monkeypatch):
    # RTX 4090: 128 SMs x 128 FP32 FMA/clock/SM x 2 x 2,520 MHz = 82.6 TFLOPS; with 140 SMs 90.3.
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "rtx-4090")["specs"]["compute_units"].update(value=140),
    )
    text = problems_text()
    assert re.search(r"rtx-4090\.specs\.fp32_tflops: 82\.6 differs .* 140 SMs x 128 FP32", text)
    assert "= 90.3" in text


def test_amd_fp32_passes_with_the_architectures_dual_issue_rate(tmp_path, monkeypatch):
    """MI300X: 304 CUs x 64 stream processors x 2 x 2,100 MHz = 81.7 TFLOPS, half AMD's 163.4; the
    CDNA 3 rate of 128 FP32 FMA per CU per clock gives 163.4 honestly. A variant that claims one FMA
    per stream processor is caught."""
    assert not [x for x in checkdata.check_all() if "mi300x" in x.key]

    def edit(raw):
        v = next(v for v in raw["variants"] if v["id"] == "cdna3")
        v["fp32_fma_per_clock_per_unit"]["value"] = 64

    broken_copy(tmp_path, monkeypatch, "architectures.yaml", edit)
    assert re.search(
        r"mi300x\.specs\.fp32_tflops: 163\.4 differs by 100\.0% from 304 CUs x 64 FP32.* = 81\.7",
        problems_text(),
    )


def test_shader_cores_are_compute_units_times_cores_per_unit(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "rtx-4090")["specs"]["shader_cores"].update(value=18000),
    )
    assert "rtx-4090.specs.shader_cores: 18000 is not 128 SMs x 128 per SM" in problems_text()


@pytest.mark.parametrize(("bandwidth_gb_s", "flagged"), [(1100, True), (1030, False)])
def test_bandwidth_is_bus_width_times_data_rate(tmp_path, monkeypatch, bandwidth_gb_s, flagged):
    # RTX 4090: 384 bits x 21 Gbit/s / 8 = 1,008 GB/s; 1,030 is 2.2% off (tolerated), 1,100 9.1%.
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "rtx-4090")["specs"]["memory_bandwidth_gb_s"].update(
            value=bandwidth_gb_s
        ),
    )
    text = problems_text()
    assert ("rtx-4090.specs.memory_bandwidth_gb_s" in text) is flagged
    if flagged:
        assert "= 1008 GB/s" in text


def test_nvlink_total_is_twice_per_direction(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "h100-sxm")["specs"]["gpu_link_bandwidth_total_gb_s"].update(
            value=450
        ),
    )
    assert (
        "h100-sxm.specs.gpu_link_bandwidth_total_gb_s: 450 is not 2 x per direction 450 = 900"
        in (problems_text())
    )


def test_mig_profile_memory_must_match_its_name_and_fit(tmp_path, monkeypatch):
    # 7 x 1g.10gb at 20 GiB each = 140 GiB on an 80 GiB H100.
    def edit(raw):
        gpu(raw, "h100-sxm")["mig_profiles"][0]["memory_gib"] = 20

    broken_copy(tmp_path, monkeypatch, "gpus.yaml", edit)
    text = problems_text()
    assert "h100-sxm.mig_profiles[1g.10gb].memory_gib: 20 but the profile name says 10 GB" in text
    assert "7 x 20 GiB exceed the GPU's 80 GiB" in text


def test_mig_max_instances_must_match_the_profiles(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "h100-sxm")["specs"]["mig_max_instances"].update(value=4),
    )
    assert "h100-sxm.specs.mig_max_instances: 4 but the profiles allow at most 7" in problems_text()


def test_a_figure_must_be_positive(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "rtx-4090")["specs"]["tdp_w"].update(value=-450),
    )
    assert "rtx-4090.specs.tdp_w: must be > 0 (got -450.0)" in problems_text()


def test_undefined_source_id(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "rtx-4090")["specs"]["tdp_w"].update(source="nowhere"),
    )
    found = checkdata.check_all()
    assert len(found) == 1, found  # the loader says it; the source walk does not repeat it
    assert re.search(
        r"gpus\.yaml: \(top level\): undefined source ids: rtx-4090\.specs\.tdp_w: source 'nowhere' "
        r"\(define each in the file's sources table or in data/sources\.yaml\)",
        str(found[0]),
    )


def test_source_url_must_start_with_http(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "reliability.yaml",
        lambda raw: next(iter(raw["sources"].values())).update(url="www.example.org/paper"),
    )
    assert re.search(
        r"reliability\.yaml: sources\.\S+\.url: must start with http \(got 'www\.example\.org",
        problems_text(),
    )


def test_cloud_price_for_an_unknown_gpu(tmp_path, monkeypatch):
    broken_copy(
        tmp_path, monkeypatch, "cloud_prices.yaml", lambda raw: raw["prices"][0].update(gpu="h100")
    )
    assert re.search(
        r"cloud_prices\.yaml: prices\[0\]\.gpu: unknown GPU 'h100'; allowed: h100-sxm",
        problems_text(),
    )


def test_every_gpu_needs_an_architecture_variant(tmp_path, monkeypatch):
    def edit(raw):
        for v in raw["variants"]:
            v["applies_to"] = [g for g in v["applies_to"] if g != "rtx-5090"]

    broken_copy(tmp_path, monkeypatch, "architectures.yaml", edit)
    assert "architectures.yaml: variants: no variant applies to GPU 'rtx-5090'" in problems_text()


def test_every_gpu_needs_a_topology(tmp_path, monkeypatch):
    def edit(raw):
        raw["gpus"] = [g for g in raw["gpus"] if g["id"] != "rtx-5090"]

    broken_copy(tmp_path, monkeypatch, "interconnect.yaml", edit)
    assert "interconnect.yaml: gpus: no topology for GPU 'rtx-5090'" in problems_text()


def test_unknown_claim_check_kind(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "claims/memory.yaml",
        lambda raw: raw["claims"][0]["check"].update(kind="guess"),
    )
    assert re.search(
        r"claims/memory\.yaml: \S+\.check\.kind: unknown check kind 'guess'", problems_text()
    )


def test_missing_and_malformed_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    (data / "reliability.yaml").unlink()
    (data / "interconnect.yaml").write_text("links: [\n  - id: x\n  bad", encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    text = problems_text()
    assert f"{data / 'reliability.yaml'}: (file): file not found" in text
    assert re.search(r"interconnect\.yaml: line \d+, column \d+: malformed YAML", text)


def test_measurement_url_and_schema(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    csv_path = data / "measurements" / "inference_seed.csv"
    text = csv_path.read_text(encoding="utf-8").replace("https://github.com", "github.com", 1)
    csv_path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    assert re.search(
        r"inference_seed\.csv: row 2\.url: must start with http \(got 'github\.com", problems_text()
    )


def test_the_inference_measurements_are_loaded_once(tmp_path, monkeypatch):
    """excluded.yaml is checked against the inference rows already loaded (issue 21: the second
    load cost ~0.3 s); an id it names that no row has is still reported under excluded.yaml."""
    from gpucompare.data import measurements

    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    excluded = data / "measurements" / "excluded.yaml"
    raw = yaml.safe_load(excluded.read_text(encoding="utf-8"))
    raw["excluded"][0]["ids"].append("no-such-measurement")
    excluded.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    calls = []
    load = measurements.load_inference
    monkeypatch.setattr(measurements, "load_inference", lambda *a: calls.append(a) or load(*a))
    problems, loaded = checkdata.schema_problems()
    assert len(calls) == 1
    assert "measurements/excluded.yaml" not in loaded
    assert [str(x) for x in problems] == [
        f"{excluded}: excluded[0]: ids: unknown measurement id 'no-such-measurement'"
    ]


def test_the_source_and_id_walks_share_one_parse_per_file(tmp_path, monkeypatch):
    """check_all parses a YAML file at most twice: once by its loader, once for the source and id
    walks together (they parsed it once each before)."""
    from collections import Counter

    data = tmp_path / "data"
    shutil.copytree(DATA, data)  # a new folder: no loader has it cached
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    parses: Counter = Counter()
    load_yaml = paths.load_yaml
    monkeypatch.setattr(paths, "load_yaml", lambda path: parses.update([path]) or load_yaml(path))
    assert checkdata.check_all() == []
    assert parses[data / "gpus.yaml"] >= 1
    assert max(parses.values()) <= 2, parses.most_common(3)


def test_a_gpu_without_a_field_is_one_schema_problem_naming_it(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "h100-sxm")["specs"].pop("memory_bandwidth_gb_s"),
    )
    found = checkdata.check_all()
    assert [str(x).split(": ", 1)[1] for x in found] == [
        "gpus[h100-sxm].specs.memory_bandwidth_gb_s: Field required; "
        "expected: a mapping with keys value, source, note"
    ]


# --- Before a build --------------------------------------------------------------------------------


def test_preflight_refuses_missing_data_and_impossible_parameters(tmp_path, monkeypatch):
    p16 = params.validate({**params.defaults_dict(), "tp_degrees": [2, 16]})
    with pytest.raises(InputError, match=r"tp_degrees: tensor-parallel degree 16 .*allowed: 1, 2"):
        preflight.preflight(p16)
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    (data / "cloud_prices.yaml").unlink()
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    with pytest.raises(InputError, match=r"cloud_prices\.yaml: \(file\): file not found"):
        preflight.preflight(params.make())


# --- Every catalog figure: a source and a unit -------------------------------------------------------

#: Unit suffixes of the project's conventions (units.py docstring, docs/adding-a-section.md).
UNITS = ("_tflops", "_tops", "_gib", "_gb", "_gb_s", "_mhz", "_w", "_bits", "_gbps")
#: Dimensionless: counts of things and generation numbers.
COUNTS = ("compute_units", "shader_cores", "matrix_cores", "gpu_links", "pcie_lanes")
COUNTS += ("mig_max_instances", "matrix_core_generation", "gpu_link_generation", "pcie_generation")


def test_every_numeric_spec_field_names_its_unit_or_is_a_count():
    numeric = []
    for name in catalog.GpuSpecs.model_fields:
        value_type = catalog.spec_value_type(name)
        kinds = set(typing.get_args(value_type)) or {value_type}
        if kinds & {int, float} and bool not in kinds:
            numeric.append(name)
            assert name.endswith(UNITS) or name in COUNTS, name
    assert len(numeric) >= 25  # the walk found the figures (34 fields, 5 text or flag)
    assert check_gpus.spec_unit("memory_bandwidth_gb_s") == "_gb_s"
    assert check_gpus.spec_unit("memory") is None


def _sourced_figures(node, inherited: bool, where: str, out: list) -> None:
    if isinstance(node, dict):
        has = "source" in node
        if "value" in node:
            out.append((where, node.get("source"), has or inherited))
        for k, v in node.items():
            _sourced_figures(v, inherited or has, f"{where}.{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _sourced_figures(v, inherited, f"{where}[{i}]", out)


@pytest.mark.parametrize(
    ("file", "at_least"),
    [
        ("gpus.yaml", 250),
        ("architectures.yaml", 40),
        ("interconnect.yaml", 30),
        ("reliability.yaml", 1),
    ],
)
def test_every_figure_has_a_defined_source(file, at_least):
    raw = yaml.safe_load((DATA / file).read_text(encoding="utf-8"))
    shared = yaml.safe_load((DATA / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    known = set(raw["sources"]) | set(shared)
    figures: list = []
    _sourced_figures({k: v for k, v in raw.items() if k != "sources"}, False, file, figures)
    assert len(figures) >= at_least  # the walk found the figures
    for where, source, sourced in figures:
        assert sourced, f"{where}: figure without a source"
        assert source is None or source in known, f"{where}: undefined source {source!r}"
    for sid, src in raw["sources"].items():
        assert src["url"].startswith("http"), sid
