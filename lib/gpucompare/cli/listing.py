"""The listing commands, written for a terminal: ``gpucompare gpus``, ``gpucompare models`` (the
catalogs' key columns in one screen width; ``--all`` every field, ``--json`` every field as JSON)
and ``gpucompare audit`` (the article's claims, ``--verdict`` to filter; explanations wrapped to
the terminal).

Text output fits :func:`width` columns: the terminal's width (``$COLUMNS`` where set), at most
:data:`MAX_WIDTH`; when the output is not a terminal, :data:`MAX_WIDTH`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import textwrap
from collections.abc import Sequence

from gpucompare.core import jsonout
from gpucompare.core.errors import unknown
from gpucompare.data import catalog

#: The widest text output, in columns (the default where the width is unknown).
MAX_WIDTH = 100
#: Spaces between two columns of a table.
GAP = "  "
#: A value that is not there (a field the GPU does not have).
MISSING = "-"


def width() -> int:
    """Columns available for text output: the terminal's (or ``$COLUMNS``), at most :data:`MAX_WIDTH`."""
    return max(40, min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns))


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with ``...``."""
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def number(value, decimals: int | None = None) -> str:
    """A number for a reader: thousands separated; ``decimals`` fixed, else three significant
    figures (whole numbers as they are, and from 100 up); booleans as yes/no; None or NaN as
    :data:`MISSING`."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # a numpy scalar from a data frame
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if isinstance(value, int) or abs(value) >= 100 or value.is_integer():
        return f"{value:,.0f}"
    return f"{value:#.3g}".rstrip(".")  # 13.0, 6.74, 0.500: trailing zeros are significant


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A plain-text table: a header (a ``\\n`` in a header makes a second header line), numeric
    columns right-aligned, the others left-aligned. Where it is wider than :func:`width`, the
    widest text column is clipped to fit."""
    heads = [h.split("\n") for h in headers]
    depth = max(len(h) for h in heads)
    heads = [[""] * (depth - len(h)) + h for h in heads]  # header words sit on the last line
    widths = [max([len(x) for x in h] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    over = sum(widths) + len(GAP) * (len(widths) - 1) - width()
    text_cols = [i for i, is_num in enumerate(numeric) if not is_num]
    if over > 0 and text_cols:
        widest = max(text_cols, key=lambda i: widths[i])
        widths[widest] = max(max(len(x) for x in heads[widest]), widths[widest] - over)

    def line(cells: Sequence[str]) -> str:
        out = [
            clip(c, w).rjust(w) if is_num else clip(c, w).ljust(w)
            for c, w, is_num in zip(cells, widths, numeric, strict=True)
        ]
        return GAP.join(out).rstrip()

    lines = [line([h[k] for h in heads]) for k in range(depth)]
    lines.append(GAP.join("-" * w for w in widths))
    lines += [line(r) for r in rows]
    return "\n".join(lines)


def records(frame, id_name: str) -> str:
    """Every field of every row, one block per row: the id, then ``field  value`` lines, long values
    wrapped under their column (``--all``)."""
    names = [str(c) for c in frame.columns]
    key_w = max(len(n) for n in names)
    value_w = max(20, width() - key_w - 4)
    blocks = []
    for row_id, row in frame.iterrows():
        lines = [f"{id_name} {row_id}"]
        for name, value in zip(names, row.tolist(), strict=True):
            text = _float(value) if isinstance(value, float) else number(value)
            wrapped = textwrap.wrap(text, value_w, break_on_hyphens=False) or [text]
            lines.append(f"  {name:<{key_w}}  {wrapped[0]}")
            lines += [f"  {'':<{key_w}}  {more}" for more in wrapped[1:]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _float(value: float) -> str:
    """A catalog figure as written in the data (``--all`` shows values, not roundings)."""
    if math.isnan(value):
        return MISSING
    return f"{value:,.0f}" if value.is_integer() else f"{value:,}"


def _print_json(frame) -> None:
    jsonout.print_json(json.loads(frame.reset_index().to_json(orient="records")))


# --- gpus, models --------------------------------------------------------------------------------


def cmd_gpus(args: argparse.Namespace) -> int:
    if args.json:
        _print_json(catalog.gpu_frame())
        return 0
    if args.all:
        frame = catalog.gpu_frame()
        for g in catalog.gpu_catalog().gpus:
            for key, value in g.price.model_dump().items():
                frame.loc[g.id, key if key == "value_usd" else f"price_{key}"] = value
        print(records(frame.rename(columns={"value_usd": "price_usd"}), "gpu"))
        return 0
    rows = [
        [
            g.id,
            g.name,
            number(g.spec("memory_gib")),
            number(g.spec("memory_bandwidth_gb_s"), 0),
            number(g.spec("bf16_tensor_tflops"), 0),
            number(g.spec("tdp_w"), 0),
            number(g.price.value_usd, 0),
        ]
        for g in catalog.gpu_catalog().gpus
    ]
    headers = ["id", "name", "memory\nGiB", "bandwidth\nGB/s", "BF16 dense\nTFLOPS", "TDP\nW"]
    print(
        table([*headers, "price\nUSD"], rows, [False, False, True, True, True, True, True])
        + "\n\nBF16 dense: tensor-core peak without sparsity. Price: the catalog's (its kind and date"
        "\nwith --all). --all: every field; --json: every field as JSON."
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if args.json:
        _print_json(catalog.model_frame())
        return 0
    if args.all:
        print(records(catalog.model_frame(), "model"))
        return 0
    rows = [
        [
            m.id,
            number(m.parameters / 1e9),
            number(m.num_hidden_layers),
            number(m.num_attention_heads),
            number(m.num_key_value_heads),
            number(m.max_position_embeddings),
        ]
        for m in catalog.model_catalog().models
    ]
    headers = ["id", "parameters\nbillions", "layers", "attention\nheads", "KV\nheads"]
    print(
        table([*headers, "context\ntokens"], rows, [False, True, True, True, True, True])
        + "\n\n--all: every field; --json: every field as JSON."
    )
    return 0


# --- audit ---------------------------------------------------------------------------------------


def verdicts(values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """The ``--verdict`` values (repeatable, or comma-separated), checked against ``allowed``;
    an unknown one is an InputError (exit code 2) naming the allowed values."""
    chosen = [v.strip() for item in values for v in item.split(",") if v.strip()]
    for v in chosen:
        if v not in allowed:
            raise unknown("verdict", "--verdict", v, allowed)
    return chosen


def stated(value) -> str:
    """A value as the article printed it (no rounding, no added zeros)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}"
    return number(value)


