package io.lorafleet.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer's chat template, rendering conversations as transformers' {@code apply_chat_template} does: the
 * Jinja template with {@code messages}, {@code add_generation_prompt}, the tokenizer's special tokens
 * ({@code bos_token}, {@code eos_token}...), {@code raise_exception} and {@code strftime_now} (local time). For training it
 * also says which characters are the assistant's: those an assistant turn adds after the prompt that asks for it.
 */
public final class ChatTemplate {
    /** The file transformers 4.43+ saves a template to, beside tokenizer_config.json, which otherwise holds it. */
    public static final String FILE = "chat_template.jinja", TOKENIZER_CONFIG = "tokenizer_config.json";

    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private final JinjaTemplate template;
    private final Map<String, Object> specialTokens;
    private final String source;
    private final String sha256;

    private ChatTemplate(String text, Map<String, Object> specialTokens, String source) {
        this.template = JinjaTemplate.parse(text, source);
        this.specialTokens = specialTokens;
        this.source = source;
        this.sha256 = Sha256.of(text.getBytes(StandardCharsets.UTF_8));
    }

    /** A template's text with the special tokens of a tokenizer_config.json (null: none). */
    public static ChatTemplate of(String text, byte[] tokenizerConfig, String source) throws IOException {
        return new ChatTemplate(text, tokenizerConfig == null ? Map.of() : specialTokens(readJson(tokenizerConfig, source)), source);
    }

    /**
     * The template a tokenizer_config.json holds ({@code chat_template}: a string, or a list of named templates of
     * which the one named "default"), or null when it holds none.
     */
    public static ChatTemplate fromTokenizerConfig(byte[] tokenizerConfig, String source) throws IOException {
        String text = templateText(tokenizerConfig, source);
        return text == null ? null : of(text, tokenizerConfig, source + " (chat_template)");
    }

    /** The text of a tokenizer_config.json's chat_template (see {@link #fromTokenizerConfig}), or null. */
    public static String templateText(byte[] tokenizerConfig, String source) throws IOException {
        JsonNode t = readJson(tokenizerConfig, source).path("chat_template");
        if (t.isTextual()) return t.asText();
        if (!t.isArray()) return null;
        for (JsonNode named : t) if (named.path("name").asText().equals("default")) return named.path("template").asText(null);
        throw new IOException(source + ": chat_template lists named templates but none named 'default'");
    }

