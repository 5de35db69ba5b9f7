/**
 * The trainer and the {@code batchtopk} command line: reading activation files, assembling batches,
 * the training loop with its metrics log and progress bar, evaluation, and synthetic test data.
 *
 * <p>Activations never pass through the Java heap: files are memory-mapped, and a batch is either a
 * view into a mapping or rows copied from mappings into one off-heap buffer.
 */
package ai.batchtopk.training;
