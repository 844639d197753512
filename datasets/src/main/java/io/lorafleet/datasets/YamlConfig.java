package io.lorafleet.datasets;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.util.List;

/**
 * Job configuration files: YAML (or JSON) bound to immutable records with snake_case keys, strictly —
 * an unknown key or a wrong type fails with the key's path — after {@code --set path=value} overrides
 * (the value is read as YAML, so numbers, booleans and [lists] work).
 */
public final class YamlConfig {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper BINDER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES,
                    DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();
    private static final com.fasterxml.jackson.databind.ObjectWriter ONE_LINE = BINDER.writer().without(SerializationFeature.INDENT_OUTPUT);

    private YamlConfig() { }

    /** Reads {@code bytes} as YAML, applies the overrides, and binds the result to {@code type}. */
    public static <T> T load(byte[] bytes, String source, List<String> overrides, Class<T> type) throws IOException {
        JsonNode tree;
        try {
            tree = YAML.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new IOException(source + ": not valid YAML: " + e.getOriginalMessage());
        }
        if (tree == null || !tree.isObject()) throw new IOException(source + ": expected a mapping of keys at the top level");
        for (String override : overrides) apply((ObjectNode) tree, override, source);
        return bind(tree, type, source);
    }

    public static <T> T bind(JsonNode tree, Class<T> type, String source) throws IOException {
        try {
            return BINDER.treeToValue(tree, type);
        } catch (JsonMappingException e) {
            String path = path(e.getPath());
            String problem = e instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException u ? unknownKey(u)
                    : e.getCause() instanceof IllegalArgumentException iae ? iae.getMessage() : e.getOriginalMessage();
            boolean named = problem != null && problem.startsWith(path + "."); // the record's own message names the key already
            throw new IOException(source + ": " + (path.isEmpty() || named ? "" : path + ": ") + problem);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage());
        }
    }

    /** "unknown key; did you mean 'labels'?" when a known key is a typo away, else the known keys. */
    private static String unknownKey(com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException e) {
        List<String> known = e.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
        String given = e.getPropertyName();
        String closest = null;
        int best = Integer.MAX_VALUE;
        for (String k : known) {
            int d = editDistance(given.toLowerCase(java.util.Locale.ROOT), k);
            if (d < best) {
                best = d;
                closest = k;
            }
        }
        return closest != null && best <= Math.max(2, given.length() / 3) ? "unknown key; did you mean '" + closest + "'?"
                : "unknown key (known here: " + String.join(", ", known) + ")";
    }

    /** Levenshtein distance: insertions, deletions and substitutions. */
    static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1], current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) previous[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] t = previous;
            previous = current;
            current = t;
        }
        return previous[b.length()];
    }

    /** The resolved configuration as YAML, for {@code --dry-run}. */
    public static String toYaml(Object config) throws IOException {
        return new ObjectMapper(new YAMLFactory()).setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .writeValueAsString(config);
    }

    /** The same mapper that binds configs, for writing records as JSON (manifests, metrics). */
    public static ObjectMapper json() {
        return BINDER;
    }

    /** {@code value} as one line of JSON (snake_case keys, no indentation, no newline): a line of a .jsonl file. */
    public static String jsonLine(Object value) throws JsonProcessingException {
        return ONE_LINE.writeValueAsString(value);
    }

    private static void apply(ObjectNode root, String override, String source) throws IOException {
        int eq = override.indexOf('=');
        if (eq <= 0) throw new IOException("--set " + override + ": expected key.path=value");
        String[] keys = override.substring(0, eq).split("\\.");
        JsonNode value = YAML.readTree(override.substring(eq + 1));
        JsonNode node = root;
        for (int i = 0; i < keys.length; i++) {
            boolean last = i == keys.length - 1;
            String key = keys[i];
            if (node instanceof ArrayNode array) {
                int index = parseIndex(key, override);
                if (index >= array.size()) throw new IOException("--set " + override + ": " + key + " is past the end of the list");
                if (last) array.set(index, value);
                else node = array.get(index);
            } else if (node instanceof ObjectNode object) {
                if (last) object.set(key, value);
                else node = object.has(key) ? object.get(key) : object.putObject(key);
            } else {
                throw new IOException("--set " + override + ": " + key + " is inside a value that is not a mapping or list in " + source);
            }
        }
    }

    private static int parseIndex(String key, String override) throws IOException {
        try {
            return Integer.parseInt(key);
        } catch (NumberFormatException e) {
            throw new IOException("--set " + override + ": " + key + " must be a list index");
        }
    }

    private static String path(List<JsonMappingException.Reference> refs) {
        StringBuilder p = new StringBuilder();
        for (JsonMappingException.Reference r : refs) {
            if (r.getFieldName() != null) p.append(p.isEmpty() ? "" : ".").append(r.getFieldName());
            else if (r.getIndex() >= 0) p.append('[').append(r.getIndex()).append(']');
        }
        return p.toString();
    }
}
