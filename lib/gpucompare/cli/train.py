"""The ``gpucompare train`` command: memory per GPU, fit, speed, time and cost of training or
fine-tuning one model on a number of GPUs (:func:`gpucompare.model.training.estimate`). A setup
that does not fit answers with ``fits: false`` and the single changes that would fit (exit 0); an
unknown model, GPU, method, optimizer, precision or link exits 2 naming the flag. Like the rest of
the command line, the model stack loads only when the command runs."""

from __future__ import annotations

import argparse

from gpucompare import params
from gpucompare.cli import options
from gpucompare.cli.options import add_params_options
from gpucompare.core import jsonout
from gpucompare.core.errors import unknown
from gpucompare.core.guards import bounded_int, positive_int
from gpucompare.data import catalog
from gpucompare.data.interconnect import get_link

#: Allowed values of the choice flags (the library checks them again).
METHODS = ("full", "lora", "qlora")
OPTIMIZERS = ("adamw", "adamw8bit", "sgd")
PRECISIONS = ("bf16", "fp16", "fp32")
RECOMPUTE = ("auto", "none", "selective", "full")
#: The most tokens a run may name: 1e15, about 70x the largest published pretraining run (Llama 3:
#: 15 trillion tokens).
MAX_TOKENS = 10**15
#: Flag of each setup field a suggested change touches.
_FLAGS = {
    "micro_batch": "--micro-batch",
    "recompute": "--recompute",
    "zero": "--zero",
    "gpus": "--gpus",
    "offload": "--offload",
    "optimizer": "--optimizer",
    "method": "--method",
}


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise unknown(flag.lstrip("-"), flag, value, allowed)
    return value


def flags_of(change: dict) -> str:
    """A suggested change as command-line flags (``{"gpus": 8, "zero": 3}`` -> ``--gpus 8 --zero 3``)."""
    parts = []
    for key, value in change.items():
        parts.append(_FLAGS[key] if value is True else f"{_FLAGS[key]} {value}")
    return " ".join(parts)


def _setup(args: argparse.Namespace):
    from gpucompare.model import training_memory as tm

    catalog.get_model(args.model, "--model")
    catalog.get_gpu(args.gpu, "--gpu")
    if args.node_link:
        get_link(args.node_link, "--node-link")
    modules = tuple(m.strip() for m in args.lora_modules.split(",") if m.strip())
    for m in modules:
        _choice("--lora-modules", m, tm.LORA_MODULES)
    setup = tm.Setup(
        model=args.model,
        method=_choice("--method", args.method, METHODS),
        optimizer=_choice("--optimizer", args.optimizer, OPTIMIZERS),
        precision=_choice("--precision", args.precision, PRECISIONS),
        gpus=args.gpus,
        zero=args.zero,
        offload=args.offload,
        seq_len=args.seq_len,
        micro_batch=args.micro_batch,
        recompute="none" if args.recompute == "auto" else args.recompute,
        lora_rank=args.lora_rank,
        lora_modules=modules or tm.LORA_MODULES,
        grad_accum=args.grad_accum,
    ).check()
    if args.recompute == "auto":
        setup = tm.auto_recompute(setup, args.gpu)
    return setup


def _gb(x: float) -> str:
    return f"{x:,.1f}"


