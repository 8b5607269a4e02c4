"""What a process keeps on disk for the next one, written at one moment: when a command succeeded,
after each cell of a warm kernel, after a good build of the preview. Until then nothing is written,
so bad input leaves the cache folder as it was."""

from __future__ import annotations

from gpucompare.core import filecache, memo, yamlcache


def flush() -> int:
    """Write the parsed YAML documents (:mod:`gpucompare.core.yamlcache`), the tree hashes
    (:func:`gpucompare.core.filecache.hash_tree`) and the answers (:mod:`gpucompare.core.memo`)
    this process made since the last flush; returns how many entries were written."""
    return yamlcache.flush() + filecache.flush_trees() + memo.flush()
