package ai.batchtopk.reliability;

import java.util.concurrent.Callable;

/** One adversarial case: its name (the issue item it checks, if any) and what runs it. */
record Case(String name, Callable<Verdict> body) {}
