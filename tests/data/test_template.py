"""``data/templates/gpu.yaml``: check-data validates it with the catalog's schemas and per-GPU
checks, a broken template is reported under its own name, and its blocks, copied into the data files
they are meant for, give a catalog that check-data accepts with the new GPU in it."""

from __future__ import annotations

import shutil

import yaml

from gpucompare.core import paths
from gpucompare.data import catalog, check_template, checkdata
from tests.data.test_checkdata import DATA

TEMPLATE = DATA / "templates" / "gpu.yaml"


def _dump(path, raw) -> None:
    path.write_text(
        yaml.dump(raw, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )


def test_the_template_validates():
    t = check_template.load()
    assert t.gpu.id == "example-gpu" and t.topology.id == t.gpu.id
    assert not [x for x in checkdata.check_all() if "templates" in x.file]


def _broken(tmp_path, monkeypatch, edit):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    raw = yaml.safe_load((data / check_template.TEMPLATE).read_text(encoding="utf-8"))
    edit(raw)
    _dump(data / check_template.TEMPLATE, raw)
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return data, [x for x in checkdata.check_all()]


def test_a_wrong_figure_in_the_template_is_reported_under_its_name(tmp_path, monkeypatch):
    def edit(raw):
        raw["gpu"]["specs"]["bf16_tensor_tflops"]["value"] = 500

    data, found = _broken(tmp_path, monkeypatch, edit)
    assert [(x.file, x.key) for x in found] == [
        (str(data / check_template.TEMPLATE), "gpu.specs.bf16_tensor_tflops")
    ]
    assert "100 CUs x 1024 FMA/clock/CU x 2000 MHz x 2 = 409.6" in found[0].problem


def test_a_schema_problem_in_the_template_names_the_key(tmp_path, monkeypatch):
    def edit(raw):
        del raw["gpu"]["specs"]["memory_gib"]
        raw["cloud_prices"][0]["gpu"] = "other-gpu"

    data, found = _broken(tmp_path, monkeypatch, edit)
    text = "\n".join(str(x) for x in found)
    assert str(data / check_template.TEMPLATE) in text
    assert "gpu.specs.memory_gib: Field required" in text


def test_an_nvidia_only_field_for_the_templates_amd_gpu_is_refused(tmp_path, monkeypatch):
    def edit(raw):
        raw["gpu"]["specs"]["mig_max_instances"] = {"value": 0, "source": "example-datasheet"}

    _, found = _broken(tmp_path, monkeypatch, edit)
    assert any("mig_max_instances: NVIDIA-only field" in x.problem for x in found), found


def test_the_template_copied_into_the_data_files_is_accepted(tmp_path, monkeypatch):
    """What docs/adding-a-gpu.md describes: each block appended to its file gives a valid catalog."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    t = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))

    def append(name, key, items):
        raw = yaml.safe_load((data / name).read_text(encoding="utf-8"))
        if isinstance(raw[key], dict):
            raw[key].update(items)
        else:
            raw[key].extend(items)
        _dump(data / name, raw)

    append("sources.yaml", "sources", t["sources"])
    append("gpus.yaml", "gpus", [t["gpu"]])
    append("architectures.yaml", "variants", [t["architecture_variant"]])
    append("interconnect.yaml", "gpus", [t["topology"]])
    append("cloud_prices.yaml", "prices", t["cloud_prices"])
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    assert checkdata.check_all() == []
    assert "example-gpu" in catalog.gpu_ids()
    assert catalog.get_gpu("example-gpu").spec("compute_units") == 100
