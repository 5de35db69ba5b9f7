package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {
    @Test
    void parsesAllValueKinds() {
        Object v = Json.parse(" {\"a\": 1, \"b\": [true, false, null], \"c\": \"x\\ty\", \"d\": -2.5e3, \"e\": {}} \n");
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
        assertThat(Json.parse("0")).isEqualTo(0L);
        assertThat(Json.parse("-0")).isEqualTo(0L);
        assertThat(Json.parse("9223372036854775807")).isEqualTo(Long.MAX_VALUE);
        assertThat(Json.parse("-9223372036854775808")).isEqualTo(Long.MIN_VALUE);
        assertThat(Json.parse("9223372036854775808")).isEqualTo(9.223372036854775808e18);
        assertThat(Json.parse("123456789012345678901234567890")).isInstanceOf(Double.class);
        assertThat(Json.parse("1.0")).isEqualTo(1.0);
        assertThat(Json.parse("1E2")).isEqualTo(100.0);
        assertThat(Json.parse("1e-2")).isEqualTo(0.01);
        assertThat(Json.parse("-0.0")).isEqualTo(-0.0);
    }

    @Test
    void stringsAndUnicode() {
        assertThat(Json.parse("\"\\u00e9\\u2713\\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\"")).isEqualTo("é✓😀 \" \\ / \b\f\n\r");
        assertThat(Json.parse("\"é✓😀\"")).isEqualTo("é✓😀");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''                   | end of input",
        "'{\"a\":1} x'        | trailing",
        "'[1,2]]'             | trailing",
        "'{\"a\" 1}'          | expected ':'",
        "'{\"a\":1,}'         | string key",
        "'[1,]'               | unexpected character",
        "'{a:1}'              | string key",
        "'01'                 | leading zero",
        "'1.'                 | digit after '.'",
        "'.5'                 | unexpected character",
        "'1e'                 | exponent",
        "'-'                  | expected a digit",
        "'+1'                 | unexpected character",
        "'NaN'                | unexpected character",
        "'1e400'              | outside the range",
        "'tru'                | invalid literal",
        "'\"abc'              | unterminated string",
        "'\"a\\x\"'           | invalid escape",
        "'\"\\u12\"'          | \\u escape",
        "'\"\\u12g4\"'        | hex digit",
        "'[1 2]'              | expected ',' or ']'",
        "'{\"a\":1,\"a\":2}'  | duplicate key \"a\"",
    })
    void rejectsInvalidJson(String text, String fragment) {
        assertThatThrownBy(() -> Json.parse(text))
                .isInstanceOf(Json.JsonException.class)
                .hasMessageContaining(fragment)
                .hasMessageContaining("at offset");
    }

    @Test
    void rejectsControlCharactersInStrings() {
        assertThatThrownBy(() -> Json.parse("\"a\nb\"")).isInstanceOf(Json.JsonException.class)
                .hasMessageContaining("control character");
    }

    @Test
    void depthIsCapped() {
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertThat(Json.parse(ok)).isInstanceOf(List.class);
        String deep = "[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1);
        assertThatThrownBy(() -> Json.parse(deep)).isInstanceOf(Json.JsonException.class).hasMessageContaining("nesting");
        String hostile = "{\"a\":".repeat(100_000);
        assertThatThrownBy(() -> Json.parse(hostile)).isInstanceOf(Json.JsonException.class).hasMessageContaining("nesting");
    }

    @Test
    void parsedCollectionsAreUnmodifiable() {
        Map<?, ?> m = (Map<?, ?>) Json.parse("{\"a\":[1]}");
        assertThatThrownBy(() -> m.clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> ((List<?>) m.get("a")).clear()).isInstanceOf(UnsupportedOperationException.class);
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
        String s = Json.write(m);
        assertThat(s).isEqualTo("{\"d_in\":768,\"lr\":4.0E-4,\"f\":0.1,\"name\":\"a \\\"quoted\\\"\\nline\\u0001é\","
                + "\"shape\":[2,3],\"list\":[1,\"x\",true],\"none\":null,\"big\":123456789012345678901234567890,"
                + "\"dtype\":\"BF16\"}");
        Map<?, ?> back = (Map<?, ?>) Json.parse(s);
        assertThat(back.get("d_in")).isEqualTo(768L);
        assertThat(back.get("lr")).isEqualTo(4e-4);
        assertThat(((Double) back.get("f")).floatValue()).isEqualTo(0.1f);
        assertThat(back.get("name")).isEqualTo(m.get("name"));
        assertThat(back.get("shape")).isEqualTo(List.of(2L, 3L));
        assertThat(back.containsKey("none")).isTrue();
    }

    @Test
    void writePretty() {
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("k", 1);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("a", List.of(1, 2));
        m.put("b", inner);
        m.put("c", new ArrayList<>());
        m.put("d", List.of(Map.of("x", 1)));
        assertThat(Json.writePretty(m)).isEqualTo("""
                {
                  "a": [1, 2],
                  "b": {
                    "k": 1
                  },
                  "c": [],
                  "d": [
                    {
                      "x": 1
                    }
                  ]
                }""");
        assertThat(Json.parse(Json.writePretty(m))).isEqualTo(Json.parse(Json.write(m)));
    }

    @Test
    void writeEscapesLoneSurrogatesAndRoundTrips() {
        String s = "a\ud800b\udc00c😀";
        String json = Json.write(s);
        assertThat(json).isEqualTo("\"a\\ud800b\\udc00c😀\"");
        assertThat(Json.parse(json)).isEqualTo(s);
    }

    @ParameterizedTest
    @ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
    void writeRejectsNonFinite(double d) {
        assertThatThrownBy(() -> Json.write(List.of(d))).isInstanceOf(Json.JsonException.class);
    }

    @Test
    void writeRejectsUnsupportedValues() {
        assertThatThrownBy(() -> Json.write(Map.of(1, 2))).isInstanceOf(Json.JsonException.class)
                .hasMessageContaining("not a string");
        assertThatThrownBy(() -> Json.write(new Object())).isInstanceOf(Json.JsonException.class)
                .hasMessageContaining("java.lang.Object");
        List<Object> cyclic = new ArrayList<>();
        cyclic.add(cyclic);
        assertThatThrownBy(() -> Json.write(cyclic)).isInstanceOf(Json.JsonException.class);
    }
}
