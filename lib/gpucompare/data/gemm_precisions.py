"""GEMM data types: which catalog peak (``data/gpus.yaml``) applies to each and how many bytes an
input and an output element take. Read by the roofline (``model.gemm``), the kernel-measurement
loader (``data.measurements``) and the measuring tool (``gpucompare measure``)."""

from __future__ import annotations

from dataclasses import dataclass

from gpucompare.core.errors import unknown


@dataclass(frozen=True)
class GemmPrecision:
    """A GEMM data type: which catalog peak applies and bytes per input and output element."""

    id: str
    peak_field: str
    input_bytes: int
    output_bytes: int
    label: str


#: GEMM precisions; ``fp16`` is FP16 inputs with FP32 accumulation, what PyTorch's cuBLAS call uses.
GEMM_PRECISIONS: dict[str, GemmPrecision] = {
    p.id: p
    for p in (
        GemmPrecision("fp16", "fp16_tensor_fp32acc_tflops", 2, 2, "FP16, FP32 accumulate"),
        GemmPrecision("fp16_fp16acc", "fp16_tensor_fp16acc_tflops", 2, 2, "FP16, FP16 accumulate"),
        GemmPrecision("bf16", "bf16_tensor_tflops", 2, 2, "BF16, FP32 accumulate"),
        GemmPrecision("tf32", "tf32_tensor_tflops", 4, 4, "TF32 tensor (FP32 storage)"),
        GemmPrecision("fp32", "fp32_tflops", 4, 4, "FP32, CUDA cores"),
        GemmPrecision("fp8", "fp8_tensor_tflops", 1, 2, "FP8, BF16 output"),
        GemmPrecision("int8", "int8_tensor_tops", 1, 4, "INT8, INT32 output"),
    )
}


def gemm_precision(precision: str, key: str = "precision") -> GemmPrecision:
    """The GEMM precision ``precision``; unknown ids raise InputError naming the allowed ones."""
    if precision not in GEMM_PRECISIONS:
        raise unknown("GEMM precision", key, precision, GEMM_PRECISIONS)
    return GEMM_PRECISIONS[precision]
