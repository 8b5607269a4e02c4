"""The interconnect catalog (data/interconnect.yaml): every catalog GPU has a topology consistent with its
spec fields in data/gpus.yaml."""

from __future__ import annotations

from gpucompare.data import catalog
from gpucompare.data import interconnect as ic_data
from gpucompare.model import interconnect


def test_every_catalog_gpu_has_a_topology_consistent_with_its_spec():
    for gid in catalog.gpu_ids():
        topo = ic_data.gpu_topology(gid)
        spec = catalog.get_gpu(gid).spec("nvlink_bandwidth_per_direction_gb_s")
        link = interconnect.nvlink_link_id(gid)
        assert (link is None) == (spec is None) == (topo.nvlink_domain_gpus.value is None), gid
        if link is not None:
            assert interconnect.link_per_direction_gb_s(link) == spec
        assert topo.max_gpus_per_node.value >= 2
