"""The speed commands: ``gpucompare throughput`` (one configuration with an engine) and
``gpucompare plan`` (the cheapest GPUs, split and replicas for a request rate within TTFT/TPOT).
Like the rest of the command line, the model stack loads only when a command runs."""

from __future__ import annotations

import argparse

from gpucompare.cli import options
from gpucompare.cli.options import add_params_options
from gpucompare.core import jsonout
from gpucompare.core.errors import InputError
from gpucompare.core.guards import bounded_int, positive_int
from gpucompare.data import catalog, engines


def _cmd_throughput(args: argparse.Namespace) -> int:
    from gpucompare.model import calibration, throughput

    sets = list(args.set) + ([f"engine={args.engine}"] if args.engine else [])
    p, _ = options.resolve(args.params, sets)
    catalog.get_model(args.model, "--model")
    catalog.get_gpu(args.gpu, "--gpu")
    eng = engines.require_formats(p.engine, args.weights, args.kv, "--weights", "--kv")
    vendor = catalog.get_gpu(args.gpu).vendor
    if not engines.runs_on(eng.id, vendor):
        allowed = [e for e in engines.engine_ids() if engines.runs_on(e, vendor)]
        raise InputError(
            f"--engine: {eng.name} does not run on {vendor} GPUs ({args.gpu}); "
            f"allowed: {', '.join(allowed)}"
        )
    prompt = args.prompt_tokens or args.context
    s = throughput.decode_step(
        p, args.model, args.weights, args.kv, args.batch, args.context, args.gpu, gpus=args.gpus
    )
    if s["unsupported"]:
        raise InputError(f"--weights: {s['unsupported']}")
    pre = throughput.prefill_tokens_per_s(
        p, args.model, args.weights, args.kv, args.batch, prompt, args.gpu, gpus=args.gpus
    )
    tps = s["tokens_per_s"]
    result = {
        "engine": eng.id,
        "gpu": args.gpu,
        "gpus": args.gpus,
        "split": s["split"],
        "model": args.model,
        "weights": args.weights,
        "kv_cache": args.kv,
        "batch": args.batch,
        "context_tokens": args.context,
        "prompt_tokens": prompt,
        "fits": s["fits"],
        "max_batch": s["max_batch"],
        "decode_tokens_per_s": tps,
        "decode_tokens_per_s_per_sequence": s["per_sequence_tokens_per_s"],
        "prefill_tokens_per_s": pre,
        "time_per_output_token_ms": s["step_ms"] if tps else None,
        "bound": s["bound"],
        "step_ms": {k: s[k] for k in ("memory_ms", "compute_ms", "overhead_ms")},
        "fitted_parameters": calibration.parameters(eng.id, args.gpu),
    }
    if args.json:
        jsonout.print_json(result)
        return 0
    where = f"{args.gpus} x {args.gpu} ({s['split']} split)" if args.gpus > 1 else args.gpu
    head = f"{eng.name} on {where}, {args.model} {args.weights} (KV {args.kv}), batch {args.batch} x {args.context:,} tokens"
    if not tps:
        print(f"{head}: does not fit (max batch {s['max_batch']})")
        return 0
    prm = result["fitted_parameters"]
    print(
        f"{head}:\n  decode {tps:,.0f} tokens/s ({s['per_sequence_tokens_per_s']:,.1f} per sequence, "
        f"{s['step_ms']:.2f} ms per token, {s['bound']}-bound)\n"
        f"  prefill {pre:,.0f} prompt tokens/s ({prompt:,}-token prompts)\n"
        f"  rates: {prm['achieved_bandwidth_fraction']:.0%} of bandwidth, {prm['achieved_compute_fraction']:.0%} "
        f"of sustained compute, {prm['overhead_fixed_ms']:.2f} ms + {prm['overhead_per_layer_us']:.1f} us/layer "
        f"per step; {prm['provenance']}"
    )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from gpucompare.model import capacity, plan

    sets = list(args.set) + ([f"engine={args.engine}"] if args.engine else [])
    p, _ = options.resolve(args.params, sets)
    gpu_ids = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    for g in gpu_ids or []:
        catalog.get_gpu(g, "--gpus")
    catalog.get_model(args.model, "--model")
    engines.require_formats(p.engine, args.weights, args.kv, "--weights", "--kv")
    load = plan.Load(
        args.model,
        args.weights,
        args.kv,
        args.requests_per_s,
        args.prompt_tokens,
        args.output_tokens,
        args.ttft_ms,
        args.tpot_ms,
    )
    acq = plan.ACQUISITIONS if args.acquisition == "both" else (args.acquisition,)
    # Headroom (a capacity search per option) for the options shown and each acquisition's best.
    result = capacity.plan_with_headroom(p, load, top=args.top, gpu_ids=gpu_ids, acquisitions=acq)
    if args.json:
        jsonout.print_json(result)
        return 0
    print(
        f"{args.model} {args.weights} with {p.engine}: {args.requests_per_s:g} requests/s, "
        f"{args.prompt_tokens:,} prompt + {args.output_tokens:,} output tokens, "
        f"TTFT <= {args.ttft_ms:g} ms, TPOT <= {args.tpot_ms:g} ms"
    )
    if not result["options"]:
        print(f"  no option: {result['reason']}")
        return 0
    print(
        f"  {'GPU':<14}{'buy/rent':<9}{'GPUs':>5}{'per replica':>12}{'replicas':>9}"
        f"{'$/M out':>9}{'$/month':>10}{'TTFT ms':>9}{'TPOT ms':>9}{'util %':>7}  limited by"
    )
    for o in result["options"][: args.top]:
        print(
            f"  {o['gpu']:<14}{o['acquisition']:<9}{o['gpu_count']:>5}{o['gpus_per_replica']:>12}"
            f"{o['replicas']:>9}{o['usd_per_million_output_tokens']:>9.2f}{o['usd_per_month']:>10,.0f}"
            f"{o['ttft_ms']:>9.0f}{o['tpot_ms']:>9.1f}{100 * o['utilization']:>7.0f}  {o['limited_by']}"
        )
    return 0


