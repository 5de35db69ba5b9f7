package ai.batchtopk.benchmarks;

import ai.batchtopk.NativeLibrary;

/**
 * Prints what the native library says about itself, for the header of a benchmark report:
 * {@code java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=... -cp benchmarks.jar
 * ai.batchtopk.benchmarks.MachineInfo}.
 */
public final class MachineInfo {
    private MachineInfo() {}

    public static void main(String[] args) {
        System.out.println("library=" + NativeLibrary.load());
        System.out.println("build_info=" + NativeLibrary.buildInfo());
        System.out.println("torch_threads=" + NativeLibrary.setNumThreads(0));
        System.out.println("cuda_available=" + NativeLibrary.cudaAvailable());
        System.out.println(
                "java=" + System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
    }
}
