"""``gpucompare models import PATH --id ID --source URL``: a Hugging Face ``config.json`` on disk as
a model catalog entry (:mod:`gpucompare.data.hf_config`).

Prints the entry as YAML (its source under ``sources:``, the model under ``models:``, the way
``data/models.yaml`` holds them), or with ``--write`` adds both to ``data/models.yaml``: the source
at the end of its ``sources`` table, the model at the end of its ``models`` list, the rest of the
file byte for byte. The new file is validated with the catalog's schema before it replaces the old
one. An id the catalog already has (model or source), an invalid id, an unreadable or unsupported
config exit 2 and write nothing. ``gpucompare models`` alone still lists the catalog.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from gpucompare.core import paths
from gpucompare.core.errors import InputError

#: Size suffix of a model id (``-405b``, ``-8x7b``, ``-0.5b``), dropped for the default family.
_SIZE = re.compile(r"-(\d+x)?\d+(\.\d+)?[bm]$")


def _q(value: Any) -> str:
    """A YAML scalar: JSON quoting for strings (valid YAML), ``null``/``true``/``false``, numbers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def entry(path: Path, model_id: str, url: str, name: str | None, family: str | None) -> dict:
    """The source (``cfg-<id>``) and the model entry of the config at ``path``."""
    # The data checks and the config reader load only for this command (the parser of every
    # command imports this module).
    from gpucompare.data import checkdata, hf_config

    if not checkdata.ID_PATTERN.match(model_id):
        raise InputError(
            f"--id: {model_id!r} is not a valid id; ids are lowercase letters, digits, '.', '-' "
            f"and '_', starting with a letter or digit ({checkdata.ID_PATTERN.pattern})"
        )
    if not re.match(r"https?://", url):
        raise InputError(f"--source: must be an http(s) address (got {url!r})")
    cfg = hf_config.read_config(path)
    s = hf_config.shape(cfg, str(path))
    source_id = f"cfg-{model_id}"
    count = hf_config.parameter_count(s)
    repo = hf_config.HF_URL.match(url)
    model = {
        "id": model_id,
        "name": name or (repo.group(2) if repo else cfg.get("_name_or_path") or model_id),
        "family": family or _SIZE.sub("", model_id) or str(cfg.get("model_type", model_id)),
        "kind": "moe" if s["num_local_experts"] else "dense",
        "config_source": source_id,
        **{k: v for k, v in s.items() if k not in ("attention_bias", "mlp_bias")},
    }
    if s["attention_bias"] != "none":
        model["attention_bias"] = s["attention_bias"]
    if s["mlp_bias"]:
        model["mlp_bias"] = True
    model["parameters"] = count
    model["parameters_source"] = source_id
    model["parameters_note"] = (
        f"Computed from the config by gpucompare models import ({count:,} parameters; formula in "
        "this file's header and gpucompare.data.hf_config): check it against the publisher's count."
    )
    return {
        "source_id": source_id,
        "source": hf_config.source_entry(url, s, path.name),
        "model": model,
    }


def source_text(source_id: str, source: dict) -> str:
    """The source as lines of a ``sources:`` table."""
    lines = [f"  {source_id}:"]
    lines += [f"    {k}: {_q(v)}" for k, v in source.items()]
    return "\n".join(lines) + "\n"


def model_text(model: dict) -> str:
    """The model as an item of a ``models:`` list."""
    items = list(model.items())
    lines = [f"  - {items[0][0]}: {_q(items[0][1])}"]
    lines += [f"    {k}: {_q(v)}" for k, v in items[1:]]
    return "\n".join(lines) + "\n"


def _known_source_ids(raw: dict) -> set[str]:
    from gpucompare.data import loading

    local = raw.get("sources") if isinstance(raw.get("sources"), dict) else {}
    return set(local) | set(loading.shared_sources())


def add_to_catalog(e: dict, models_file: Path) -> None:
    """Add the entry to ``models_file``: refuse an id already there (model or source, including
    ``data/sources.yaml``), validate the new text with the catalog's schema, then replace the file
    atomically. Nothing is written on any problem (InputError, exit 2)."""
    import yaml
    from pydantic import ValidationError

    from gpucompare.core.validation import input_error
    from gpucompare.data import catalog, loading

    text = models_file.read_text(encoding="utf-8")
    raw = paths.load_yaml(models_file)
    model_id, source_id = e["model"]["id"], e["source_id"]
    if any(m.get("id") == model_id for m in raw.get("models") or []):
        raise InputError(
            f"--id: model '{model_id}' is already in {models_file}; an entry is never overwritten "
            "(choose another id, or edit the file by hand)"
        )
    if source_id in _known_source_ids(raw):
        raise InputError(
            f"--id: source '{source_id}' is already defined in {models_file} or data/sources.yaml; "
            "choose another id"
        )
    marker = "\nmodels:\n"
    if marker not in text:
        raise InputError(f"{models_file}: no top-level 'models:' list to add to")
    head, tail = text.split(marker, 1)
    new = (
        head.rstrip("\n")
        + "\n"
        + source_text(source_id, e["source"])
        + "\n"
        + marker.lstrip("\n")
        + tail.rstrip("\n")
        + "\n\n"
        + model_text(e["model"])
    )
    new_raw = yaml.safe_load(new)
    try:
        catalog.ModelCatalog.model_validate(
            new_raw, context={loading.CONTEXT_KEY: frozenset(loading.shared_sources())}
        )
    except ValidationError as exc:  # report it, write nothing
        raise input_error(exc, catalog.ModelCatalog, models_file, new_raw) from None
    fd, tmp = tempfile.mkstemp(dir=models_file.parent, prefix=".models.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        os.replace(tmp, models_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cmd_import(args: argparse.Namespace) -> int:
    e = entry(args.path, args.id, args.source, args.name, args.family)
    if args.write:
        models_file = paths.data_dir() / "models.yaml"
        add_to_catalog(e, models_file)
        print(
            f"added model '{e['model']['id']}' ({e['model']['parameters']:,} parameters) and source "
            f"'{e['source_id']}' to {models_file}; run gpucompare check-data"
        )
        return 0
    print(
        "# The entry for data/models.yaml (gpucompare models import ... --write adds it).\n"
        "sources:\n"
        + source_text(e["source_id"], e["source"])
        + "models:\n"
        + model_text(e["model"])
    )
    return 0


def add_cli(sub) -> None:
    """Register ``models import`` under the ``models`` subcommand (whose listing stays the default
    when no action is given)."""
    models = sub.choices["models"]
    actions = models.add_subparsers(
        dest="models_action", metavar="ACTION", parser_class=type(models), required=False
    )
    imp = actions.add_parser(
        "import",
        help="turn a Hugging Face config.json into a catalog entry (printed, or --write)",
        description=__doc__.split("\n\n")[0],
    )
    imp.add_argument("path", type=Path, metavar="PATH", help="the config.json file")
    imp.add_argument("--id", required=True, help="catalog id of the model, e.g. llama-3.1-405b")
    imp.add_argument(
        "--source",
        required=True,
        metavar="URL",
        help="address of the config at a fixed revision "
        "(https://huggingface.co/ORG/REPO/blob/COMMIT/config.json)",
    )
    imp.add_argument("--name", help="display name (default: the repository name in the URL)")
    imp.add_argument("--family", help="model family (default: the id without its size suffix)")
    imp.add_argument(
        "--write",
        action="store_true",
        help="add the entry to data/models.yaml (never overwrites an id: exit 2)",
    )
    imp.set_defaults(func=cmd_import)
