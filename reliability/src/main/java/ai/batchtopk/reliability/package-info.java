/**
 * What the adversarial suite runs inside its child JVMs: drivers that exercise the library and the
 * command line in process (hostile files, concurrent use of one {@code Sae}, fused against naive,
 * checkpoint loading) and report what happened as lines on stdout or in a results file. The runner,
 * which judges those lines, is this module's test code; see RELIABILITY.md.
 */
package ai.batchtopk.reliability;
