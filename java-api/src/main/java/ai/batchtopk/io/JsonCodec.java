package ai.batchtopk.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.JsonParserDelegate;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.stream.Collectors;

/**
 * The one place JSON is read and written (Jackson), with the limits that keep a hostile file from
 * costing more than a clear error: nesting at most {@link #MAX_DEPTH} deep, numbers at most
 * {@link #MAX_NUMBER_LENGTH} characters and within the range of a double, strings, names and whole
 * documents at most {@link #MAX_DOCUMENT_CHARS} (the safetensors header limit), no duplicate keys, no
 * trailing content, no NaN. A float is never silently truncated to an integer, nor a string coerced to
 * a number; unknown keys are ignored, so files of newer versions still read.
 *
 * <p>Written JSON is compact ({@link #write}) or indented by two spaces with {@code "key": value} and
 * arrays on one line ({@link #writePretty}); doubles as {@link Double#toString}. Every read error is an
 * {@link InvalidJsonException} (or, for a file, a {@link MalformedFileException}) whose one-line
 * message says what is wrong and where.
 */
public final class JsonCodec {
    /** Deepest nesting of arrays and objects read. */
    public static final int MAX_DEPTH = 64;
    /** Longest number read, in characters (a double needs at most 25; Python ints may be longer). */
    public static final int MAX_NUMBER_LENGTH = 1000;
    /** Largest document, string or key read: the largest safetensors header. */
    public static final int MAX_DOCUMENT_CHARS = (int) Safetensors.MAX_HEADER_BYTES;

    /** JSON that cannot be read (or a value that cannot be written as JSON). */
    public static final class InvalidJsonException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final boolean syntax;

        InvalidJsonException(String message, JsonProcessingException cause, boolean syntax) {
            super(message, cause);
            this.syntax = syntax;
        }

