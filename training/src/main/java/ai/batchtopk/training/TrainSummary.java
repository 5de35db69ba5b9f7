package ai.batchtopk.training;

import ai.batchtopk.StepMetrics;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.RunResult;
import ai.batchtopk.train.RunSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The one line {@code train} prints at the end (stdout, JSON). */
final class TrainSummary {
    private TrainSummary() {}

    static Map<String, Object> of(RunResult result, RunSpec spec) {
        StepMetrics m = result.last();
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", m.step());
        line.put("tokens", result.tokens());
        line.put("loss", MetricsLog.finite(m.loss()));
        line.put("mse", MetricsLog.finite(m.mse()));
        line.put("l0", MetricsLog.finite(m.l0()));
        line.put("dead", m.dead());
        line.put("theta", MetricsLog.finite(m.theta()));
        line.put("tokens_per_s", MetricsLog.finite(result.tokensPerSecond()));
        line.put("seconds", result.seconds());
        line.put(
                "out",
                (spec.sweep()
                                ? spec.out().toAbsolutePath().normalize()
                                : result.saes().getFirst().dir())
                        .toString());
        if (spec.sweep()) {
            List<Map<String, Object>> saes = new ArrayList<>();
            for (RunResult.Sae sae : result.saes()) {
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("name", sae.name());
                one.put("mse", MetricsLog.finite(sae.last().mse()));
                one.put("nmse", MetricsLog.finite(sae.last().nmse()));
                one.put("l0", MetricsLog.finite(sae.last().l0()));
                one.put("dead", sae.last().dead());
                one.put("out", sae.dir().toString());
                saes.add(one);
            }
            line.put("saes", saes);
        }
        return line;
    }
}