def claim_lines(row: dict, id_width: int, columns: int) -> list[str]:
    """One claim for a terminal: verdict, id, the article's value, the recomputed value and the unit
    on one line, or on two where one is too narrow (each clipped to ``columns``), then the
    explanation wrapped and indented."""
    indent = " " * 13
    name = f"{row['verdict']:<12} {row['id']:<{id_width}}"
    values = (
        f"article {stated(row['seed_value']):>7}  recomputed {number(row['computed_value']):>7}"
        f"  {row['unit']}"
    )
    head = [f"{name}  {values}"]
    if len(head[0]) > columns:
        head = [clip(name.rstrip(), columns), clip(indent + values, columns)]
    body = textwrap.wrap(
        row["explanation"],
        columns,
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,  # ids, paths and repository names stay whole
    )
    return [*head, *body]


def cmd_audit(args: argparse.Namespace) -> int:
    from gpucompare import audit  # the claim checks load the model stack

    chosen = verdicts(args.verdict, audit.VERDICTS)
    everything = audit.run(args.section)
    rows = [r for r in everything if not chosen or r["verdict"] in chosen]
    if args.json:
        jsonout.print_json(rows)
        return 0
    columns = width()
    id_width = min(max((len(r["id"]) for r in rows), default=0), 32)
    for r in rows:
        print("\n".join(claim_lines(r, id_width, columns)))
    counts = {v: sum(r["verdict"] == v for r in rows) for v in audit.VERDICTS}
    shown = ", ".join(f"{n} {v}" for v, n in counts.items() if n or not chosen)
    of = f" (of {len(everything)} claims)" if chosen else ""
    print(f"{shown or 'no claims'}{of}")
    return 0


def add_audit_cli(sub) -> None:
    """The ``audit`` subcommand."""
    aud = sub.add_parser("audit", help="recompute every claim of the article and classify it")
    aud.add_argument(
        "--json",
        action="store_true",
        help="a list of objects (id, section, claim, seed_value, computed_value, unit, verdict, explanation)",
    )
    aud.add_argument("--section", help="only this section's claims")
    aud.add_argument(
        "--verdict",
        action="append",
        default=[],
        metavar="VERDICT",
        help="only claims with this verdict: ok, wrong, misleading or unverifiable "
        "(repeatable, or comma-separated)",
    )
    aud.set_defaults(func=cmd_audit)


def add_catalog_cli(sub) -> None:
    """The ``gpus`` and ``models`` subcommands."""
    for name, func, what in (("gpus", cmd_gpus, "GPU"), ("models", cmd_models, "model")):
        p = sub.add_parser(name, help=f"list the {what} catalog (key columns; --all every field)")
        p.add_argument("--all", action="store_true", help="every field, one block per entry")
        p.add_argument("--json", action="store_true", help="every field as JSON")
        p.set_defaults(func=func)
