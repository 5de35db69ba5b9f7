package ai.batchtopk.reliability;

import ai.batchtopk.SaeLens;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.reliability.HostileFile.Kind;
import ai.batchtopk.reliability.HostileFiles.Mutation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hostile SAELens directories: valid variants of the reference SAE that must load and evaluate right,
 * then seeded random picks among hostile cfg.json files (truncated, not JSON, deep nesting, huge
 * numbers and strings, duplicate keys, invalid UTF-8, wrong types and values, a directory in its
 * place) and hostile weights (missing, wrong shape or dtype, NaN, bad JumpReLU thresholds).
 */
final class HostileSaeDirs {
    private HostileSaeDirs() {}

    static void addTo(HostileFiles h, int extra) {
        valid(h);
        h.mutate(
                List.of(
                        new Mutation(1, HostileSaeDirs::truncatedConfig),
                        new Mutation(brokenConfigs(h.sae).length + 2, HostileSaeDirs::brokenConfig),
                        new Mutation(CHANGES.length, HostileSaeDirs::hostileValue),
                        new Mutation(8, HostileSaeDirs::hostileWeights)),
                extra);
    }

    private static void valid(HostileFiles h) {
        accepted(h, "standard", h.sae, json(h.sae));
        ReferenceSae jump =
                ReferenceSae.random(ReferenceSae.Kind.JUMPRELU, HostileFiles.D, HostileFiles.D_SAE, h.random);
        accepted(h, "jumprelu", jump, json(jump));
        accepted(h, "torch-dtype-name", h.sae, with(h.sae, "dtype", "torch.float32"));
        accepted(h, "no-architecture-key", h.sae, without(h.sae, "architecture"));
        accepted(h, "unknown-keys", h.sae, with(h.sae, "some_future_key", Map.of("nested", List.of(1, 2.5, "x"))));
        accepted(
                h,
                "nested-60-deep",
                h.sae,
                json(h.sae)
                        .replace(
                                "\"metadata\": {",
                                "\"deep\": " + "[".repeat(60) + "]".repeat(60) + ", \"metadata\": {"));
        accepted(h, "huge-string", h.sae, json(h.sae).replace("\"reference\"", "\"" + "r".repeat(5 << 20) + "\""));
        accepted(h, "escaped-unicode", h.sae, json(h.sae).replace("\"reference\"", "\"caf\\u00e9 \\ud83d\\ude00\""));
    }

    private static void accepted(HostileFiles h, String tag, ReferenceSae sae, String cfg) {
        String id = h.nextId("sae", tag);
        h.saeAccepted(id, write(h, id, sae, cfg.getBytes(StandardCharsets.UTF_8)), sae, tag);
    }

    private static void refused(HostileFiles h, String tag, byte[] cfg, String note) {
        String id = h.nextId("sae", tag);
        h.refused(Kind.SAE_DIR, id, write(h, id, h.sae, cfg), note);
    }

