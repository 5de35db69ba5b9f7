package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class JsonCodecTest {
    @TempDir
    Path dir;

    @Test
    void halfASurrogatePairIsWrittenAsItsEscapeSoThatUtf8CanHoldIt() {
        String lone = "F32" + (char) 0xD800;
        String json = JsonCodec.write(java.util.Map.of("dtype", lone, "pair", "x" + (char) 0xD83D + (char) 0xDE00));
        assertThat(json)
                .contains("\"dtype\":\"F32\\" + "ud800\"", "\"pair\":\"x" + (char) 0xD83D + (char) 0xDE00 + "\"")
                .satisfies(j -> assertThat(java.nio.charset.StandardCharsets.UTF_8
                                .newEncoder()
                                .canEncode(j))
                        .isTrue());
        assertThat(((java.util.Map<?, ?>) JsonCodec.parse(json)).get("dtype")).isEqualTo(lone);
    }

    @Test
    void parsesAllValueKinds() {
        Object v = JsonCodec.parse(
                " {\"a\": 1, \"b\": [true, false, null], \"c\": \"x\\ty\", \"d\": -2.5e3, \"e\": {}} \n");
        assertThat(v).isInstanceOf(Map.class);
        Map<?, ?> m = (Map<?, ?>) v;
        assertThat(new ArrayList<Object>(m.keySet())).containsExactly("a", "b", "c", "d", "e");
        assertThat(m.get("a")).isEqualTo(1L);
        assertThat(m.get("b")).isEqualTo(Arrays.asList(true, false, null));
        assertThat(m.get("c")).isEqualTo("x\ty");
        assertThat(m.get("d")).isEqualTo(-2500.0);
        assertThat(m.get("e")).isEqualTo(Map.of());
    }

    @Test
    void numbers() {
        assertThat(JsonCodec.parse("0")).isEqualTo(0L);
        assertThat(JsonCodec.parse("9223372036854775807")).isEqualTo(Long.MAX_VALUE);
        assertThat(JsonCodec.parse("-9223372036854775808")).isEqualTo(Long.MIN_VALUE);
        assertThat(JsonCodec.parseTree("9223372036854775808").bigIntegerValue())
                .isEqualTo(new BigInteger("9223372036854775808"));
        assertThatThrownBy(() -> JsonCodec.parse("[9223372036854775808]"))
                .hasMessage("'[0]' must be an integer that fits 64 bits, got 9223372036854775808");
        assertThat(JsonCodec.parse("1.0")).isEqualTo(1.0);
        assertThat(JsonCodec.parse("1E2")).isEqualTo(100.0);
        assertThat(JsonCodec.parse("1e-2")).isEqualTo(0.01);
        assertThat(JsonCodec.parse("-0.0")).isEqualTo(-0.0);
        assertThat(JsonCodec.parse("1e308")).isEqualTo(1e308);
    }

    @Test
    void stringsAndUnicode() {
        assertThat(JsonCodec.parse("\"\\u00e9\\u2713\\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\""))
                .isEqualTo("é✓😀 \" \\ / \b\f\n\r");
        assertThat(JsonCodec.parse("\"é✓😀\"")).isEqualTo("é✓😀");
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "''                   | end of input",
                "'{\"a\":1} x'        | trailing",
                "'[1,2]]'             | trailing",
                "'{\"a\" 1}'          | expecting a colon",
                "'{\"a\":1,}'         | double-quote to start field name",
                "'[1,]'               | Unexpected character",
                "'{a:1}'              | double-quote to start field name",
                "'01'                 | Leading zeroes",
                "'1.'                 | Decimal point not followed by a digit",
                "'1e'                 | expected a digit for number exponent",
                "'NaN'                | Non-standard token 'NaN'",
                "'1e400'              | number 1e400 is outside the range of a double",
                "'-1e400'             | outside the range of a double",
                "'tru'                | Unrecognized token 'tru'",
                "'\"abc'              | end of input",
                "'\"a\\x\"'           | Unrecognized character escape 'x'",
                "'\"\\u12g4\"'        | Unexpected character ('g'",
                "'[1 2]'              | was expecting comma",
                "'{\"a\":1,\"a\":2}'  | duplicate key \"a\"",
                "'\"a\nb\"'           | Illegal unquoted character",
            })
    void rejectsInvalidJsonOnOneLineSayingWhere(String text, String fragment) {
        assertThatThrownBy(() -> JsonCodec.parse(text))
                .isInstanceOf(JsonCodec.InvalidJsonException.class)
                .hasMessageContaining(fragment)
                .hasMessageContaining("(line ")
                .hasMessageNotContaining("\n")
                .hasMessageNotContaining("StreamReadConstraints")
                .hasMessageNotContaining("Source");
    }

    @Test
    void deepNestingIsAClearErrorNotAStackOverflow() {
        String ok = "[".repeat(JsonCodec.MAX_DEPTH) + "]".repeat(JsonCodec.MAX_DEPTH);
        assertThat(JsonCodec.parse(ok)).isInstanceOf(List.class);
        String deep = "[".repeat(JsonCodec.MAX_DEPTH + 1) + "]".repeat(JsonCodec.MAX_DEPTH + 1);
        assertThatThrownBy(() -> JsonCodec.parse(deep))
                .isInstanceOf(JsonCodec.InvalidJsonException.class)
                .hasMessageContaining("nesting depth (65) exceeds the maximum allowed (64)");
        for (String hostile : List.of("[".repeat(100_000), "{\"a\":".repeat(100_000))) {
            assertThatThrownBy(() -> JsonCodec.parse(hostile))
                    .isInstanceOf(JsonCodec.InvalidJsonException.class)
                    .hasMessageContaining("nesting depth");
            assertThatThrownBy(() -> JsonCodec.parseTree(hostile)).hasMessageContaining("nesting depth");
        }
    }

    @Test
    void hugeNumbersAreClearErrors() {
        assertThatThrownBy(() -> JsonCodec.parse("1e1000000"))
                .isInstanceOf(JsonCodec.InvalidJsonException.class)
                .hasMessageContaining("number 1e1000000 is outside the range of a double");
        assertThatThrownBy(() -> JsonCodec.parse("1" + "0".repeat(400)))
                .hasMessageContaining("outside the range of a double");
        String million = "7".repeat(1_000_000);
        for (String text : List.of(million, "[" + million + "]", "{\"x\":0." + million + "}", "-" + million)) {
            assertThatThrownBy(() -> JsonCodec.parse(text))
                    .isInstanceOf(JsonCodec.InvalidJsonException.class)
                    .hasMessageContaining("Number value length")
                    .hasMessageContaining("exceeds the maximum allowed (" + JsonCodec.MAX_NUMBER_LENGTH + ")");
        }
    }

    @Test
    void hugeStringsAndDocumentsAreClearErrors() {
        String big = "x".repeat(JsonCodec.MAX_DOCUMENT_CHARS + 1);
        assertThatThrownBy(() -> JsonCodec.parse("\"" + big + "\""))
                .isInstanceOf(JsonCodec.InvalidJsonException.class)
                .hasMessageContaining("exceeds the maximum allowed");
        // a long string within the limits is read, and quoteShort keeps a message about it short
        String name = "n".repeat(1_000_000);
        assertThat(JsonCodec.parse("{\"" + name + "\":1}")).isEqualTo(Map.of(name, 1L));
        assertThat(JsonCodec.quoteShort(name)).hasSize(120).endsWith("...\"");
    }

    @Test
    void aFileTooLargeOrNotJsonIsNamed() throws IOException {
        Path file = dir.resolve("run.json");
        Files.writeString(file, "{\"a\":1,\"a\":2}");
        assertThatThrownBy(() -> JsonCodec.readFile(file, Map.class))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(file + ": not valid JSON: duplicate key \"a\"");
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(JsonCodec.MAX_DOCUMENT_CHARS + 1L);
        }
        assertThatThrownBy(() -> JsonCodec.readFile(file, Map.class))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("more than the");
    }

    record Line(long step, double lr, String name, List<String> args) {}

    @Test
    void typedReadsNameTheKeyAndRefuseCoercions() {
        assertThat(JsonCodec.read("{\"step\":3,\"lr\":1,\"name\":\"x\",\"args\":[\"a\"],\"future\":{}}", Line.class))
                .isEqualTo(new Line(3, 1.0, "x", List.of("a")));
        assertThatThrownBy(() -> JsonCodec.read("{\"step\":1.5}", Line.class))
                .hasMessage("'step' must be an integer, got 1.5");
        assertThatThrownBy(() -> JsonCodec.read("{\"step\":\"3\"}", Line.class))
                .hasMessage("'step' must be an integer, got \"3\"");
        assertThatThrownBy(() -> JsonCodec.read("{\"step\":1,\"lr\":\"fast\"}", Line.class))
                .hasMessage("'lr' must be a number, got \"fast\"");
        assertThatThrownBy(() -> JsonCodec.read("{\"step\":1,\"lr\":1,\"args\":[\"a\",[]]}", Line.class))
                .hasMessage("'args[1]' must be a string, got an array");
        assertThatThrownBy(() -> JsonCodec.read("{\"step\":null}", Line.class)).hasMessageStartingWith("'step'");
        assertThatThrownBy(() -> JsonCodec.read("[1]", Line.class))
                .hasMessage("the top level must be an object, got an array");
        assertThatThrownBy(() -> JsonCodec.read("null", Line.class))
                .hasMessage("the top level must be an object, got null");
    }

    @Test
    void writeCompactAndRoundTrip() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("d_in", 768);
        m.put("lr", 4e-4);
        m.put("f", 0.1f);
        m.put("name", "a \"quoted\"\nline\u0001é");
        m.put("shape", new long[] {2, 3});
        m.put("list", List.of(1L, "x", true));
        m.put("none", null);
        m.put("big", new BigInteger("123456789012345678901234567890"));
        m.put("dtype", DType.BF16);
        String s = JsonCodec.write(m);
        assertThat(s)
                .isEqualTo("{\"d_in\":768,\"lr\":4.0E-4,\"f\":0.1,\"name\":\"a \\\"quoted\\\"\\nline\\u0001é\","
                        + "\"shape\":[2,3],\"list\":[1,\"x\",true],\"none\":null,\"big\":123456789012345678901234567890,"
                        + "\"dtype\":\"BF16\"}");
        assertThat(JsonCodec.parseTree(s).get("big").bigIntegerValue()).isEqualTo(m.get("big"));
        m.remove("big");
        Map<?, ?> back = (Map<?, ?>) JsonCodec.parse(JsonCodec.write(m));
        assertThat(back.get("d_in")).isEqualTo(768L);
        assertThat(back.get("lr")).isEqualTo(4e-4);
        assertThat(((Double) back.get("f")).floatValue()).isEqualTo(0.1f);
        assertThat(back.get("name")).isEqualTo(m.get("name"));
        assertThat(back.get("shape")).isEqualTo(List.of(2L, 3L));
        assertThat(back.containsKey("none")).isTrue();
    }

    @Test
    void writePrettyAsBefore() {
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("k", 1);
        inner.put("none", null);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("a", List.of(1, 2));
        m.put("args", List.of("--steps", "4"));
        m.put("b", inner);
        m.put("c", new ArrayList<>());
        m.put("e", Map.of());
        assertThat(JsonCodec.writePretty(m)).isEqualTo("""
                {
                  "a": [1, 2],
                  "args": ["--steps", "4"],
                  "b": {
                    "k": 1,
                    "none": null
                  },
                  "c": [],
                  "e": {}
                }""");
        assertThat(JsonCodec.parse(JsonCodec.writePretty(m))).isEqualTo(JsonCodec.parse(JsonCodec.write(m)));
    }

    @ParameterizedTest
    @ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
    void writeRejectsNonFinite(double d) {
        assertThatThrownBy(() -> JsonCodec.write(List.of(d)))
                .isInstanceOf(JsonCodec.InvalidJsonException.class)
                .hasMessageContaining("cannot write");
        assertThatThrownBy(() -> JsonCodec.write(new double[] {d})).isInstanceOf(JsonCodec.InvalidJsonException.class);
        assertThatThrownBy(() -> JsonCodec.write(Map.of("x", (float) d)))
                .isInstanceOf(JsonCodec.InvalidJsonException.class);
        assertThatThrownBy(() -> JsonCodec.write(new Object[] {1.0, d}))
                .isInstanceOf(JsonCodec.InvalidJsonException.class);
    }
}
