"""What the pages call catalog ids: GPUs by their short name, models by their name, links by
their short name (``sections/labels.words`` puts them in place of the ids on the page only; CSV
and text outputs keep the ids)."""

from __future__ import annotations

from gpucompare.data import catalog, interconnect


def display_names() -> dict[str, str]:
    """Catalog id -> the name tables show for it (GPUs, models and interconnect links)."""
    links = {link.id: link.label for link in interconnect.interconnect_catalog().links}
    return catalog.display_names() | links
