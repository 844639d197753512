package io.lorafleet.datasets;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A task's own label mapping, split, template and length, applied row by row with the real MiniLM tokenizer. */
class RowTokenizerTest {
    static byte[] tokenizerJson;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = RowTokenizerTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            tokenizerJson = in.readAllBytes();
        }
    }

    /** Reads {@code lines} as the JSONL input of task 0 of {@code yaml}: the rows and the quarantined rows. */
    private record Result(List<ShardRow> rows, List<QuarantinedRow> bad) { }

    /** ChatML, as Qwen2 and SmolLM2 write conversations, refusing one that starts with the assistant. */
    private static final String CHATML = "{% if messages[0].role == 'assistant' %}{{ raise_exception('the user speaks first') }}{% endif %}"
            + "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private Result run(String yaml, String... lines) throws IOException {
        DatasetSpec spec = DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "spec.yaml", List.of());
        ChatTemplate chat = spec.chat() ? ChatTemplate.of(CHATML, null, "chatml.jinja") : null;
        Path input = dir.resolve("in.jsonl");
        Files.writeString(input, String.join("\n", lines) + "\n");
        Result result = new Result(new ArrayList<>(), new ArrayList<>());
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson, RowTokenizer.encodeLength(spec, 0), "tokenizer.json")) {
            RowTokenizer rows = new RowTokenizer(spec, 0, t, chat, result.rows()::add, result.bad()::add);
            InputReader.read(new LocalSourceFile(input), spec.tasks().get(0), rows::accept);
            rows.finish();
        }
        return result;
    }

    private static final String SPEC = """
            tokenizer: t
            output: o
            tasks:
              - adapter_id: mail
                inputs: [in.jsonl]
                format: jsonl
            """;

    @Test
    void aLabelMapFoldsManySourceValuesIntoOneLabelAndQuarantinesTheRestWithTheirValue() throws IOException {
        Result r = run(SPEC + """
                    label: group
                    labels: [ham, spam]
                    label_map: {comp.graphics: ham, rec.autos: ham, spam: spam}
                """,
                "{\"text\": \"a\", \"group\": \"comp.graphics\"}", "{\"text\": \"b\", \"group\": \"spam\"}",
                "{\"text\": \"c\", \"group\": \"rec.autos\"}", "{\"text\": \"d\", \"group\": \"other\"}", "{\"text\": \"e\", \"group\": \"ham\"}");
        assertEquals(List.of(0, 1, 0), r.rows().stream().map(ShardRow::label).toList());
        assertEquals(List.of("other", "ham"), r.bad().stream().map(QuarantinedRow::value).toList(), "only label_map's keys are accepted");
        assertEquals(List.of("unknown_label", "unknown_label"), r.bad().stream().map(QuarantinedRow::reason).toList());
        assertEquals(List.of(4L, 5L), r.bad().stream().map(QuarantinedRow::line).toList());
    }

    @Test
    void aTaskNamesItsSplitOrTheValuesItsSplitFieldMayTake() throws IOException {
        Result fixed = run(SPEC + "    label: l\n    labels: [a, b]\n    split: test\n", "{\"text\": \"x\", \"l\": \"a\"}", "{\"text\": \"y\", \"l\": \"b\"}");
        assertEquals(List.of("test", "test"), fixed.rows().stream().map(ShardRow::split).toList());

        Result field = run(SPEC + "    label: l\n    labels: [a, b]\n    split_field: part\n    split_values: [train, dev]\n",
                "{\"text\": \"x\", \"l\": \"a\", \"part\": \"dev\"}", "{\"text\": \"y\", \"l\": \"b\", \"part\": \"train\"}",
                "{\"text\": \"z\", \"l\": \"b\", \"part\": \"tset\"}");
        assertEquals(List.of("dev", "train"), field.rows().stream().map(ShardRow::split).toList());
        assertEquals("tset", field.bad().get(0).value());
        assertEquals("split is not one of [train, dev]", field.bad().get(0).detail());

        Result own = run(SPEC + "    label: l\n    labels: [a, b]\n    hash_split: {ratios: {train: 0.0, holdout: 1.0}}\n", "{\"text\": \"x\", \"l\": \"a\"}");
        assertEquals("holdout", own.rows().get(0).split(), "the task's own hash split, not the spec's");
    }

    @Test
    void aTemplateJoinsFieldsAndAMissingFieldIsQuarantinedByName() throws IOException {
        Result r = run(SPEC + "    template: \"{subject}\\n\\n{body} {{x}}\"\n    label: l\n    labels: [a, b]\n",
                "{\"subject\": \"Hello\", \"body\": \"World\", \"l\": \"a\"}", "{\"subject\": \"Hello\", \"l\": \"a\"}");
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson, 128, "tokenizer.json")) {
            assertArrayEquals(t.encode("Hello\n\nWorld {x}").ids(), r.rows().get(0).inputIds());
        }
        assertEquals("missing_text", r.bad().get(0).reason());
        assertEquals("no field 'body' (used by the template)", r.bad().get(0).detail());
    }

    @Test
    void aTaskCutsToItsOwnMaxLength() throws IOException {
        Result r = run(SPEC + "    label: l\n    labels: [a, b]\n    max_length: 8\n    truncation: tail\n",
                "{\"text\": \"one two three four five six seven eight nine ten\", \"l\": \"a\"}");
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson, 128, "tokenizer.json")) {
            int[] all = t.encode("one two three four five six seven eight nine ten").ids();
            int[] expected = {101, all[5], all[6], all[7], all[8], all[9], all[10], 102};
            assertArrayEquals(expected, r.rows().get(0).inputIds(), "[CLS], the last six words, [SEP]");
        }
    }

    @Test
    void contradictoryTaskOptionsAreRefusedNamingTheKey() {
        String base = SPEC + "    label: l\n    labels: [a, b]\n";
        assertTrue(assertThrows(IOException.class, () -> run(base + "    split: test\n    split_field: s\n")).getMessage()
                .contains("at most one of split_field, split and hash_split"));
        assertTrue(assertThrows(IOException.class, () -> run(base + "    label_map: {x: c}\n")).getMessage()
                .contains("label_map.x: 'c' is not one of labels [a, b]"));
        assertTrue(assertThrows(IOException.class, () -> run(base + "    text: body\n    template: \"{a}\"\n")).getMessage()
                .contains("text (one field) or template (several), not both"));
        assertTrue(assertThrows(IOException.class, () -> run(base + "    template: \"{a\"\n")).getMessage().contains("unclosed or empty {field}"));
        assertTrue(assertThrows(IOException.class, () -> run(base + "    text_pair: q\n    truncation: tail\n")).getMessage()
                .contains("a text pair is cut longest-first"));
        assertTrue(assertThrows(IOException.class, () -> run(base + "    split_values: [train]\n")).getMessage()
                .contains("split_values: applies only with split_field"));
    }

    @Test
    void anInstructionRowIsItsPromptThenItsResponseAndLearnsTheResponseOnly() throws IOException {
        String spec = SPEC.replace("tokenizer: t\n", "tokenizer: t\nobjective: instruction\neos_token_id: 7\nmax_length: 12\n")
                + "    prompt: q\n    response: a\n";
        Result r = run(spec, "{\"q\": \"two plus two\", \"a\": \"four\"}",
                "{\"q\": \"one two three four five six seven eight nine ten eleven\", \"a\": \"x\"}",
                "{\"q\": \"say it\", \"a\": \"one two three four five six seven eight nine ten eleven\"}",
                "{\"q\": \"why\", \"a\": \" \"}", "{\"q\": \"why\"}");
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson, 128, "tokenizer.json")) {
            int[] prompt = t.encode("two plus two").ids(), response = t.encodeContinuation("four").ids();
            assertEquals(1, response.length, "no [CLS]/[SEP] around a response");
            ShardRow first = r.rows().get(0);
            int[] expected = java.util.Arrays.copyOf(prompt, prompt.length + 2);
            expected[prompt.length] = response[0];
            expected[prompt.length + 1] = 7;
            assertArrayEquals(expected, first.inputIds(), "prompt with its special tokens, response, eos_token_id");
            assertArrayEquals(new int[] {prompt.length, prompt.length + 2}, first.lossSpans());
            assertTrue(!first.learned(prompt.length - 1) && first.learned(prompt.length) && first.learned(prompt.length + 1));

            ShardRow longPrompt = r.rows().get(1);
            int[] words = t.encode("one two three four five six seven eight nine ten eleven").ids(), x = t.encodeContinuation("x").ids();
            assertArrayEquals(new int[] {101, words[1], words[2], words[6], words[7], words[8], words[9], words[10], words[11], 102, x[0], 7},
                    longPrompt.inputIds(), "a long prompt keeps its head and tail (head_tail) and its special tokens; the whole response follows");
            assertArrayEquals(new int[] {10, 12}, longPrompt.lossSpans());

            ShardRow longResponse = r.rows().get(2);
            assertEquals(12, longResponse.length(), "a response longer than the room loses its tail (and eos)");
            assertArrayEquals(new int[] {t.encode("say it").ids().length, 12}, longResponse.lossSpans());
        }
        assertEquals(3, r.rows().size());
        assertEquals(List.of("empty_text", "missing_text"), r.bad().stream().map(QuarantinedRow::reason).toList());
        assertTrue(r.bad().get(1).detail().contains("no field 'a'"), r.bad().get(1).detail());
        // a template makes the prompt from several fields
        Result templated = run(SPEC.replace("tokenizer: t\n", "tokenizer: t\nobjective: instruction\n") + "    template: \"{q} {c}\"\n    response: a\n",
                "{\"q\": \"two plus\", \"c\": \"two\", \"a\": \"four\"}");
        assertArrayEquals(java.util.Arrays.copyOf(r.rows().get(0).inputIds(), r.rows().get(0).length() - 1), templated.rows().get(0).inputIds());
        assertTrue(assertThrows(IOException.class, () -> run(SPEC.replace("tokenizer: t\n", "tokenizer: t\nobjective: instruction\n"))).getMessage()
                .contains("tasks[0].response: required for instruction"));
        assertTrue(assertThrows(IOException.class, () -> run(spec.replace("    prompt: q\n", "    prompt: q\n    label: l\n"))).getMessage()
                .contains("an instruction task reads a prompt and a response"));
        assertTrue(assertThrows(IOException.class, () -> run(spec + "    template: \"{q}\"\n")).getMessage().contains("not both"));
    }

    @Test
    void aConversationIsRenderedWithTheChatTemplateAndLearnsEachAssistantTurn() throws IOException {
        String spec = SPEC.replace("tokenizer: t\n", "tokenizer: t\nobjective: instruction\nmax_length: 128\n") + "    messages: messages\n";
        String conversation = "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Capital of France?\"},"
                + " {\"role\": \"assistant\", \"content\": \"Paris.\"}, {\"role\": \"user\", \"content\": \"And Italy?\"},"
                + " {\"role\": \"assistant\", \"content\": \"Rome.\"}]";
        Result r = run(spec, "{\"messages\": " + conversation + "}",
                "{\"messages\": " + new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(conversation) + "}", // a string of the JSON, as CSV holds it
                "{\"messages\": {\"role\": \"user\"}}",
                "{\"messages\": \"not json\"}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}",
                "{\"messages\": [{\"role\": \"assistant\", \"content\": \"I start\"}, {\"role\": \"user\", \"content\": \"no\"}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "word ".repeat(150) + "\"}, {\"role\": \"assistant\", \"content\": \"late\"}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "word ".repeat(20) + "\"}, {\"role\": \"assistant\", \"content\": \""
                        + "answer ".repeat(150) + "\"}]}");
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson, 1 << 20, "tokenizer.json")) {
            ShardRow row = r.rows().get(0);
            String text = ChatTemplate.of(CHATML, null, "chatml.jinja").render(ChatTemplate.parseMessages(conversation), false);
            assertArrayEquals(t.encodeContinuation(text).ids(), row.inputIds(), "the rendered conversation, tokenized whole without added special tokens");
            List<Integer> learned = new ArrayList<>();
            for (int p = 0; p < row.length(); p++) if (row.learned(p)) learned.add(row.inputIds()[p]);
            List<Integer> answers = new ArrayList<>();
            for (String turn : List.of("Paris.<|im_end|>\n", "Rome.<|im_end|>\n")) for (int id : t.encodeContinuation(turn).ids()) answers.add(id);
            assertEquals(answers, learned, "the assistant turns and their end of turn, nothing of the system or user turns");
            assertEquals(4, row.lossSpans().length);
            assertArrayEquals(row.inputIds(), r.rows().get(1).inputIds(), "messages given as a string of JSON read the same");

            ShardRow cut = r.rows().get(2);
            assertEquals(128, cut.length(), "a conversation over max_length keeps its head");
            assertEquals(128, cut.lossSpans()[1], "the answer is learned up to the cut");
        }
        assertEquals(3, r.rows().size());
        assertEquals(List.of("wrong_type", "bad_messages", "bad_messages", "chat_template_refused", "no_room_for_response"),
                r.bad().stream().map(QuarantinedRow::reason).toList());
        assertTrue(r.bad().get(0).detail().contains("must be an array of {role, content}"), r.bad().get(0).detail());
        assertTrue(r.bad().get(2).detail().contains("no assistant message"), r.bad().get(2).detail());
        assertEquals("chatml.jinja: the chat template refused the conversation: the user speaks first", r.bad().get(3).detail());
        assertTrue(assertThrows(IOException.class, () -> run(spec + "    response: a\n")).getMessage().contains("a task with messages reads conversations"));
        String causal = SPEC.replace("tokenizer: t\n", "tokenizer: t\nobjective: causal_lm\n") + "    messages: m\n";
        assertTrue(assertThrows(IOException.class, () -> run(causal)).getMessage().contains("messages: applies only to objective instruction"));
    }
}