        /** Whether the text is not JSON at all (rather than JSON of another shape). */
        public boolean syntax() {
            return syntax;
        }
    }

    private static final ObjectMapper MAPPER = mapperBuilder().build();
    /** For {@link #parse}: integers as {@code Long}, whatever their size. */
    private static final ObjectMapper UNTYPED =
            mapperBuilder().enable(DeserializationFeature.USE_LONG_FOR_INTS).build();

    private static final ObjectWriter PRETTY = MAPPER.writer(new DefaultPrettyPrinter(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withObjectEmptySeparator("")
                    .withArrayValueSpacing(Separators.Spacing.AFTER)
                    .withArrayEmptySeparator(""))
            .withObjectIndenter(new DefaultIndenter("  ", "\n"))
            .withArrayIndenter(DefaultPrettyPrinter.NopIndenter.instance));

    private JsonCodec() {}

    /**
     * A builder of mappers with these limits and features, for a format that needs mix-ins of its own
     * (see {@code ConfigJson}); read its trees with {@link #convert(ObjectMapper, JsonNode, Class)}.
     */
    public static JsonMapper.Builder mapperBuilder() {
        return JsonMapper.builder(JsonFactory.builder()
                        .streamReadConstraints(StreamReadConstraints.builder()
                                .maxNestingDepth(MAX_DEPTH)
                                .maxNumberLength(MAX_NUMBER_LENGTH)
                                .maxStringLength(MAX_DOCUMENT_CHARS)
                                .maxNameLength(MAX_DOCUMENT_CHARS)
                                .maxDocumentLength(MAX_DOCUMENT_CHARS)
                                .build())
                        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                        .disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
                        .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                        .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
                        .disable(JsonWriteFeature.WRITE_HEX_UPPER_CASE)
                        .build())
                .enable(
                        DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES,
                        DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS,
                        DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .addModule(new SimpleModule("finite-numbers")
                        .addSerializer(Double.class, new FiniteSerializer<>(Double.class))
                        .addSerializer(double.class, new FiniteSerializer<>(double.class))
                        .addSerializer(Float.class, new FiniteSerializer<>(Float.class))
                        .addSerializer(float.class, new FiniteSerializer<>(float.class))
                        .addSerializer(double[].class, new FiniteArraySerializer()));
    }

    /**
     * A complete JSON text as plain values: object → {@code java.util.Map} (document order), array →
     * {@code List}, string, {@code Long} (an integer past 64 bits is an error), {@code Double},
     * {@code Boolean}, null.
     */
    public static Object parse(String text) {
        return convert(UNTYPED, parseTree(text), Object.class);
    }

    /** A complete JSON text as a tree: the whole text is checked before anything is mapped. */
    public static JsonNode parseTree(String text) {
        JsonParser parser = null;
        try {
            parser = new FiniteNumbers(MAPPER.createParser(text));
            JsonNode tree = MAPPER.readTree(parser);
            if (tree == null) {
                throw new InvalidJsonException(
                        "unexpected end of input: no JSON value" + where(parser.currentLocation()), null, true);
            }
            JsonToken after;
            try {
                after = parser.nextToken();
            } catch (StreamReadException e) {
                after = JsonToken.NOT_AVAILABLE;
            }
            if (after != null) {
                throw new InvalidJsonException(
                        "unexpected trailing content after the JSON value" + where(parser.currentTokenLocation()),
                        null,
                        true);
            }
            return tree;
        } catch (JsonProcessingException e) {
            throw new InvalidJsonException(describe(e, MAPPER), e, !(e instanceof JsonMappingException));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // reading a String does no I/O
        } finally {
            closeQuietly(parser); // after describe(), which reads the parser's state
        }
    }

    /**
     * A complete JSON text as a {@code type} (a record, usually): first checked as JSON, then mapped.
     * Unknown keys are ignored; a missing one is null (or 0 / false for a primitive).
     */
    public static <T> T read(String text, Class<T> type) {
        JsonNode tree = parseTree(text);
        if (tree.isNull() && type != Object.class && type != JsonNode.class) {
            throw new InvalidJsonException(
                    "the top level must be " + expected(type, MAPPER) + ", got null", null, false);
        }
        return convert(tree, type);
    }

    /** {@code tree} as a {@code type}, with the same checks and messages as {@link #read}. */
    public static <T> T convert(JsonNode tree, Class<T> type) {
        return convert(MAPPER, tree, type);
    }

    /** {@code tree} as a {@code type} read by {@code mapper} (one of {@link #mapperBuilder}'s). */
    public static <T> T convert(ObjectMapper mapper, JsonNode tree, Class<T> type) {
        JsonParser parser = new FiniteNumbers(mapper.treeAsTokens(tree));
        try {
            return mapper.readValue(parser, type);
        } catch (JsonProcessingException e) {
            throw new InvalidJsonException(describe(e, mapper), e, false);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            closeQuietly(parser);
        }
    }

    private static void closeQuietly(JsonParser parser) {
        try {
            if (parser != null) {
                parser.close();
            }
        } catch (IOException ignored) {
            // a parser of a String or a tree holds nothing to release
        }
    }

    /**
     * {@code file} read as strict UTF-8 and parsed as a {@code type}.
     *
     * @throws MalformedFileException naming the file and the problem, when it is too large, not UTF-8
     *     or not JSON of that shape
     */
    public static <T> T readFile(Path file, Class<T> type) throws IOException {
        if (Files.isRegularFile(file) && Files.size(file) > MAX_DOCUMENT_CHARS) {
            throw new MalformedFileException(
                    file,
                    "it is " + Files.size(file) + " bytes long, more than the " + MAX_DOCUMENT_CHARS
                            + " bytes a JSON file may have");
        }
        String text = TextFiles.readString(file);
        try {
            return read(text, type);
        } catch (InvalidJsonException e) {
            throw new MalformedFileException(file, (e.syntax() ? "not valid JSON: " : "") + e.getMessage(), e);
        }
    }

    /**
     * Half a surrogate pair (a hostile file may escape one, and it comes back in a message) as the escape
     * it came from: written raw it cannot be encoded as UTF-8, and a file or line holding it would be cut
     * short. Such a character can only stand inside a JSON string, where the escape means the same.
     */
    private static String escapeLoneSurrogates(String json) {
        StringBuilder out = null;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            boolean paired = Character.isHighSurrogate(c)
                    ? i + 1 < json.length() && Character.isLowSurrogate(json.charAt(i + 1))
                    : !Character.isLowSurrogate(c) || (i > 0 && Character.isHighSurrogate(json.charAt(i - 1)));
            if (!paired) {
                if (out == null) {
                    out = new StringBuilder(json.length() + 8).append(json, 0, i);
                }
                out.append(String.format("\\u%04x", (int) c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? json : out.toString();
    }

    /** Compact JSON, no whitespace. @throws InvalidJsonException for NaN, infinities and unwritable values */
    public static String write(Object value) {
        try {
            return escapeLoneSurrogates(MAPPER.writeValueAsString(value));
        } catch (JsonProcessingException e) {
            throw new InvalidJsonException("cannot write JSON: " + e.getOriginalMessage(), e, false);
        }
    }

    /** Indented JSON (two spaces, {@code "key": value}); arrays stay on one line. No trailing newline. */
    public static String writePretty(Object value) {
        try {
            return escapeLoneSurrogates(PRETTY.writeValueAsString(value));
        } catch (JsonProcessingException e) {
            throw new InvalidJsonException("cannot write JSON: " + e.getOriginalMessage(), e, false);
        }
    }

    /** {@code s} as a JSON string literal, with quotes. */
    public static String quote(String s) {
        return write(s);
    }

    /**
     * The first {@code n} characters of {@code s} (all of it if shorter), one fewer where the cut would
     * split a surrogate pair: half a pair in a message cannot be written as UTF-8.
     */
    static String head(String s, int n) {
        if (s.length() <= n) {
            return s;
        }
        return s.substring(0, Character.isHighSurrogate(s.charAt(n - 1)) ? n - 1 : n);
    }

    /** {@code s} as a JSON string literal, cut to about 120 characters so hostile names keep messages short. */
    public static String quoteShort(String s) {
        String q = quote(head(s, 200));
        return q.length() > 120 ? head(q, 116) + "...\"" : q;
    }

    /** What a JSON value is, for messages: "an object", "a string", "an integer", ... */
    public static String kind(JsonNode v) {
        if (v == null || v.isMissingNode()) {
            return "nothing (missing)";
        }
        return switch (v.getNodeType()) {
            case OBJECT, POJO -> "an object";
            case ARRAY -> "an array";
            case STRING, BINARY -> "a string";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case NUMBER ->
                v.isIntegralNumber()
                        ? (v.canConvertToLong() ? "an integer" : "an integer beyond 64 bits")
                        : "a non-integer number";
            case MISSING -> "nothing (missing)";
        };
    }

    /** Compact JSON of {@code v}, cut so hostile values cannot blow up a message. */
    public static String snippet(JsonNode v) {
        String s = v == null ? "nothing" : write(v);
        return s.length() > 80 ? head(s, 77) + "..." : s;
    }

    /** One line saying what is wrong and where. */
    private static String describe(JsonProcessingException e, ObjectMapper mapper) {
        if (e instanceof ValueInstantiationException && e.getCause() instanceof IllegalArgumentException cause) {
            return at(e, cause.getMessage());
        }
        InputCoercionException range =
                e instanceof InputCoercionException c ? c : e.getCause() instanceof InputCoercionException c ? c : null;
        if (range != null) {
            String path = e instanceof JsonMappingException ? null : pathOf(range.getProcessor());
            String message = "must be " + expected(range.getTargetType(), mapper) + " that fits "
                    + (range.getTargetType() == int.class || range.getTargetType() == Integer.class ? 32 : 64)
                    + " bits, got " + cut(numberText(range));
            return path == null ? at(e, message) : "'" + path + "' " + message;
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            String got = m instanceof InvalidFormatException f ? snippetOf(f.getValue()) : got(m);
            return at(e, "must be " + expected(m.getTargetType(), mapper) + ", got " + got);
        }
        String message = clean(e.getOriginalMessage());
        if (e instanceof StreamReadException) {
            message += where(e.getLocation());
        }
        return e instanceof JsonMappingException ? at(e, message) : message;
    }

    /** {@code 'key': message}, or the message alone for a problem at the top level. */
    private static String at(JsonProcessingException e, String message) {
        if (!(e instanceof JsonMappingException m) || m.getPath().isEmpty()) {
            return message.startsWith("must ") ? "the top level " + message : message;
        }
        String path = m.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining("."))
                .replace(".[", "[");
        return "'" + path + "'" + (message.startsWith("must ") ? " " : ": ") + message;
    }

    /** " (line L, column C)", or nothing where the place is unknown. */
    private static String where(JsonLocation location) {
        return location != null && location.getLineNr() > 0
                ? " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ")"
                : "";
    }

    /** The value a mismatch found: a scalar as written (cut short), a structure by its kind. */
    private static String got(MismatchedInputException m) {
        JsonToken t = m.getCurrentToken();
        if (t != null && t.isScalarValue() && t != JsonToken.VALUE_NULL && m.getProcessor() instanceof JsonParser p) {
            try {
                String text = p.getText();
                if (text != null) {
                    return t == JsonToken.VALUE_STRING ? snippetOf(text) : cut(text);
                }
            } catch (IOException ignored) {
                // fall back to the kind
            }
        }
        return kind(t);
    }

    /** Where a parser stands, as {@code key.key[index]}; null at the top level. */
    private static String pathOf(Object processor) {
        if (!(processor instanceof JsonParser p)) {
            return null;
        }
        StringBuilder path = new StringBuilder();
        for (JsonStreamContext c = p.getParsingContext(); c != null && !c.inRoot(); c = c.getParent()) {
            path.insert(
                    0,
                    c.inArray() ? "[" + c.getCurrentIndex() + "]" : (path.isEmpty() ? "" : ".") + c.getCurrentName());
        }
        String s = path.toString().replace(".[", "[");
        return s.isEmpty() ? null : s;
    }

    private static String numberText(InputCoercionException e) {
        try {
            return e.getProcessor() instanceof JsonParser p ? p.getText() : "a number out of range";
        } catch (IOException ignored) {
            return "a number out of range";
        }
    }

    /** Jackson's text without its pointers to its own API and source excerpts, on one line. */
    private static String clean(String message) {
        if (message != null && DUPLICATE.matcher(message).matches()) {
            java.util.regex.Matcher d = DUPLICATE.matcher(message);
            d.matches();
            return "duplicate key " + quoteShort(d.group(1));
        }
        String m = message == null
                ? "invalid JSON"
                : message.replaceAll(", from `[^`]*`", "")
                        .replaceAll("\\[Source: [^;\\]]*; ", "[")
                        .replaceAll("\\s*\\R\\s*", " ");
        m = m.replaceAll("Unexpected end-of-input(?::\\s*|\\s*)(?=\\S)", "unexpected end of input: ")
                .replace("Unexpected end-of-input", "unexpected end of input");
        return m.length() > 300 ? head(m, 297) + "..." : m;
    }

    private static final java.util.regex.Pattern DUPLICATE = java.util.regex.Pattern.compile(
            "Duplicate (?:field|Object property) '(.*)'", java.util.regex.Pattern.DOTALL);

    private static String expected(Class<?> type, ObjectMapper mapper) {
        if (type == long.class || type == Long.class || type == int.class || type == Integer.class) {
            return "an integer";
        }
        if (type == double.class || type == float.class || Number.class.isAssignableFrom(type)) {
            return "a number";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (type.isEnum()) {
            return "one of "
                    + java.util.Arrays.stream(type.getEnumConstants())
                            .map(c -> {
                                try {
                                    return mapper.writeValueAsString(c);
                                } catch (JsonProcessingException e) {
                                    return String.valueOf(c);
                                }
                            })
                            .collect(Collectors.joining(", "));
        }
        if (type.isArray() || Collection.class.isAssignableFrom(type)) {
            return "an array";
        }
        return "an object";
    }

    private static String kind(JsonToken token) {
        if (token == null) {
            return "nothing";
        }
        return switch (token) {
            case START_OBJECT, END_OBJECT, FIELD_NAME -> "an object";
            case START_ARRAY, END_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a non-integer number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> token.toString();
        };
    }

    private static String snippetOf(Object value) {
        return cut(value instanceof String str ? quote(head(str, 100)) : String.valueOf(value));
    }

    private static String cut(String s) {
        return s.length() > 80 ? head(s, 77) + "..." : s;
    }

    /** Rejects numbers that overflow a double (1e400) rather than reading them as infinity. */
    private static final class FiniteNumbers extends JsonParserDelegate {
        FiniteNumbers(JsonParser parser) {
            super(parser);
        }

        @Override
        public JsonToken nextToken() throws IOException {
            JsonToken t = super.nextToken();
            // An integer needs 309 digits to overflow a double; shorter ones are not parsed here.
            if ((t == JsonToken.VALUE_NUMBER_FLOAT && !Double.isFinite(getDoubleValue()))
                    || (t == JsonToken.VALUE_NUMBER_INT
                            && getTextLength() > 309
                            && !Double.isFinite(Double.parseDouble(getText())))) {
                String text = getText();
                throw new JsonParseException(
                        this,
                        "number " + (text.length() > 40 ? head(text, 40) + "..." : text)
                                + " is outside the range of a double");
            }
            return t;
        }
    }

    /** Arrays of doubles element by element, so that NaN and infinities are refused there too. */
    private static final class FiniteArraySerializer extends StdSerializer<double[]> {
        private static final long serialVersionUID = 1L;

        FiniteArraySerializer() {
            super(double[].class);
        }

        @Override
        public void serialize(double[] values, JsonGenerator g, SerializerProvider provider) throws IOException {
            g.writeStartArray(values, values.length);
            for (double d : values) {
                if (!Double.isFinite(d)) {
                    throw JsonMappingException.from(g, "cannot write " + d + " as JSON");
                }
                g.writeNumber(d);
            }
            g.writeEndArray();
        }
    }

    /** Doubles and floats as {@link Double#toString}/{@link Float#toString}; NaN and infinities refused. */
    private static final class FiniteSerializer<T extends Number> extends StdSerializer<T> {
        private static final long serialVersionUID = 1L;

        FiniteSerializer(Class<T> type) {
            super(type);
        }

        @Override
        public void serialize(T value, JsonGenerator g, SerializerProvider provider) throws IOException {
            double d = value.doubleValue();
            if (!Double.isFinite(d)) {
                throw JsonMappingException.from(g, "cannot write " + d + " as JSON");
            }
            if (value instanceof Float f) {
                g.writeNumber(f);
            } else {
                g.writeNumber(d);
            }
        }
    }
}
