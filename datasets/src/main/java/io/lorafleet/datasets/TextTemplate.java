package io.lorafleet.datasets;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A task's text made of several fields: {@code "{subject}\n\n{body}"} or, for a causal LM,
 * {@code "### Question\n{prompt}\n### Answer\n{response}"}. {@code {{} and {@code }}} stand for literal braces.
 *
 * In a config it is the template string itself.
 *
 * @param text  the template as written
 * @param parts literal text and field names, alternating from a literal (possibly empty)
 */
public record TextTemplate(@JsonValue String text, List<String> parts) implements java.io.Serializable {
    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    public static TextTemplate parse(String template) {
        List<String> parts = new ArrayList<>();
        StringBuilder literal = new StringBuilder();
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            boolean doubled = i + 1 < template.length() && template.charAt(i + 1) == c;
            if ((c == '{' || c == '}') && doubled) {
                literal.append(c);
                i++;
            } else if (c == '{') {
                int end = template.indexOf('}', i);
                String field = end < 0 ? "" : template.substring(i + 1, end);
                if (end < 0 || field.isBlank() || field.contains("{")) {
                    throw new IllegalArgumentException("template: '" + template + "' has an unclosed or empty {field} at character " + (i + 1)
                            + " (write {{ and }} for literal braces)");
                }
                parts.add(literal.toString());
                parts.add(field);
                literal.setLength(0);
                i = end;
            } else if (c == '}') {
                throw new IllegalArgumentException("template: '" + template + "' has a lone } at character " + (i + 1) + " (write }} for a literal brace)");
            } else {
                literal.append(c);
            }
        }
        parts.add(literal.toString());
        if (parts.size() == 1) throw new IllegalArgumentException("template: '" + template + "' names no {field}");
        return new TextTemplate(template, List.copyOf(parts));
    }

    /** The field names, in order of first use. */
    public List<String> fields() {
        List<String> fields = new ArrayList<>();
        for (int i = 1; i < parts.size(); i += 2) if (!fields.contains(parts.get(i))) fields.add(parts.get(i));
        return fields;
    }

    /** The text, or null when a field is missing (a field present but empty renders as empty). */
    public String render(Map<String, String> values) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            if (i % 2 == 0) {
                out.append(parts.get(i));
                continue;
            }
            String v = values.get(parts.get(i));
            if (v == null) return null;
            out.append(v);
        }
        return out.toString();
    }
}
