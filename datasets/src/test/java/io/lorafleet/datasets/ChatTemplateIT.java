package io.lorafleet.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chat templates of eight published models (src/test/resources/chat-templates) rendered on the same conversations
 * by transformers itself (src/test/python/render_chat_templates.py, with deploy/hf/venv.sh's Python) and by us: the
 * same text, character for character, or both refuse the conversation.
 */
class ChatTemplateIT {
    private static final Path TEMPLATES = Path.of("src/test/resources/chat-templates").toAbsolutePath();

    @Test
    void everyPublishedTemplateRendersAsTransformersDoes(@TempDir Path tmp) throws Exception {
        Process venv = new ProcessBuilder("bash", Path.of("../deploy/hf/venv.sh").toAbsolutePath().toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String python = new String(venv.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(venv.waitFor(20, TimeUnit.MINUTES) && venv.exitValue() == 0, "deploy/hf/venv.sh failed");
        Path out = tmp.resolve("rendered.json");
        Process render = new ProcessBuilder(python, Path.of("src/test/python/render_chat_templates.py").toAbsolutePath().toString(), TEMPLATES.toString(),
                out.toString()).redirectErrorStream(true).start();
        String log = new String(render.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(render.waitFor(5, TimeUnit.MINUTES) && render.exitValue() == 0, "render_chat_templates.py failed:\n" + log);

        ObjectMapper json = new ObjectMapper();
        JsonNode expected = json.readTree(out.toFile());
        JsonNode cases = json.readTree(TEMPLATES.resolve("conversations.json").toFile());
        byte[] specialTokens = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}".getBytes(StandardCharsets.UTF_8);
        List<String> differences = new ArrayList<>();
        int rendered = 0, refused = 0;
        List<Path> files;
        try (var list = Files.list(TEMPLATES)) {
            files = list.filter(p -> p.toString().endsWith(".jinja")).sorted().toList();
        }
        assertEquals(8, files.size());
        for (Path file : files) {
            ChatTemplate template = ChatTemplate.of(Files.readString(file), specialTokens, file.getFileName().toString());
            for (int i = 0; i < cases.size(); i++) {
                JsonNode c = cases.get(i);
                JsonNode reference = expected.get(file.getFileName() + "#" + i);
                List<Object> messages = ChatTemplate.parseMessages(c.get("messages").toString());
                Map<String, Object> variables = c.has("tools") ? Map.of("tools", ChatTemplate.value(c.get("tools"))) : Map.of();
                String ours, error = null;
                try {
                    ours = template.render(messages, c.get("add_generation_prompt").asBoolean(), variables);
                } catch (JinjaTemplate.TemplateException e) {
                    ours = null;
                    error = e.getMessage();
                }
                String where = file.getFileName() + ", conversation " + i + " (" + c.get("name").asText() + ")";
                if (reference.has("error")) {
                    refused++;
                    if (ours != null) differences.add(where + ": transformers refused (" + reference.get("error").asText() + "), we rendered:\n" + ours);
                } else {
                    rendered++;
                    String theirs = reference.get("text").asText();
                    if (ours == null) differences.add(where + ": we refused (" + error + "), transformers rendered:\n" + theirs);
                    else if (!ours.equals(theirs)) differences.add(where + ": differs at character " + firstDifference(ours, theirs) + "\n--- transformers:\n"
                            + theirs + "\n--- ours:\n" + ours);
                }
            }
        }
        System.out.printf("chat templates: %d renders equal to transformers', %d conversations refused by both%n", rendered - differences.size(), refused);
        assertTrue(differences.isEmpty(), differences.size() + " differences:\n" + String.join("\n\n", differences));
        assertTrue(rendered > 40 && refused > 0, "the conversations must exercise both rendering and refusal");
    }

    private static int firstDifference(String a, String b) {
        int i = 0;
        while (i < a.length() && i < b.length() && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }
}