def add_cli(sub) -> None:
    """Add the ``throughput`` and ``plan`` subcommands."""
    t = sub.add_parser(
        "throughput", help="decode and prefill speed of one configuration with an inference engine"
    )
    t.add_argument("--gpu", required=True, help="GPU catalog id, e.g. h100-sxm")
    t.add_argument(
        "--gpus",
        type=bounded_int(8, "the most GPUs one node holds in the catalog"),
        default=1,
        help="GPUs serving one copy of the model, split the way the engine splits it",
    )
    t.add_argument("--model", required=True, help="model catalog id, e.g. llama-2-7b")
    t.add_argument("--weights", default="fp16", help="weight format (data/precisions.yaml)")
    t.add_argument("--kv", default="fp16", help="KV-cache format")
    t.add_argument("--batch", type=positive_int, default=1, help="concurrent sequences")
    t.add_argument("--context", type=positive_int, default=4096, help="tokens per sequence")
    t.add_argument(
        "--prompt-tokens",
        type=positive_int,
        default=None,
        help="prompt length for the prefill speed (default: --context)",
    )
    t.add_argument(
        "--engine",
        default=None,
        help="engine id (data/engines.yaml); default: the parameter engine",
    )
    add_params_options(t)
    t.add_argument("--json", action="store_true", help="JSON output")
    t.set_defaults(func=_cmd_throughput)

    pl = sub.add_parser(
        "plan", help="cheapest GPUs, split and replicas that serve a request rate within TTFT/TPOT"
    )
    pl.add_argument("--model", required=True, help="model catalog id, e.g. llama-3-70b")
    pl.add_argument("--weights", default="fp16", help="weight format (data/precisions.yaml)")
    pl.add_argument("--kv", default="fp16", help="KV-cache format")
    pl.add_argument("--requests-per-s", type=float, required=True, help="request rate (requests/s)")
    pl.add_argument("--prompt-tokens", type=positive_int, required=True, help="mean prompt tokens")
    pl.add_argument("--output-tokens", type=positive_int, required=True, help="mean output tokens")
    pl.add_argument(
        "--ttft-ms", type=float, required=True, help="time to first token target (ms, mean)"
    )
    pl.add_argument(
        "--tpot-ms", type=float, required=True, help="time per output token target (ms)"
    )
    pl.add_argument(
        "--gpus", default=None, help="comma-separated GPU ids (default: the whole catalog)"
    )
    pl.add_argument("--engine", default=None, help="engine id (default: the parameter engine)")
    pl.add_argument("--acquisition", choices=("own", "rent", "both"), default="both")
    pl.add_argument("--top", type=positive_int, default=12, help="options shown in the text output")
    add_params_options(pl)
    pl.add_argument("--json", action="store_true", help="JSON output: options sorted by cost, best")
    pl.set_defaults(func=_cmd_plan)
