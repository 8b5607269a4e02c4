"""Training memory per GPU: weights, gradients, optimizer states and activations, sharded by ZeRO
stage, optionally offloaded to host memory; LoRA and QLoRA; fit, largest micro-batch and sequence
length, GPUs needed.

Units: bytes unless a name says otherwise (``_gb`` = 1e9 bytes, ``_gib`` = 2**30 bytes). Psi =
trained parameters, N = GPUs (data-parallel ranks).

* Model states (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
  Parameter Models", §3.1): mixed-precision AdamW keeps 16-bit weights (2 Psi) and gradients
  (2 Psi) plus K Psi of optimizer states, K = 12 (fp32 master weights, momentum and variance):
  16 Psi bytes, 120 GB for a 7.5B model. 8-bit AdamW (Dettmers et al. 2022, "8-bit Optimizers via
  Block-wise Quantization") stores momentum and variance in 1 byte each with one fp32 absmax per
  block of 2,048 (:data:`ADAMW8BIT_BLOCK`): K = 4 + 2 x (1 + 4/2048). SGD with momentum: K = 4 + 4.
  In fp32 there is no master copy: weights 4, gradients 4, AdamW 8 (8-bit AdamW 2 x (1 + 4/2048),
  SGD 4) bytes per parameter.
* ZeRO stages (same paper, Figure 1): stage 1 divides the optimizer states by N, stage 2 the
  gradients too, stage 3 the weights too (FSDP's FULL_SHARD); 7.5B parameters on 64 GPUs:
  120 GB -> 31.4 (stage 1), 16.6 (stage 2), 1.9 GB (stage 3). Offload (ZeRO-Offload, Ren et al.
  2021) keeps the optimizer states and gradients in host memory: the GPU keeps the weights.
* LoRA (Hu et al. 2021): rank-r adapters A (d_in x r) and B (r x d_out) on the target linear layers:
  r (d_in + d_out) trainable parameters per adapted matrix; the frozen weights are kept at the
  training precision without gradients or optimizer states. QLoRA (Dettmers et al. 2023, §3):
  frozen linear weights in 4-bit NF4 with blocks of 64 and double-quantized constants,
  4 + 8/64 + 32/(64 x 256) = 4.127 bits per weight; embeddings and LM head stay 16-bit.
* Activations per layer (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
  Transformer Models", §4.1, 16-bit activations, no tensor parallelism): s b h (34 + 5 a s / h)
  bytes for sequence length s, micro-batch b, hidden size h and a attention heads; 5 a s^2 b of it
  is the attention score matrix, softmax output and dropout mask, which FlashAttention never
  stores and selective recomputation recomputes: 34 s b h. Full recomputation stores each layer's
  input, 2 s b h, and rebuilds one layer at a time (its 34 s b h, plus 5 a s^2 b without
  FlashAttention). The logits of the loss add 4 s b V (fp32, V = vocabulary). fp32 training
  doubles every term. The formula is for a GPT layer (4h MLP, full multi-head attention); for
  gated MLPs and grouped-query attention it is an approximation, and it counts the inputs of
  frozen layers that a LoRA backward pass does not need (an upper bound there).
* Usable memory per GPU = capacity (GiB x 2**30) - :data:`DEFAULT_RESERVE_GIB` (CUDA context,
  cuBLAS and NCCL workspaces; an assumption).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog
from gpucompare.data.training import METHODS, ZERO_STAGES
from gpucompare.model.memory import embedding_parameters

OPTIMIZERS = ("adamw", "adamw8bit", "sgd")
PRECISIONS = ("bf16", "fp16", "fp32")
RECOMPUTE = ("none", "selective", "full")
#: Linear layers LoRA can adapt (Llama naming: q/k/v/o projections and the gated MLP).
LORA_MODULES = ("q", "k", "v", "o", "gate", "up", "down")
DEFAULT_LORA_RANK = 16
#: 8-bit AdamW's block of values sharing one fp32 absmax (bitsandbytes' block size).
ADAMW8BIT_BLOCK = 2048
#: QLoRA NF4 storage: 4 bits, 8-bit absmax per block of 64, fp32 second-level constant per 256 blocks.
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)
#: GPU memory not available to training (CUDA context and library workspaces): an assumption.
DEFAULT_RESERVE_GIB = 1.0
#: Bytes per activation value the Korthikanti et al. formula assumes (16-bit).
_FORMULA_ACTIVATION_BYTES = 2
#: Largest GPU count :func:`gpus_needed` tries (powers of two).
MAX_GPUS_SEARCH = 65536


@dataclass(frozen=True)
class Setup:
    """One training configuration (validate with :meth:`check`)."""

    model: str
    method: str = "full"
    optimizer: str = "adamw"
    precision: str = "bf16"
    gpus: int = 1
    zero: int = 0
    offload: bool = False
    seq_len: int = 2048
    micro_batch: int = 1
    recompute: str = "none"
    lora_rank: int = DEFAULT_LORA_RANK
    lora_modules: tuple[str, ...] = LORA_MODULES
    flash_attention: bool = True
    grad_accum: int = 1

    def check(self) -> Setup:
        """Raise InputError naming the first bad field; return self."""
        catalog.get_model(self.model, "model")
        for key, value, allowed in (
            ("method", self.method, METHODS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("precision", self.precision, PRECISIONS),
            ("recompute", self.recompute, RECOMPUTE),
        ):
            if value not in allowed:
                raise unknown(key, key, value, allowed)
        if self.zero not in ZERO_STAGES or isinstance(self.zero, bool):
            raise InputError(f"zero: unknown ZeRO stage {self.zero!r}; allowed: 0, 1, 2, 3")
        for key in ("gpus", "seq_len", "micro_batch", "lora_rank", "grad_accum"):
            require_positive_int(key, getattr(self, key))
        bad = [m for m in self.lora_modules if m not in LORA_MODULES]
        if bad or not self.lora_modules:
            raise InputError(
                f"lora_modules: unknown {bad or 'empty list'}; allowed: {', '.join(LORA_MODULES)}"
            )
        return self

    @property
    def adapters(self) -> bool:
        """LoRA or QLoRA: only the adapters are trained."""
        return self.method != "full"


# --- Model states ---------------------------------------------------------------------------------


def value_bytes(precision: str) -> int:
    """Bytes of one weight, gradient or activation value at ``precision`` (bf16/fp16 2, fp32 4)."""
    if precision not in PRECISIONS:
        raise unknown("precision", "precision", precision, PRECISIONS)
    return 4 if precision == "fp32" else 2


def bytes_per_trained_parameter(optimizer: str, precision: str) -> dict[str, float]:
    """Bytes per trained parameter: ``weights``, ``gradients`` and ``optimizer`` states (the master
    fp32 copy counts as an optimizer state, as in ZeRO's K). Mixed-precision AdamW: 2 + 2 + 12."""
    if optimizer not in OPTIMIZERS:
        raise unknown("optimizer", "optimizer", optimizer, OPTIMIZERS)
    w = value_bytes(precision)
    moment_8bit = 1 + 4 / ADAMW8BIT_BLOCK  # one byte plus its share of the block's fp32 absmax
    moments = {"adamw": 8.0, "adamw8bit": 2 * moment_8bit, "sgd": 4.0}[optimizer]
    master = 4.0 if precision != "fp32" else 0.0
    return {"weights": float(w), "gradients": float(w), "optimizer": master + moments}


def lora_shapes(model: catalog.Model) -> dict[str, tuple[int, int, int]]:
    """(d_in, d_out, matrices per layer) of each adaptable linear layer; an MoE model's MLP has one
    matrix per expert."""
    h, q = model.hidden_size, model.num_attention_heads * model.head_dim
    kv = model.num_key_value_heads * model.head_dim
    i, experts = model.intermediate_size, model.num_local_experts or 1
    return {
        "q": (h, q, 1),
        "k": (h, kv, 1),
        "v": (h, kv, 1),
        "o": (q, h, 1),
        "gate": (h, i, experts),
        "up": (h, i, experts),
        "down": (i, h, experts),
    }


def lora_parameters(
    model: catalog.Model, rank: int, modules: tuple[str, ...] = LORA_MODULES
) -> int:
    """Adapter parameters: layers x sum over target modules of rank x (d_in + d_out) x matrices."""
    require_positive_int("lora_rank", rank)
    shapes = lora_shapes(model)
    per_layer = sum(rank * (shapes[m][0] + shapes[m][1]) * shapes[m][2] for m in modules)
    return model.num_hidden_layers * per_layer


def trained_parameters(setup: Setup) -> int:
    """Parameters with gradients and optimizer states: all of them, or the LoRA adapters."""
    model = catalog.get_model(setup.model)
    if setup.adapters:
        return lora_parameters(model, setup.lora_rank, setup.lora_modules)
    return model.parameters


def quantized_parameters(setup: Setup) -> int:
    """Weights QLoRA stores in NF4: every parameter but the embeddings and LM head (QLoRA §3); 0
    for LoRA and full training."""
    if setup.method != "qlora":
        return 0
    model = catalog.get_model(setup.model)
    return model.parameters - embedding_parameters(model)


def frozen_weight_bytes(setup: Setup) -> float:
    """Bytes of the frozen base weights (0 for full training): LoRA at the training precision;
    QLoRA's linear weights at :data:`NF4_BITS`, its embeddings and LM head at 16 bits."""
    if not setup.adapters:
        return 0.0
    model = catalog.get_model(setup.model)
    if setup.method == "lora":
        return model.parameters * value_bytes(setup.precision)
    nf4 = quantized_parameters(setup)
    return nf4 * NF4_BITS / units.BITS_PER_BYTE + (model.parameters - nf4) * 2


def state_bytes(
    trained: float,
    frozen_bytes: float,
    optimizer: str,
    precision: str,
    gpus: int = 1,
    zero: int = 0,
    offload: bool = False,
) -> dict[str, float]:
    """Per-GPU bytes of ``weights`` (frozen + trained), ``gradients`` and ``optimizer`` states of
    ``trained`` parameters under ZeRO stage ``zero`` over ``gpus`` GPUs (stage >= 1 divides the
    optimizer states, >= 2 the gradients, 3 the weights by the GPU count), and ``host``: what
    offload keeps in host memory instead of the gradients and optimizer states."""
    per = bytes_per_trained_parameter(optimizer, precision)
    out = {
        "weights": (frozen_bytes + trained * per["weights"]) / (gpus if zero >= 3 else 1),
        "gradients": trained * per["gradients"] / (gpus if zero >= 2 else 1),
        "optimizer": trained * per["optimizer"] / (gpus if zero >= 1 else 1),
        "host": 0.0,
    }
    if offload:
        out["host"] = out["gradients"] + out["optimizer"]
        out["gradients"] = out["optimizer"] = 0.0
    return out


def sharded_state_bytes(setup: Setup) -> dict[str, float]:
    """:func:`state_bytes` of a setup: its trained parameters and frozen weights."""
    return state_bytes(
        trained_parameters(setup),
        frozen_weight_bytes(setup),
        setup.optimizer,
        setup.precision,
        setup.gpus,
        setup.zero,
        setup.offload,
    )


# --- Activations ----------------------------------------------------------------------------------


def layer_activation_bytes(s: int, b: int, h: int, a: int, attention_scores: bool = True) -> float:
    """Korthikanti et al. (2022): s b h (34 + 5 a s / h) bytes per layer (16-bit); without the
    attention scores (FlashAttention or selective recomputation) 34 s b h."""
    return s * b * h * 34 + (5 * a * s * s * b if attention_scores else 0)


def activation_bytes(setup: Setup) -> float:
    """Activation bytes per GPU (see the module docstring): layers x per-layer bytes, or with full
    recomputation 2 s b h per layer plus one layer rebuilt; plus 4 s b V of fp32 logits."""
    model = catalog.get_model(setup.model)
    s, b, h = setup.seq_len, setup.micro_batch, model.hidden_size
    a, layers = model.num_attention_heads, model.num_hidden_layers
    scores = not setup.flash_attention and setup.recompute == "none"
    one_layer = layer_activation_bytes(s, b, h, a, scores)
    if setup.recompute == "full":
        stored = 2 * s * b * h * layers + layer_activation_bytes(
            s, b, h, a, not setup.flash_attention
        )
    else:
        stored = layers * one_layer
    scale = value_bytes(setup.precision) / _FORMULA_ACTIVATION_BYTES
    return stored * scale + 4 * s * b * model.vocab_size


# --- Fit ------------------------------------------------------------------------------------------


def usable_bytes(gpu_id: str, reserve_gib: float = DEFAULT_RESERVE_GIB) -> float:
    """Capacity (GiB x 2**30) minus the reserve."""
    gpu = catalog.get_gpu(gpu_id, "gpu")
    return (gpu.spec("memory_gib") - reserve_gib) * units.BYTES_PER_GIB


def memory_per_gpu(setup: Setup) -> dict[str, float]:
    """Bytes per GPU: ``weights``, ``gradients``, ``optimizer``, ``activations``, ``total`` (their
    sum) and ``host`` (offloaded states per GPU, in host memory)."""
    states = sharded_state_bytes(setup)
    act = activation_bytes(setup)
    total = states["weights"] + states["gradients"] + states["optimizer"] + act
    return {
        "weights": states["weights"],
        "gradients": states["gradients"],
        "optimizer": states["optimizer"],
        "activations": act,
        "total": total,
        "host": states["host"],
    }


def fits(setup: Setup, gpu_id: str, reserve_gib: float = DEFAULT_RESERVE_GIB) -> bool:
    """Whether the per-GPU total fits the usable memory."""
    return memory_per_gpu(setup)["total"] <= usable_bytes(gpu_id, reserve_gib)


def auto_recompute(setup: Setup, gpu_id: str) -> Setup:
    """The setup without recomputation if that fits, else with full recomputation (the least memory)."""
    plain = replace(setup, recompute="none")
    return plain if fits(plain, gpu_id) else replace(setup, recompute="full")


def _largest(fits_at, high: int) -> int:
    """Largest integer x in [1, high] with fits_at(x) (fits_at monotone: true then false); 0 if none."""
    if not fits_at(1):
        return 0
    lo, hi = 1, 2
    while hi <= high and fits_at(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, high + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits_at(mid) else (lo, mid)
    return lo


def max_micro_batch(setup: Setup, gpu_id: str, high: int = 1_000_000) -> int:
    """Largest micro-batch (sequences per GPU) that fits at ``setup.seq_len`` (0 if none)."""
    return _largest(lambda b: fits(replace(setup, micro_batch=b), gpu_id), high)


def max_seq_len(setup: Setup, gpu_id: str, high: int = 10_000_000) -> int:
    """Longest sequence (tokens) that fits at ``setup.micro_batch`` (0 if none); not capped by the
    model's own context limit."""
    return _largest(lambda s: fits(replace(setup, seq_len=s), gpu_id), high)


def gpus_needed(setup: Setup, gpu_id: str) -> int | None:
    """Fewest GPUs (a power of two up to :data:`MAX_GPUS_SEARCH`) at which the setup fits at its ZeRO
    stage; None if none does (stage 0 does not shrink with more GPUs; activations alone may not fit)."""
    n = 1
    while n <= MAX_GPUS_SEARCH:
        if fits(replace(setup, gpus=n), gpu_id):
            return n
        if setup.zero == 0:
            return None
        n *= 2
    return None


#: Changes :func:`fixes` tries, one at a time, in this order.
_FIXES: tuple[dict, ...] = (
    {"micro_batch": 1},
    {"recompute": "full"},
    {"zero": 3},
    {"offload": True},
    {"optimizer": "adamw8bit"},
    {"method": "lora"},
    {"method": "qlora"},
)


def fixes(setup: Setup, gpu_id: str) -> list[dict]:
    """Single changes that make a setup that does not fit fit: each ``{"change": {...},
    "memory_per_gpu_gb": ...}``; then the fewest GPUs at ZeRO stage 3 (``{"gpus": n, "zero": 3}``)."""
    out = []
    for change in _FIXES:
        if all(getattr(setup, k) == v for k, v in change.items()):
            continue
        trial = replace(setup, **change)
        if fits(trial, gpu_id):
            gb = memory_per_gpu(trial)["total"] / units.BYTES_PER_GB
            out.append({"change": change, "memory_per_gpu_gb": gb})
    n = gpus_needed(replace(setup, zero=3), gpu_id)
    if n is not None and n != setup.gpus:
        trial = replace(setup, zero=3, gpus=n)
        gb = memory_per_gpu(trial)["total"] / units.BYTES_PER_GB
        out.append({"change": {"gpus": n, "zero": 3}, "memory_per_gpu_gb": gb})
    return out