    private static JsonNode readJson(byte[] json, String source) throws IOException {
        try {
            JsonNode root = new ObjectMapper().readTree(json);
            if (root == null || !root.isObject()) throw new IOException(source + ": not a JSON object");
            return root;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(source + ": not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** The special tokens' texts, given as strings or as added-token objects ({"content": ...}). */
    private static Map<String, Object> specialTokens(JsonNode config) {
        Map<String, Object> tokens = new LinkedHashMap<>();
        for (String name : SPECIAL_TOKENS) {
            JsonNode v = config.path(name);
            String text = v.isTextual() ? v.asText() : v.path("content").isTextual() ? v.path("content").asText() : null;
            if (text != null) tokens.put(name, text);
        }
        return tokens;
    }

    /** The conversation as text; with {@code addGenerationPrompt}, ending in what asks the model for the next assistant turn. */
    public String render(List<Object> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** With more of the template's variables, such as {@code tools} (a list of JSON schemas; as in transformers, None unless given). */
    public String render(List<Object> messages, boolean addGenerationPrompt, Map<String, Object> variables) {
        Map<String, Object> vars = new LinkedHashMap<>(JinjaBuiltins.GLOBALS);
        vars.putAll(specialTokens);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.putAll(variables);
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("raise_exception", (JinjaTemplate.Function) (args, kw) -> {
            throw new JinjaTemplate.TemplateException("the chat template refused the conversation: " + JinjaTemplate.str(args.isEmpty() ? "" : args.get(0)));
        });
        vars.put("strftime_now", (JinjaTemplate.Function) (args, kw) -> strftime(JinjaTemplate.str(args.get(0)), java.time.ZonedDateTime.now()));
        return template.render(vars);
    }

    /** A rendered conversation and the character ranges [from, to) of its assistant turns. */
    public record Rendered(String text, int[] assistantSpans) { }

    /**
     * Renders a whole conversation and finds each assistant turn in it: from where the conversation before it,
     * rendered with the generation prompt, stops agreeing with the whole (the generation prompt itself, or the part of
     * it the template writes into the turn), through what the turn adds (its text and the template's end of turn,
     * such as {@code <|im_end|>} or {@code eos_token}), which is what the model must learn to write. A turn the template
     * renders differently when it is the last (Qwen3 adds an empty reasoning block) is found by the ending they share. Fails
     * when the template renders the conversation before a turn differently once later turns follow, or when the
     * found text does not hold the turn's content (after any reasoning block), rather than guess.
     */
    public Rendered renderForTraining(List<Object> messages) {
        String full = render(messages, false);
        List<Integer> spans = new ArrayList<>();
        int previousEnd = 0;
        for (int i = 0; i < messages.size(); i++) {
            if (!(messages.get(i) instanceof Map<?, ?> m) || !"assistant".equals(m.get("role"))) continue;
            int start = commonPrefix(full, render(messages.subList(0, i), true));
            String through = render(messages.subList(0, i + 1), false);
            int end = commonPrefix(full, through);
            if (start < previousEnd || end < start) {
                throw new JinjaTemplate.TemplateException("the chat template renders the conversation before message " + i
                        + " differently once later messages follow, so the assistant's text cannot be told apart");
            }
            if (end < through.length()) end = start + sharedEnding(through.substring(start), full, start);
            Object content = m.get("content");
            if (content instanceof String text && !answer(text).isEmpty() && !full.substring(start, end).contains(answer(text))) {
                throw new JinjaTemplate.TemplateException("message " + i + ": the chat template does not render the assistant's content where "
                        + "its turn is, so the assistant's text cannot be told apart");
            }
            if (end > start) {
                spans.add(start);
                spans.add(end);
            }
            previousEnd = end;
        }
        return new Rendered(full, spans.stream().mapToInt(Integer::intValue).toArray());
    }

    /** How much of a turn rendered as the last one ({@code tail}) ends the same as the whole conversation has it at {@code at}. */
    private static int sharedEnding(String tail, String full, int at) {
        for (int k = tail.length(); k > 0; k--) {
            if (full.startsWith(tail.substring(tail.length() - k), at)) return k;
        }
        return 0;
    }

    /** The part of an assistant's content a template always renders: after any reasoning block, trimmed. */
    private static String answer(String content) {
        int reasoning = content.lastIndexOf("</think>");
        return (reasoning < 0 ? content : content.substring(reasoning + "</think>".length())).strip();
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length()), i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }

    /**
     * A conversation read from JSON (an array of objects with a string {@code role}), as the template's values.
     *
     * @throws IllegalArgumentException saying what is wrong with it
     */
    public static List<Object> parseMessages(String json) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("messages are not valid JSON");
        }
        if (root == null || !root.isArray() || root.isEmpty()) throw new IllegalArgumentException("messages must be a non-empty array of {role, content}");
        List<Object> messages = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode m = root.get(i);
            if (!m.isObject() || !m.path("role").isTextual()) throw new IllegalArgumentException("message " + i + " is not an object with a string role");
            messages.add(value(m));
        }
        return messages;
    }

    /** A JSON value as the template sees it: Python's types, here String, Long, Double, Boolean, null, List and Map. */
    static Object value(JsonNode n) {
        if (n.isTextual()) return n.asText();
        if (n.isIntegralNumber()) {
            if (!n.canConvertToLong()) throw new IllegalArgumentException("the number " + n + " is beyond 64 bits");
            return n.asLong();
        }
        if (n.isNumber()) return n.asDouble();
        if (n.isBoolean()) return n.asBoolean();
        if (n.isArray()) {
            List<Object> items = new ArrayList<>();
            n.forEach(e -> items.add(value(e)));
            return items;
        }
        if (n.isObject()) {
            Map<String, Object> fields = new LinkedHashMap<>();
            n.fields().forEachRemaining(e -> fields.put(e.getKey(), value(e.getValue())));
            return fields;
        }
        return null;
    }

    /** Python's strftime for the directives chat templates use (dates: %d %j %b %B %m %y %Y %a %A; times: %H %I %p %M %S; %%; glibc's %-d). */
    static String strftime(String format, java.time.ZonedDateTime t) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                b.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean unpadded = d == '-' && i + 1 < format.length(); // glibc's %-d: no leading zero
            if (unpadded) d = format.charAt(++i);
            String pattern = switch (d) {
                case 'd' -> unpadded ? "d" : "dd";
                case 'j' -> unpadded ? "D" : "DDD";
                case 'I' -> unpadded ? "h" : "hh";
                case 'p' -> "a";
                case 'b' -> "MMM";
                case 'B' -> "MMMM";
                case 'm' -> unpadded ? "M" : "MM";
                case 'y' -> "yy";
                case 'Y' -> "yyyy";
                case 'a' -> "EEE";
                case 'A' -> "EEEE";
                case 'H' -> unpadded ? "H" : "HH";
                case 'M' -> "mm";
                case 'S' -> "ss";
                case '%' -> "'%'";
                default -> throw new JinjaTemplate.TemplateException("strftime_now: unsupported directive %" + d);
            };
            b.append(java.time.format.DateTimeFormatter.ofPattern(pattern, java.util.Locale.ENGLISH).format(t));
        }
        return b.toString();
    }

    public String source() { return source; }

    /** SHA-256 of the template's text: shards record which template made them. */
    public String sha256() { return sha256; }
}