    private static Path write(HostileFiles h, String id, ReferenceSae sae, byte[] cfg) {
        try {
            return HostileFiles.writeSae(h.dir.resolve(id), sae, cfg);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** cfg.json as SAELens writes it: pretty, {@code "key": value}. */
    static String json(ReferenceSae sae) {
        return JsonCodec.writePretty(sae.config());
    }

    private static String with(ReferenceSae sae, String key, Object value) {
        Map<String, Object> cfg = new LinkedHashMap<>(sae.config());
        cfg.put(key, value);
        return JsonCodec.writePretty(cfg);
    }

    private static String without(ReferenceSae sae, String key) {
        Map<String, Object> cfg = new LinkedHashMap<>(sae.config());
        cfg.remove(key);
        return JsonCodec.writePretty(cfg);
    }

    private static void truncatedConfig(HostileFiles h, int v) {
        byte[] full = json(h.sae).getBytes(StandardCharsets.UTF_8);
        int at = h.random.nextInt(full.length - 1);
        refused(h, "cfg-truncated", Arrays.copyOf(full, at), "cfg.json cut to " + at + " of " + full.length + " bytes");
    }

    private static String[] brokenConfigs(ReferenceSae sae) {
        String cfg = json(sae);
        return new String[] {
            "",
            "   ",
            "[]",
            "null",
            "42",
            "\"cfg\"",
            "{",
            cfg + "}",
            cfg.replace("{", "{{"),
            cfg.replace(
                    "\"metadata\": {", "\"deep\": " + "[".repeat(200_000) + "]".repeat(200_000) + ", \"metadata\": {"),
            cfg.replace("\"d_in\": 8", "\"d_in\": 8, \"d_in\": 8"),
            "\ufeff" + cfg,
            cfg.replace(",", ",,"),
            cfg.replace("\"d_in\"", "d_in"),
            "\u0000\u0001\u0002"
        };
    }

    private static void brokenConfig(HostileFiles h, int v) {
        String[] texts = brokenConfigs(h.sae);
        if (v == texts.length) {
            // Latin-1 bytes where UTF-8 is expected: "café" saved by an editor in the wrong encoding.
            refused(
                    h,
                    "cfg-latin1",
                    json(h.sae).replace("\"reference\"", "\"caf\u00e9\"").getBytes(StandardCharsets.ISO_8859_1),
                    "cfg.json in Latin-1");
        } else if (v == texts.length + 1) {
            String id = h.nextId("sae", "cfg-is-a-directory");
            Path dir = write(h, id, h.sae, new byte[0]);
            try {
                Files.delete(dir.resolve(SaeLens.CONFIG_FILE));
                Files.createDirectories(dir.resolve(SaeLens.CONFIG_FILE));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            h.refused(Kind.SAE_DIR, id, dir, "cfg.json is a directory");
        } else {
            String text = texts[v];
            refused(
                    h,
                    "cfg-json",
                    text.getBytes(StandardCharsets.UTF_8),
                    "cfg.json " + (text.length() > 60 ? text.substring(0, 60) + "..." : text));
        }
    }

    private static final Object[][] CHANGES = {
        {"d_in", -8},
        {"d_in", 0},
        {"d_in", "8"},
        {"d_in", 8.5},
        {"d_in", null},
        {"d_in", true},
        {"d_in", 9223372036854775807L},
        {"d_in", 1e300},
        {"d_sae", 17},
        {"d_sae", 4_000_000_000L},
        {"d_sae", -16},
        {"architecture", "foo"},
        {"architecture", 42},
        {"architecture", "topk"},
        {"dtype", "float16"},
        {"dtype", "bfloat16"},
        {"dtype", List.of("float32")},
        {"normalize_activations", "expected_average_only_in"},
        {"apply_b_dec_to_input", false},
        {"reshape_activations", "hook_z"},
        {"batchtopk", 42},
        {"batchtopk", Map.of()},
        {"batchtopk", Map.of("d_in", "x")}
    };

    private static void hostileValue(HostileFiles h, int v) {
        Object[] change = CHANGES[v];
        Map<String, Object> cfg = new LinkedHashMap<>(h.sae.config());
        cfg.put((String) change[0], change[1]);
        String text = JsonCodec.writePretty(cfg);
        if (change[1] instanceof Double d && d == 1e300) {
            text = text.replace("1.0E300", "1e400");
        }
        refused(h, "cfg-value", text.getBytes(StandardCharsets.UTF_8), change[0] + " = " + change[1]);
    }

    private static void hostileWeights(HostileFiles h, int v) {
        Map<String, Tensor> weights = new LinkedHashMap<>(h.sae.weights());
        String cfg = json(h.sae);
        String note;
        switch (v) {
            case 0 -> {
                weights.remove("b_dec");
                note = "no b_dec";
            }
            case 1 -> {
                weights.put("W_enc", Tensor.ofFloats(new long[] {HostileFiles.D_SAE, HostileFiles.D}, h.sae.wEnc));
                note = "W_enc transposed";
            }
            case 2 -> {
                weights.put("b_enc", Tensor.ofLongs(new long[] {HostileFiles.D_SAE}, new long[HostileFiles.D_SAE]));
                note = "b_enc of I64";
            }
            case 3 -> {
                float[] dec = h.sae.wDec.clone();
                dec[h.random.nextInt(dec.length)] = Float.NaN;
                weights.put("W_dec", Tensor.ofFloats(new long[] {HostileFiles.D_SAE, HostileFiles.D}, dec));
                note = "a NaN in W_dec";
            }
            case 4 -> {
                float[] enc = h.sae.wEnc.clone();
                enc[h.random.nextInt(enc.length)] = Float.POSITIVE_INFINITY;
                weights.put("W_enc", Tensor.ofFloats(new long[] {HostileFiles.D, HostileFiles.D_SAE}, enc));
                note = "an infinity in W_enc";
            }
            default -> {
                // JumpReLU thresholds with no logarithm.
                float[] threshold = h.sae.threshold.clone();
                float[] bad = {0f, -0.1f, Float.NaN};
                threshold[h.random.nextInt(threshold.length)] = bad[v - 5];
                weights.put("threshold", Tensor.ofFloats(new long[] {HostileFiles.D_SAE}, threshold));
                cfg = cfg.replace("\"standard\"", "\"jumprelu\"");
                note = "a JumpReLU threshold of 0, below 0 or NaN";
            }
        }
        String id = h.nextId("sae", "weights");
        try {
            Path dir = Files.createDirectories(h.dir.resolve(id));
            Files.writeString(dir.resolve(SaeLens.CONFIG_FILE), cfg);
            Safetensors.write(dir.resolve(SaeLens.WEIGHTS_FILE), weights, Map.of());
            h.refused(Kind.SAE_DIR, id, dir, note);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
