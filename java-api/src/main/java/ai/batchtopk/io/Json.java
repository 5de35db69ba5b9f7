package ai.batchtopk.io;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON (RFC 8259) parser and writer, so that java-api needs no JSON dependency.
 *
 * <p>{@link #parse} maps JSON to plain Java values: object → {@code Map<String, Object>} (a
 * {@link LinkedHashMap} in document order, unmodifiable), array → {@code List<Object>} (unmodifiable),
 * string → {@link String}, number → {@link Long} when it is written without fraction/exponent and fits,
 * otherwise {@link Double}, {@code true/false} → {@link Boolean}, {@code null} → {@code null}.
 * It rejects trailing garbage, duplicate object keys, nesting deeper than {@link #MAX_DEPTH}, numbers
 * outside the double range, unescaped control characters and invalid escapes, with a {@link
 * JsonException} that gives the character offset.
 *
 * <p>{@link #write} accepts the same kinds of values, plus any {@link Number} ({@code Integer},
 * {@code Float}, {@code BigInteger}, {@code BigDecimal}, ...), any {@link Collection}, arrays of objects
 * and of primitives, and {@link Enum}s (written as their name). Map keys must be strings. NaN and
 * infinities are rejected (JSON has no representation for them).
 */
public final class Json {
    /** Maximum nesting depth of arrays and objects accepted by {@link #parse}. */
    public static final int MAX_DEPTH = 64;

    /** Invalid JSON text (or a value that cannot be written as JSON). */
    public static final class JsonException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final int offset;

        JsonException(String message, int offset) {
            super(offset >= 0 ? message + " at offset " + offset : message);
            this.offset = offset;
        }

        /** Character offset of the problem in the parsed text, or -1 for write errors. */
        public int offset() {
            return offset;
        }
    }

    private Json() {}

    /**
     * Parses a complete JSON text (leading and trailing whitespace allowed, nothing else).
     *
     * @throws JsonException if the text is not valid JSON or violates the limits above
     */
    public static Object parse(String text) {
        Parser p = new Parser(text);
        p.skipWs();
        Object v = p.value(0);
        p.skipWs();
        if (p.pos != text.length()) {
            throw new JsonException("unexpected trailing content", p.pos);
        }
        return v;
    }

    /** Compact JSON, no whitespace. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        new Writer(sb, false).value(value, 0);
        return sb.toString();
    }

    /** Indented JSON (two spaces); arrays of scalars stay on one line. No trailing newline. */
    public static String writePretty(Object value) {
        StringBuilder sb = new StringBuilder();
        new Writer(sb, true).value(value, 0);
        return sb.toString();
    }

    /** {@code s} as a JSON string literal, with quotes. */
    public static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2);
        Writer.string(sb, s);
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------ parser

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        void skipWs() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        JsonException error(String msg) {
            return new JsonException(msg, pos);
        }

        Object value(int depth) {
            if (pos >= s.length()) {
                throw error("unexpected end of input, expected a value");
            }
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object(depth + 1);
                case '[' -> array(depth + 1);
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw error("unexpected character " + describe(c) + ", expected a value");
                }
            };
        }

        private Object literal(String word, Object v) {
            if (!s.startsWith(word, pos)) {
                throw error("invalid literal, expected '" + word + "'");
            }
            pos += word.length();
            return v;
        }

        private Map<String, Object> object(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            pos++; // {
            Map<String, Object> map = new LinkedHashMap<>();
            skipWs();
            if (peek() == '}') {
                pos++;
                return Collections.unmodifiableMap(map);
            }
            while (true) {
                skipWs();
                if (peek() != '"') {
                    throw error("expected a string key");
                }
                int keyPos = pos;
                String key = string();
                skipWs();
                expect(':');
                skipWs();
                Object v = value(depth);
                if (map.containsKey(key)) {
                    String q = quote(key);
                    throw new JsonException("duplicate key " + (q.length() > 120 ? q.substring(0, 116) + "...\"" : q),
                            keyPos);
                }
                map.put(key, v);
                skipWs();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == '}') {
                    pos++;
                    return Collections.unmodifiableMap(map);
                } else {
                    throw error("expected ',' or '}' in object");
                }
            }
        }

        private List<Object> array(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            pos++; // [
            List<Object> list = new ArrayList<>();
            skipWs();
            if (peek() == ']') {
                pos++;
                return Collections.unmodifiableList(list);
            }
            while (true) {
                skipWs();
                list.add(value(depth));
                skipWs();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == ']') {
                    pos++;
                    return Collections.unmodifiableList(list);
                } else {
                    throw error("expected ',' or ']' in array");
                }
            }
        }

        private char peek() {
            if (pos >= s.length()) {
                throw error("unexpected end of input");
            }
            return s.charAt(pos);
        }

        private void expect(char c) {
            if (peek() != c) {
                throw error("expected '" + c + "' but found " + describe(s.charAt(pos)));
            }
            pos++;
        }

        private String string() {
            pos++; // opening quote
            StringBuilder sb = null;
            int start = pos;
            while (true) {
                if (pos >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(pos);
                if (c == '"') {
                    String out = sb == null ? s.substring(start, pos) : sb.append(s, start, pos).toString();
                    pos++;
                    return out;
                }
                if (c < 0x20) {
                    throw error("unescaped control character " + describe(c) + " in string");
                }
                if (c == '\\') {
                    if (sb == null) {
                        sb = new StringBuilder();
                    }
                    sb.append(s, start, pos);
                    pos++;
                    if (pos >= s.length()) {
                        throw error("unterminated escape");
                    }
                    char e = s.charAt(pos);
                    switch (e) {
                        case '"' -> sb.append('"');
                        case '\\' -> sb.append('\\');
                        case '/' -> sb.append('/');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'u' -> {
                            if (pos + 4 >= s.length()) {
                                throw error("truncated \\u escape");
                            }
                            int cp = 0;
                            for (int i = 1; i <= 4; i++) {
                                int d = Character.digit(s.charAt(pos + i), 16);
                                if (d < 0) {
                                    throw error("invalid hex digit in \\u escape");
                                }
                                cp = cp * 16 + d;
                            }
                            sb.append((char) cp);
                            pos += 4;
                        }
                        default -> throw error("invalid escape \\" + describe(e));
                    }
                    pos++;
                    start = pos;
                } else {
                    pos++;
                }
            }
        }

        private Object number() {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                throw error("invalid number: expected a digit");
            }
            if (s.charAt(pos) == '0') {
                pos++;
                if (pos < s.length() && isDigit(s.charAt(pos))) {
                    throw error("invalid number: leading zero");
                }
            } else {
                while (pos < s.length() && isDigit(s.charAt(pos))) {
                    pos++;
                }
            }
            boolean integral = true;
            if (pos < s.length() && s.charAt(pos) == '.') {
                integral = false;
                pos++;
                if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                    throw error("invalid number: expected a digit after '.'");
                }
                while (pos < s.length() && isDigit(s.charAt(pos))) {
                    pos++;
                }
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                integral = false;
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                    throw error("invalid number: expected a digit in the exponent");
                }
                while (pos < s.length() && isDigit(s.charAt(pos))) {
                    pos++;
                }
            }
            String text = s.substring(start, pos);
            if (integral && text.length() <= 20) {
                try {
                    return Long.parseLong(text);
                } catch (NumberFormatException ignored) {
                    // too large for a long: fall through to double
                }
            }
            double d = Double.parseDouble(text);
            if (Double.isInfinite(d)) {
                throw new JsonException("number " + (text.length() > 40 ? text.substring(0, 40) + "..." : text)
                        + " is outside the range of a double", start);
            }
            return d;
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }
    }

    private static String describe(char c) {
        if (c >= 0x20 && c < 0x7f) {
            return "'" + c + "'";
        }
        return String.format("U+%04X", (int) c);
    }

    // ------------------------------------------------------------------------------------------ writer

    private static final class Writer {
        private final StringBuilder sb;
        private final boolean pretty;

        Writer(StringBuilder sb, boolean pretty) {
            this.sb = sb;
            this.pretty = pretty;
        }

        void value(Object v, int depth) {
            if (depth > 1000) {
                throw new JsonException("value nested too deeply (cyclic?)", -1);
            }
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String str) {
                string(sb, str);
            } else if (v instanceof Boolean b) {
                sb.append(b.booleanValue());
            } else if (v instanceof Number n) {
                number(n);
            } else if (v instanceof Character c) {
                string(sb, c.toString());
            } else if (v instanceof Enum<?> e) {
                string(sb, e.name());
            } else if (v instanceof Map<?, ?> m) {
                map(m, depth);
            } else if (v instanceof Collection<?> c) {
                list(new ArrayList<>(c), depth);
            } else if (v.getClass().isArray()) {
                list(arrayToList(v), depth);
            } else {
                throw new JsonException("cannot write a " + v.getClass().getName() + " as JSON", -1);
            }
        }

        private void number(Number n) {
            if (n instanceof Double || n instanceof Float) {
                double d = n.doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    throw new JsonException("cannot write " + d + " as JSON", -1);
                }
                // Float.toString gives the shortest repr of the float (0.1f -> "0.1"), not of its double value.
                sb.append(n instanceof Float f ? Float.toString(f) : Double.toString(d));
            } else if (n instanceof BigDecimal bd) {
                sb.append(bd.toString());
            } else if (n instanceof Long || n instanceof Integer || n instanceof Short || n instanceof Byte
                    || n instanceof BigInteger) {
                sb.append(n.toString());
            } else {
                double d = n.doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    throw new JsonException("cannot write " + d + " as JSON", -1);
                }
                sb.append(n.toString());
            }
        }

        private void map(Map<?, ?> m, int depth) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getKey() instanceof String key)) {
                    throw new JsonException("map key " + e.getKey() + " is not a string", -1);
                }
                if (!first) {
                    sb.append(',');
                }
                first = false;
                newline(depth + 1);
                string(sb, key);
                sb.append(pretty ? ": " : ":");
                value(e.getValue(), depth + 1);
            }
            newline(depth);
            sb.append('}');
        }

        private void list(List<?> l, int depth) {
            if (l.isEmpty()) {
                sb.append("[]");
                return;
            }
            boolean inline = !pretty || l.stream().allMatch(x -> !(x instanceof Map<?, ?>)
                    && !(x instanceof Collection<?>) && (x == null || !x.getClass().isArray()));
            sb.append('[');
            boolean first = true;
            for (Object x : l) {
                if (!first) {
                    sb.append(pretty && inline ? ", " : ",");
                }
                first = false;
                if (!inline) {
                    newline(depth + 1);
                }
                value(x, depth + 1);
            }
            if (!inline) {
                newline(depth);
            }
            sb.append(']');
        }

        private void newline(int depth) {
            if (pretty) {
                sb.append('\n');
                sb.append("  ".repeat(depth));
            }
        }

        private static List<Object> arrayToList(Object array) {
            int n = java.lang.reflect.Array.getLength(array);
            List<Object> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(java.lang.reflect.Array.get(array, i));
            }
            return out;
        }

        static void string(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    case '\n' -> sb.append("\\n");
                    case '\r' -> sb.append("\\r");
                    case '\t' -> sb.append("\\t");
                    case '\b' -> sb.append("\\b");
                    case '\f' -> sb.append("\\f");
                    default -> {
                        if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029'
                                || (Character.isSurrogate(c) && !validSurrogateAt(s, i))) {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                    }
                }
            }
            sb.append('"');
        }

        private static boolean validSurrogateAt(String s, int i) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
            }
            return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
        }
    }
}
