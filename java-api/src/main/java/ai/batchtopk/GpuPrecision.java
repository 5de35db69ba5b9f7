package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/** The precision of the encoder GEMM of a step on a CUDA device. */
public enum GpuPrecision {
    /** bf16 inputs, fp32 accumulation and fp32 pre-activations (the default); the naive path under bf16 autocast. */
    BF16(BTK_GPU_PRECISION_BF16()),
    /** fp32 throughout. */
    FP32(BTK_GPU_PRECISION_FP32());

    private final int code;

    GpuPrecision(int code) {
        this.code = code;
    }

    /** The {@code BTK_GPU_PRECISION_*} value. */
    public int code() {
        return code;
    }
}
