"""Rewrite ``gpucompare`` imports after modules move between subpackages (a refactoring aid).

Usage: ``python tools/reimport.py OLD=NEW [OLD=NEW ...]`` with dotted module names below
``gpucompare`` (e.g. ``paths=core.paths``). Rewrites every ``.py`` file under ``lib/``, ``tests/``,
``bench/`` and the code cells of ``notebooks/*.ipynb``:

* ``from gpucompare import a, b`` (one line or parenthesised) -> one import per new parent package;
* ``from gpucompare.OLD import x`` -> ``from gpucompare.NEW import x``;
* the dotted name in strings and docstrings (``"gpucompare.OLD.func"``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_FROM_PKG = re.compile(
    r"^(?P<indent>[ \t]*)from gpucompare import (?P<names>\([^)]*\)|[^\n]*?)(?P<comment>[ \t]*#[^\n]*)?$",
    re.M,
)


def _split_names(text: str) -> list[str]:
    text = text.strip().removeprefix("(").removesuffix(")")
    text = re.sub(r"#[^\n]*", "", text)
    return [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]


def rewrite(source: str, mapping: dict[str, str]) -> str:
    def from_pkg(m: re.Match) -> str:
        names = _split_names(m.group("names"))
        groups: dict[str, list[str]] = {}
        for entry in names:
            name, _, alias = entry.partition(" as ")
            new = mapping.get(name.strip(), name.strip())
            parent, _, leaf = ("gpucompare." + new).rpartition(".")
            shown = leaf + (f" as {alias.strip()}" if alias else "")
            groups.setdefault(parent, []).append(shown)
        if all(p == "gpucompare" for p in groups) and len(groups) == 1:
            return m.group(0)
        indent, comment = m.group("indent"), m.group("comment") or ""
        lines = []
        for parent in sorted(groups):
            lines.append(f"{indent}from {parent} import {', '.join(sorted(groups[parent]))}")
        lines[0] += comment
        return "\n".join(lines)

    source = _FROM_PKG.sub(from_pkg, source)
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        source = re.sub(rf"\bgpucompare\.{re.escape(old)}\b", f"gpucompare.{new}", source)
    return source


def main(argv: list[str]) -> None:
    mapping = dict(a.split("=", 1) for a in argv)
    for folder in ("lib", "tests", "bench", "tools", "docs"):
        for path in sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.md")):
            if path.resolve() == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8")
            new = rewrite(text, mapping)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote {path.relative_to(ROOT)}")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "code":
                new = rewrite(cell.source, mapping)
                changed |= new != cell.source
                cell.source = new
        if changed:
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
