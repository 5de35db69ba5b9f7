package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/** Where the SAE's parameters live and its steps run. */
public enum Device {
    CPU(BTK_DEVICE_CPU()),
    /** Needs a build with CUDA and a GPU; see {@link NativeLibrary#cudaAvailable()}. */
    CUDA(BTK_DEVICE_CUDA());

    private final int code;

    Device(int code) {
        this.code = code;
    }

    /** The {@code BTK_DEVICE_*} value. */
    public int code() {
        return code;
    }

    /** The device for a {@code BTK_DEVICE_*} value. */
    public static Device fromCode(int code) {
        return EnumLookup.byCode(Device.class, Device::code, code, "device");
    }
}
