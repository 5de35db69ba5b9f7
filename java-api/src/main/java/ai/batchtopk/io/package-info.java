/**
 * File formats for activations and weights, read by memory mapping (never copied through the Java heap)
 * and written atomically.
 *
 * <ul>
 *   <li>{@link ai.batchtopk.io.Tensor}: dtype + shape + a {@link java.lang.foreign.MemorySegment} over
 *       the little-endian, row-major bytes. Mapped data may be misaligned: read it with unaligned
 *       layouts such as {@link ai.batchtopk.io.Tensor#F32_LE}.</li>
 *   <li>{@link ai.batchtopk.io.Npy}: NumPy .npy (versions 1.0 to 3.0, C order).</li>
 *   <li>{@link ai.batchtopk.io.Safetensors}: safetensors, fully validated on open.</li>
 *   <li>{@link ai.batchtopk.io.JsonCodec}: JSON reading and writing (Jackson) with limits for hostile files.</li>
 *   <li>{@link ai.batchtopk.io.AtomicFiles}: temp file + fsync + atomic rename, for every writer.</li>
 * </ul>
 *
 * <p>A file that can be read but is not valid (truncated, hostile, unsupported) is reported as a
 * {@link ai.batchtopk.io.MalformedFileException} whose message names the file and the problem, never
 * as an unchecked exception; no length field read from a file is trusted for an allocation (headers are
 * capped: 100 MB for safetensors, 1 MiB for .npy).
 */
package ai.batchtopk.io;
