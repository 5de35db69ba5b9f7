/**
 * Training and running BatchTopK sparse autoencoders from Java over the native batchtopk library.
 *
 * <p>The pieces: {@link ai.batchtopk.NativeLibrary} finds and loads the library;
 * {@link ai.batchtopk.SaeConfig} (built with {@link ai.batchtopk.SaeConfig#builder}) describes an SAE;
 * {@link ai.batchtopk.Sae} owns one in native memory and trains it one batch at a time, the batch
 * passed by address; {@link ai.batchtopk.Evaluator} measures it; {@link ai.batchtopk.SaeLens} and
 * {@link ai.batchtopk.Checkpoint} save and load it. Every native failure is a
 * {@link ai.batchtopk.BatchTopKException} carrying a {@link ai.batchtopk.Status} and the library's
 * message; misuse of memory (heap segments, buffers too small) is an {@link IllegalArgumentException}
 * raised before any native code runs.
 *
 * <p>Downcalls need native access: run with {@code --enable-native-access=ALL-UNNAMED} (or the module
 * name) to avoid the JDK's warning.
 */
package ai.batchtopk;
