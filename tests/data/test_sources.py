"""Sources are declared once: the shared table ``data/sources.yaml`` serves every data file, a file's
own table serves that file, and ``gpucompare check-data`` refuses an unknown id (naming the file and
the key that cites it) and the same source declared in two files (by id or by address)."""

from __future__ import annotations

import collections
import re

import yaml

from gpucompare.core import paths
from gpucompare.data import catalog, interconnect, loading, prices
from gpucompare.report import preflight
from tests.data.test_checkdata import DATA, broken_copy


def _tables() -> dict[str, dict]:
    out = {}
    for path in sorted(DATA.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and isinstance(raw.get("sources"), dict):
            out[path.name] = raw["sources"]
    return out


def test_every_source_is_declared_once():
    ids, urls = collections.defaultdict(set), collections.defaultdict(set)
    for name, table in _tables().items():
        for sid, src in table.items():
            ids[sid].add(name)
            urls[src["url"].rstrip("/")].add(name)
    assert not {k: v for k, v in ids.items() if len(v) > 1}
    assert not {k: v for k, v in urls.items() if len(v) > 1}


def test_shared_sources_serve_several_files():
    """The shared table holds the documents several files cite, and each loader accepts them."""
    shared = loading.shared_sources()
    assert {"nvidia-h100-whitepaper", "rocm-mi300-microarchitecture", "xla-b200-spec"} <= set(
        shared
    )
    cited = collections.defaultdict(set)
    for path in sorted(DATA.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for sid in shared:
            if re.search(rf"source: {re.escape(sid)}\b", text):
                cited[sid].add(path.name)
    assert len(cited["rocm-mi300-microarchitecture"]) >= 3  # gpus, architectures, interconnect
    # Lookups through each file's view find them.
    assert interconnect.source("rocm-mi300-microarchitecture").publisher == "AMD"
    frame = catalog.gpu_sources_frame(["mi300x"])
    assert "amd-mi300x-product-page" in frame.index and "awesomeagents-mi300x" in frame.index
    assert "deploybase-runpod-2026-03" in prices.sources_frame().index


def test_unknown_source_id_names_the_file_and_key(tmp_path, monkeypatch):
    def edit(raw):
        topo = next(g for g in raw["gpus"] if g["id"] == "mi300x")
        topo["max_gpus_per_node"]["source"] = "no-such-document"

    data = broken_copy(tmp_path, monkeypatch, "interconnect.yaml", edit)
    found = [str(x) for x in preflight.check_all()]
    assert any(
        line.startswith(str(data / "interconnect.yaml"))
        and "gpus.mi300x.max_gpus_per_node: source 'no-such-document'" in line
        for line in found
    ), found


def test_a_file_may_cite_a_shared_source(tmp_path, monkeypatch):
    """A cloud price citing a document of data/sources.yaml loads; the check-data walk agrees."""

    def edit(raw):
        raw["prices"][0]["source"] = "nvidia-hgx-b200-specs"

    broken_copy(tmp_path, monkeypatch, "cloud_prices.yaml", edit)
    assert preflight.check_all() == []


def test_the_same_id_in_two_files_is_refused(tmp_path, monkeypatch):
    def edit(raw):
        raw["sources"]["xla-b200-spec"] = dict(
            loading.shared_sources()["xla-b200-spec"].model_dump()
        )

    data = broken_copy(tmp_path, monkeypatch, "cloud_prices.yaml", edit)
    text = "\n".join(str(x) for x in preflight.check_all())
    assert (
        f"{data / 'cloud_prices.yaml'}: sources.xla-b200-spec: also defined in sources.yaml" in text
    )


def test_the_same_document_under_two_ids_is_refused(tmp_path, monkeypatch):
    def edit(raw):
        copy = loading.shared_sources()["rocm-mi300-microarchitecture"].model_dump()
        raw["sources"]["mi300-doc-again"] = copy

    data = broken_copy(tmp_path, monkeypatch, "interconnect.yaml", edit)
    text = "\n".join(str(x) for x in preflight.check_all())
    assert (
        f"{data / 'interconnect.yaml'}: sources.mi300-doc-again.url: the same document as "
        "sources.yaml's source 'rocm-mi300-microarchitecture'"
    ) in text


def test_a_broken_shared_table_is_one_problem_there(tmp_path, monkeypatch):
    def edit(raw):
        raw["sources"]["xla-b200-spec"]["verified"] = "maybe"

    data = broken_copy(tmp_path, monkeypatch, "sources.yaml", edit)
    found = preflight.check_all()
    assert {x.file for x in found} == {str(data / "sources.yaml")}
    assert "xla-b200-spec.verified" in found[0].key


def test_local_tables_still_work():
    """Sources cited by one file only may stay in that file's table."""
    own = catalog.gpu_catalog().sources
    assert "runlocalai-l4" in own and "runlocalai-l4" not in loading.shared_sources()
    assert catalog.get_gpu("l4").price.source == "runlocalai-l4"
    assert paths.load_yaml(DATA / "gpus.yaml")["sources"]
