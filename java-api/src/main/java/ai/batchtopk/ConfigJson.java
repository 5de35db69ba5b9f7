package ai.batchtopk;

import ai.batchtopk.io.JsonCodec;
import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.annotation.JsonPOJOBuilder;
import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import com.fasterxml.jackson.databind.cfg.EnumFeature;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import java.io.IOException;
import java.util.List;

/**
 * {@link SaeConfig} as a JSON object of snake_case keys (the names of {@code btk_config}'s fields),
 * for cfg.json files and run logs. The keys are the record's components, named by Jackson's
 * snake_case strategy: the mix-in below only spells the few that differ. Written in full, in the
 * record's order; read leniently: unknown keys are ignored and a missing optional key takes the native
 * default for the file's shape, architecture and k, so files written by older versions still load. Reading
 * fills a {@link SaeConfig.Builder} (the mix-in below spells its keys as the record's), so the defaults are
 * taken unchecked and the final config is validated once, as every config built is.
 */
public final class ConfigJson {
    /** Bumped when a key changes meaning. */
    public static final int FORMAT_VERSION = 1;

    /** The keys a file must give: the rest have defaults that depend on them (and on k). */
    private static final String[] REQUIRED = {"d_in", "d_sae", "architecture"};

    /** Where the JSON names differ from the components' snake_case names, or the values from Java's. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonDeserialize(builder = SaeConfig.Builder.class)
    private interface SaeConfigMixIn {
        @JsonProperty("jumprelu_bandwidth")
        double jumpReluBandwidth();

        @JsonProperty("jumprelu_init_threshold")
        double jumpReluInitThreshold();

        @JsonProperty("dtype")
        @JsonSerialize(using = DtypeWriter.class)
        @JsonDeserialize(using = DtypeReader.class)
        boolean doublePrecision();

        // Only Matryoshka BatchTopK has widths: the other architectures' files stay as they were.
        @JsonInclude(JsonInclude.Include.NON_EMPTY)
        List<Long> matryoshkaWidths();
    }

    /** The builder's setters by the same keys: what a file leaves out keeps the native default. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonPOJOBuilder(withPrefix = "")
    @JsonIgnoreProperties(ignoreUnknown = true)
    private abstract static class BuilderMixIn {
        @JsonCreator
        BuilderMixIn(@JsonProperty("d_in") long dIn, @JsonProperty("d_sae") long dSae) {}

        @JsonProperty("jumprelu_bandwidth")
        abstract SaeConfig.Builder jumpReluBandwidth(double value);

        @JsonProperty("jumprelu_init_threshold")
        abstract SaeConfig.Builder jumpReluInitThreshold(double value);

        @JsonProperty("dtype")
        @JsonDeserialize(using = DtypeReader.class)
        abstract SaeConfig.Builder doublePrecision(boolean value);
    }

    /** Architectures and normalizations by their command-line names; devices and paths in lower case. */
    private interface CliNameMixIn {
        @JsonValue
        String cliName();
    }

    private static final ObjectMapper MAPPER = JsonCodec.mapperBuilder()
            .addMixIn(SaeConfig.class, SaeConfigMixIn.class)
            .addMixIn(SaeConfig.Builder.class, BuilderMixIn.class)
            .addMixIn(Architecture.class, CliNameMixIn.class)
            .addMixIn(Normalization.class, CliNameMixIn.class)
            .enable(EnumFeature.WRITE_ENUMS_TO_LOWERCASE)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .build();

    private ConfigJson() {}

    /** Every field of the config, in declaration order, after {@code format_version}. */
    public static ObjectNode toJson(SaeConfig c) {
        ObjectNode json = MAPPER.createObjectNode();
        json.put("format_version", FORMAT_VERSION);
        json.setAll((ObjectNode) MAPPER.valueToTree(c));
        return json;
    }

    /**
     * The config a JSON object describes. {@code d_in}, {@code d_sae} and {@code architecture} are
     * required; everything else defaults as in {@link SaeConfig#builder}. A null counts as missing.
     *
     * @throws IllegalArgumentException naming the first missing, mistyped or invalid key
     */
    public static SaeConfig fromJson(JsonNode json) {
        if (!(json instanceof ObjectNode object)) {
            throw new IllegalArgumentException("expected a JSON object, found " + JsonCodec.kind(json));
        }
        ObjectNode given = MAPPER.createObjectNode();
        object.properties().forEach(e -> {
            if (!e.getValue().isNull()) {
                given.set(e.getKey(), e.getValue());
            }
        });
        if (given.has("format_version")) {
            long version = value(given, "format_version", long.class);
            if (version > FORMAT_VERSION) {
                throw new IllegalArgumentException("format_version " + version
                        + " is newer than this library understands (" + FORMAT_VERSION + ")");
            }
        }
        for (String key : REQUIRED) {
            if (!given.has(key)) {
                throw new IllegalArgumentException("missing key '" + key + "'");
            }
        }
        if (given.get("matryoshka_widths") instanceof ArrayNode widths) {
            for (JsonNode width : widths) {
                if (width.isNull()) {
                    throw new IllegalArgumentException("'matryoshka_widths' must hold integers, got null");
                }
            }
        }
        return JsonCodec.convert(MAPPER, given, SaeConfig.class);
    }

    /** One key's value, read as the record reads it; errors name the key. */
    private static <T> T value(ObjectNode json, String key, Class<T> type) {
        try {
            return JsonCodec.convert(MAPPER, json.get(key), type);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage().replaceFirst("^the top level ", "");
            throw new IllegalArgumentException("'" + key + "'" + (m.startsWith("must ") ? " " : ": ") + m, e);
        }
    }

    /** {@code doublePrecision} as the dtype name. */
    static final class DtypeWriter extends StdSerializer<Boolean> {
        private static final long serialVersionUID = 1L;

        DtypeWriter() {
            super(Boolean.class);
        }

        @Override
        public void serialize(Boolean doublePrecision, JsonGenerator g, SerializerProvider provider)
                throws IOException {
            g.writeString(doublePrecision ? "float64" : "float32");
        }
    }

    /** The dtype name as {@code doublePrecision}. */
    static final class DtypeReader extends StdDeserializer<Boolean> {
        private static final long serialVersionUID = 1L;

        DtypeReader() {
            super(Boolean.class);
        }

        @Override
        public Boolean deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
                return (Boolean) ctxt.handleUnexpectedToken(String.class, p);
            }
            return switch (p.getText()) {
                case "float32" -> false;
                case "float64" -> true;
                default ->
                    throw new IllegalArgumentException(
                            "dtype must be \"float32\" or \"float64\", got " + JsonCodec.quoteShort(p.getText()));
            };
        }
    }
}
