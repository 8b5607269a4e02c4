"""Figures drawn before, kept on disk: the PNG of a figure under a digest of everything that decides
its pixels (issue 21: drawing is most of what a price edit costs, and most figures do not show
prices).

Drawing a figure (text layout, constrained layout, rasterising, PNG encoding) costs 0.15-0.6 s;
describing it costs ~20 ms: the figure is pickled, which walks every artist with its data, text,
colours, sizes and transforms, and the pickle is hashed. Two figures with the same pickle draw
the same pixels with the same matplotlib, Pillow and FreeType, the same rcParams at drawing time
and the same fonts; the key (:func:`key`) hashes all of these. A figure that cannot be pickled is
drawn every time.

The pickle is made deterministic first (:class:`_Describer`): matplotlib keeps, besides what is
drawn, state that differs between processes or with the garbage collector's timing, and the
describer leaves it out:

* a transform's parents (by object id; a removed axes stays among them until the collector frees
  it): the transforms an artist draws with are pickled with the artist, parents only invalidate;
* the callback registries' counters (callbacks draw nothing);
* the ``backend`` rcParam (a PNG is drawn by Agg whatever the backend).

(matplotlib's ``ax.bar`` and ``axvspan`` also change the unit rectangle that every rectangle and
square marker of the process shares; :func:`gpucompare.sections.figures.new` resets it, so that
a figure's state does not depend on the figures made before it.)

A figure drawn or read once is remembered as such (drawing changes its pickle: ticks made, layout
positions set), so asking for the same figure object again costs nothing.

Entries are :class:`gpucompare.core.filecache.JsonCache` documents under ``<cache>/figures/``
(the PNG in base64, as the page embeds it), at most :data:`MAX_ENTRIES` (least recently used first
out); a process also keeps the last :data:`MEMORY_ENTRIES` it drew or read. A cache that cannot be
read or written is a miss: the figure is drawn.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import weakref
from collections import OrderedDict
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING

import matplotlib as mpl
from matplotlib import cbook, font_manager, ft2font
from matplotlib.transforms import TransformNode

from gpucompare.core import filecache, paths

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Figures kept on disk (~50-300 kB each): a report draws 14, so many scenarios and price edits.
MAX_ENTRIES = 200
#: Figures a process keeps in memory (a preview's kernels draw the same figures again).
MEMORY_ENTRIES = 64
#: Change when the way a figure is turned into PNG changes (``savefig``'s arguments below).
FORMAT = "png bbox=tight metadata=none v1"

#: rcParams that do not change a PNG drawn by :func:`draw`.
NOT_DRAWN_RC = frozenset({"backend", "backend_fallback", "interactive"})
#: The base64 of every PNG begins so (its 8-byte signature): a cached payload that does not is a
#: miss.
PNG_BASE64_START = "iVBORw0KGgo"

_memory: OrderedDict[str, str] = OrderedDict()
#: The PNG of each figure object drawn or read in this process (while the figure lives).
_shown: weakref.WeakKeyDictionary[Figure, tuple[int, str]] = weakref.WeakKeyDictionary()


class _HashWriter:
    """A file-like sink that hashes what is written (no copy of the pickle is kept)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return len(data)


class _Describer(pickle.Pickler):
    """A pickler whose output depends only on what a figure shows (module docstring)."""

    def reducer_override(self, obj):
        if isinstance(obj, cbook.CallbackRegistry):
            return cbook.CallbackRegistry, ()
        if isinstance(obj, TransformNode):
            state = obj.__getstate__()
            state.pop("_parents", None)
            return type(obj), (), state
        return NotImplemented


@cache
def _environment() -> str:
    """What besides the figure decides its pixels and does not change within a process: the
    drawing libraries' versions and the fonts matplotlib can choose from."""
    fonts = sorted(
        (f.fname, f.name, f.style, f.variant, str(f.weight), f.stretch)
        for f in font_manager.fontManager.ttflist
    )
    return json.dumps(
        {
            "matplotlib": mpl.__version__,
            "pillow": metadata.version("pillow"),
            "freetype": ft2font.__freetype_version__,
            "fonts": fonts,
            "format": FORMAT,
        }
    )


def key(fig: Figure, dpi: int) -> str | None:
    """SHA-256 of the figure (its deterministic pickle), ``dpi``, the rcParams now (some artists
    read them while drawing) and :func:`_environment`; None when the figure cannot be pickled."""
    sink = _HashWriter()
    try:
        _Describer(sink, protocol=pickle.HIGHEST_PROTOCOL).dump(fig)
    except Exception:  # an artist that does not pickle (a lambda formatter): draw every time
        return None
    rc = json.dumps(sorted((k, repr(v)) for k, v in mpl.rcParams.items() if k not in NOT_DRAWN_RC))
    return filecache.digest(sink.sha.hexdigest(), str(dpi), rc, _environment())


def _store() -> filecache.JsonCache:
    return filecache.JsonCache(paths.cache_dir() / "figures", "figure-png", MAX_ENTRIES)


def png_base64(fig: Figure, dpi: int) -> str:
    """The figure as PNG at ``dpi``, in base64: from memory, from disk, or drawn (and kept)."""
    shown = _shown.get(fig)
    if shown is not None and shown[0] == dpi:
        return shown[1]
    png = _cached_or_drawn(fig, dpi)
    _shown[fig] = (dpi, png)
    return png


def _cached_or_drawn(fig: Figure, dpi: int) -> str:
    name = key(fig, dpi)
    if name is not None:
        hit = _memory.get(name)
        if hit is None:
            hit = _store().get(name)
            if not (isinstance(hit, str) and hit.startswith(PNG_BASE64_START)):
                hit = None
        if hit is not None:
            _remember(name, hit)
            return hit
    png = base64.b64encode(draw(fig, dpi)).decode("ascii")
    if name is not None:
        _remember(name, png)
        _store().put(name, png)
    return png


def _remember(name: str, png: str) -> None:
    _memory[name] = png
    _memory.move_to_end(name)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)


def draw(fig: Figure, dpi: int) -> bytes:
    """Draw ``fig`` as PNG: no timestamp or software metadata, so the bytes are reproducible."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()
