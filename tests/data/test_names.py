"""What pages call catalog ids (data/names.py): GPUs, models and interconnect links."""

from gpucompare.data import names


def test_links_read_as_their_short_name_else_their_name():
    shown = names.display_names()
    # data/interconnect.yaml: the host-staged PCIe link has a short name, plain PCIe has none.
    assert shown["pcie4-x16-host-staged"] == "PCIe 4.0 x16 via host"
    assert shown["pcie4-x16"] == "PCIe 4.0 x16"
    assert shown["nvswitch-hgx-h100"] == "NVSwitch (HGX H100/H200)"


def test_gpus_and_models_keep_their_names():
    shown = names.display_names()
    # data/gpus.yaml short_name and data/models.yaml name.
    assert shown["rtx-4090"] == "RTX 4090" and shown["h100-sxm"] == "H100 SXM"
    assert shown["llama-2-7b"] == "Llama 2 7B"