def _print_text(r: dict) -> None:
    m = catalog.get_model(r["model"])
    method = {"full": "full training", "lora": "LoRA", "qlora": "QLoRA"}[r["method"]]
    if r["lora_rank"]:
        method += f" (rank {r['lora_rank']})"
    zero = f"ZeRO-{r['zero']}" + (" + offload" if r["offload"] else "")
    print(
        f"{m.name}, {method}, {r['optimizer']}, {r['precision']} on {r['gpus']} x {r['gpu']} "
        f"({zero}); micro-batch {r['micro_batch']} x {r['seq_len']:,} tokens, "
        f"recompute {r['recompute']}; {r['trained_parameters']:,} trained parameters"
    )
    mem = r["memory_per_gpu_gb"]
    heads = ("weights", "gradients", "optimizer", "activations", "total", "usable")
    print("  memory per GPU, GB  " + "".join(f"{h:>12}" for h in heads))
    cells = [mem[f"{h}_gb"] for h in heads[:5]] + [r["usable_gb"]]
    verdict = "fits" if r["fits"] else "does not fit"
    print("                      " + "".join(f"{_gb(v):>12}" for v in cells) + f"  {verdict}")
    if r["host_memory_per_gpu_gb"]:
        print(f"  offloaded to host memory: {_gb(r['host_memory_per_gpu_gb'])} GB per GPU")
    need = r["gpus_needed"] if r["gpus_needed"] is not None else "none at this ZeRO stage"
    print(
        f"  largest micro-batch {r['max_micro_batch']}, longest sequence {r['max_seq_len']:,} "
        f"tokens, GPUs needed {need}"
    )
    if not r["fits"]:
        print("  changes that fit, one at a time:")
        for f in r["fixes"]:
            print(f"    {f['flags']:<28} {_gb(f['memory_per_gpu_gb'])} GB per GPU")
        if not r["fixes"]:
            print("    none of the single changes tried")
        return
    cal = r["calibration"]
    print(
        f"  speed: {r['tokens_per_s']:,.0f} tokens/s ({r['tokens_per_s_per_gpu']:,.0f} per GPU); "
        f"MFU {r['mfu']:.1%} ({cal['gpu_class']} compute MFU {cal['mfu_compute']:.1%}, held-out "
        f"error median {cal['held_out_median_abs_error']:.0%} over {cal['rows']} measurements)"
    )
    if r["dequant_s"]:
        print(
            f"  QLoRA weight rebuilds: {r['dequant_s']:.3f} s of each {r['step_s']:.3f} s step "
            f"({cal['dequant_factor']:.1f}x the memory traffic of reading NF4 and writing bf16; "
            f"held-out error median {cal['dequant_held_out_median_abs_error']:.0%} over "
            f"{cal['dequant_pairs']} QLoRA/LoRA pairs)"
        )
    link = r["link"] or "one GPU"
    print(f"  scaling efficiency {r['scaling_efficiency']:.0%} over {link}")
    print(
        "  scaling efficiency by GPU count: "
        + ", ".join(f"{n}: {e:.0%}" for n, e in r["scaling"].items())
    )
    if not r["finishes"]:
        print(
            f"  {r['tokens']:,.0f} tokens: memory-error rollbacks of {r['gpus']:,} GPUs come faster "
            "than checkpoints, so the run never finishes (checkpoint more often)"
        )
        return
    print(
        f"  {r['tokens']:,.0f} tokens: {r['hours']:,.1f} h ({r['gpu_hours']:,.0f} GPU-hours; memory-error "
        f"rollbacks x{r['rollback_factor']:.4f}; floor at peak {r['floor_hours']:,.1f} h)"
    )
    print(
        f"  cost: own ${r['usd_own']:,.0f} (${r['usd_per_gpu_hour_own']:.2f}/GPU-hour), "
        f"rent ${r['usd_rent']:,.0f} (${r['usd_per_gpu_hour_rent']:.2f}/GPU-hour, {r['rent_price_source']})"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from gpucompare.model import training

    # The data checks are skipped for inputs that passed them before, as for the other commands.
    p, _ = options.resolve(args.params, args.set)
    setup = _setup(args)
    result = training.estimate(p, setup, args.gpu, args.tokens, args.node_link)
    for f in result["fixes"]:
        f["flags"] = flags_of(f["change"])
    if args.json:
        jsonout.print_json(result)
        return 0
    _print_text(result)
    return 0


def add_cli(sub) -> None:
    """Add the ``train`` subcommand."""
    t = sub.add_parser(
        "train", help="memory, fit, speed, time and cost of training or fine-tuning a model"
    )
    t.add_argument("--model", required=True, help="model catalog id, e.g. llama-2-7b")
    t.add_argument("--method", default="full", help="full, lora or qlora (default: full)")
    t.add_argument("--optimizer", default="adamw", help="adamw, adamw8bit or sgd (default: adamw)")
    t.add_argument("--precision", default="bf16", help="bf16, fp16 or fp32 (default: bf16)")
    t.add_argument("--gpu", required=True, help="GPU catalog id, e.g. h100-sxm")
    t.add_argument(
        "--gpus",
        type=bounded_int(params.MAX_GPUS, "the largest training clusters"),
        default=1,
        help="data-parallel GPUs (default: 1)",
    )
    t.add_argument(
        "--zero", type=int, choices=(0, 1, 2, 3), default=0, help="ZeRO stage (3 = FSDP full shard)"
    )
    t.add_argument(
        "--offload", action="store_true", help="optimizer states and gradients in host memory"
    )
    t.add_argument(
        "--tokens",
        type=bounded_int(MAX_TOKENS, "70x the largest published pretraining run"),
        default=1_000_000_000,
        help="tokens to train on (default: 1,000,000,000)",
    )
    t.add_argument(
        "--seq-len",
        type=bounded_int(params.MAX_CONTEXT_TOKENS, "the longest context of any model"),
        default=2048,
        help="tokens per sequence (default: 2048)",
    )
    t.add_argument(
        "--micro-batch",
        type=bounded_int(params.MAX_BATCH, "far beyond any training micro-batch"),
        default=1,
        help="sequences per GPU per forward/backward pass (default: 1)",
    )
    t.add_argument(
        "--grad-accum", type=positive_int, default=1, help="micro-batches per optimizer step"
    )
    t.add_argument(
        "--recompute",
        choices=RECOMPUTE,
        default="auto",
        help="activation recomputation (auto: none if it fits, else full)",
    )
    t.add_argument(
        "--lora-rank",
        type=bounded_int(65536, "far beyond any LoRA rank"),
        default=16,
        help="LoRA/QLoRA adapter rank (default: 16)",
    )
    t.add_argument(
        "--lora-modules",
        default="q,k,v,o,gate,up,down",
        help="comma-separated LoRA targets (default: all linear layers)",
    )
    t.add_argument(
        "--node-link",
        default=None,
        help="link between nodes for more GPUs than a node holds (data/interconnect.yaml; "
        "default infiniband-ndr)",
    )
    add_params_options(t)
    t.add_argument("--json", action="store_true", help="JSON output (GB = 1e9 bytes)")
    t.set_defaults(func=_cmd_train)
