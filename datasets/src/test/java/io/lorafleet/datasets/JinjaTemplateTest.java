package io.lorafleet.datasets;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Jinja's semantics where published chat templates do not reach (ChatTemplateIT covers those against transformers):
 * each expected text is what transformers' Jinja environment rendered for the template.
 */
class JinjaTemplateTest {
    private static final List<Object> MESSAGES = ChatTemplate.parseMessages(
            "[{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U1\"}, {\"role\": \"assistant\", \"content\": \"A1\"}]");

    static Stream<Arguments> renderedByTransformers() {
        return Stream.of(
                Arguments.of("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}{{ ',' if not loop.last }}{% else %}none{% endfor %}",
                        "1:user,2:assistant"),
                Arguments.of("{% for m in [] %}x{% else %}empty{% endfor %}",
                        "empty"),
                Arguments.of("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set local = 5 %}{% endfor %}{{ ns.n }} {{ local is defined }}",
                        "3 False"),
                Arguments.of("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
                        "0134"),
                Arguments.of("{% macro turn(role, text='?') %}[{{ role|upper }}:{{ text }}]{% endmacro %}{{ turn('user', 'hi') }}{{ turn('bot') }}",
                        "[USER:hi][BOT:?]"),
                Arguments.of("{{ messages[::-1][0].content }}|{{ 'abcdef'[1:4] }}|{{ 'abcdef'[-2:] }}|{{ [1,2,3][-1] }}|{{ 'x' ~ 1 ~ none ~ true }}",
                        "A1|bcd|ef|3|x1NoneTrue"),
                Arguments.of("{{ '  a b  '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'Hello'.startswith(('He', 'x')) }}|{{ 'hello world'.title() }}|{{ 'aaa'.replace('a', 'b', 2) }}",
                        "a b|['a', 'b', '', 'c']|['a', 'b']|True|Hello World|bba"),
                Arguments.of("{{ x is not none }}|{{ y is none }}|{{ z is defined }}|{{ 'yes' if x else 'no' }}|{{ 7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}",
                        "True|True|False|yes|3 3.5 2 1024"),
                Arguments.of("{% set block %}\n  inner {{ 1 + 1 }}\n{% endset %}[{{ block }}]",
                        "[  inner 2\n]"),
                Arguments.of("<ul>\n    {% if true %}\n    <li>{{ 'item' }}</li>\n    {% endif %}\n</ul>\n",
                        "<ul>\n    <li>item</li>\n</ul>"),
                Arguments.of("a  {%- if true -%}  b  {%- endif -%}  c\n{# note #}\nd {%+ if true %}e{% endif %}",
                        "abc\nd e"),
                Arguments.of("{{ messages | map(attribute='role') | join('/') }}|{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|{{ {'b': 1, 'a': [1.5, none, 'x\"y']} | tojson }}",
                        "system/user/assistant|1|{\"b\": 1, \"a\": [1.5, null, \"x\\\"y\"]}"),
                Arguments.of("{{ [1, 'a', none, true, 2.5, {'k': 'v'}] }}|{{ messages[0].get('missing', 'dflt') }}|{{ messages[0]['nope'] is defined }}|{{ 'content' in messages[0] }}|{{ messages[0].items() | list | length }}",
                        "[1, 'a', None, True, 2.5, {'k': 'v'}]|dflt|False|True|2"),
                Arguments.of("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{{ 3 in [1, 2, 3] }}{{ 'b' not in 'abc' }}",
                        "a=1;b=2;TrueFalse"),
                Arguments.of("{{ 'x' | default('d') }}{{ undefined_thing | default('d') }}{{ '' | default('e', true) }}{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e3 if false else 10 / 4 }}",
                        "xde1.0 0.30000000000000004 2.5"),
                Arguments.of("{{ -3|abs }}|{{ 3 > 2 > 1 }}|{{ 2 == 2 == 1 }}|{{ (1 == 1) != (2 == 3) }}|{{ 1 < x < 3 }}",
                        "3|True|False|True|False"),
                Arguments.of("{{ 0.00001 }} {{ 2e23 }} {{ 1e16 }} {{ -0.0 }} {{ 123456789.123 }} {{ 1e15 }} {{ 0.0001 }}",
                        "1e-05 2e+23 1e+16 -0.0 123456789.123 1000000000000000.0 0.0001"),
                Arguments.of("{{ {'b': [1, 2], 'a': 'é'} | tojson(separators=(',', ':'), sort_keys=true, ensure_ascii=true) }}",
                        "{\"a\":\"\\u00e9\",\"b\":[1,2]}"),
                Arguments.of("{{ 'a\\x41\\101\\u00e9' }}|{{ ['x\\xa0\\u200b'] }}|{{ (1, 2) }}|{{ {'a': 1}.items() | list }}|{{ {'a': {'b': 1}} }}",
                        "aAAé|['x\\xa0\\u200b']|(1, 2)|[('a', 1)]|{'a': {'b': 1}}"),
                Arguments.of("{% set p = '' %}{% for m in messages %}{% if m.role != 'system' %}{% set p = p ~ 'x' %}{% endif %}{{ p }};{% endfor %}[{{ p }}]",
                        ";x;x;[]"),
                Arguments.of("{{ 'they\\'re 1st x-y'|title }}|{{ ['A', 'a', 'b']|unique|list }}|{{ true is number }}|{{ '123' is lower }}|{{ 'a\\n  \\n\\nb'|indent(2) }}",
                        "They're 1st X-Y|['A', 'b']|True|False|a\n    \n\n  b"),
                Arguments.of("{{ 'citations' in controls }}|{{ '3.7'|int }}|{{ x is divisibleby 2 + 1 }}|{{ 0x10 }}",
                        "False|3|1|16"),
                Arguments.of("{% raw %}{{ x }}{% if %}{% endraw %}|{% macro f(a, b=a) %}{{ b }}{% endmacro %}{{ f(1) }}",
                        "{{ x }}{% if %}|1"),
                Arguments.of("{{ '%s-%d' % ('a', 3) }}|{{ 'ab' * 2 }}|{{ [1] * 2 }}|{{ '{} and {x}'.format(1, x=2) }}|{{ 'a\\nb'.splitlines() }}",
                        "a-3|abab|[1, 1]|1 and 2|['a', 'b']"),
                Arguments.of("{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|max }}|{{ [1, 2]|sum }}|{{ {'b': 1, 'a': 2}|dictsort }}|{{ messages|map(attribute='role')|sort(reverse=true)|join(',') }}",
                        "[1, 2, 3]|3|3|[('a', 2), ('b', 1)]|user,system,assistant"));
    }

    @ParameterizedTest
    @MethodSource("renderedByTransformers")
    void rendersAsJinjaDoes(String template, String expected) {
        Map<String, Object> vars = new HashMap<>(JinjaBuiltins.GLOBALS);
        vars.put("messages", MESSAGES);
        vars.put("x", 1L);
        vars.put("y", null);
        assertEquals(expected, JinjaTemplate.parse(template, "case").render(vars));
    }

    @Test
    void whatItCannotRenderFailsNamingTheLine() {
        var unknownFilter = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("a\n{{ x | wordwrap }}", "t.jinja").render(Map.of()));
        assertTrue(unknownFilter.getMessage().contains("line 2") && unknownFilter.getMessage().contains("wordwrap"), unknownFilter.getMessage());
        var unclosed = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("{% if x %}open", "t.jinja"));
        assertTrue(unclosed.getMessage().contains("endif"), unclosed.getMessage());
        var statement = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("\n\n{% include 'x' %}", "t.jinja"));
        assertEquals("t.jinja, line 3: unsupported statement 'include'", statement.getMessage());
        var concat = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("{{ 'a' + 1 }}", "t").render(Map.of()));
        assertTrue(concat.getMessage().contains("a string and an integer"), concat.getMessage());
        // where Python would go on (unbounded integers) or raise (JSON of an undefined value), we fail rather than render something else
        var big = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("{{ 9223372036854775807 + 1 }}", "t").render(Map.of()));
        assertTrue(big.getMessage().contains("beyond 64 bits"), big.getMessage());
        var undefinedJson = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("{{ m.missing | tojson }}", "t").render(Map.of("m", Map.of())));
        assertTrue(undefinedJson.getMessage().contains("undefined"), undefinedJson.getMessage());
        var javaFailure = assertThrows(JinjaTemplate.TemplateException.class, () -> JinjaTemplate.parse("{{ 'a'.startswith() }}", "t").render(Map.of()));
        assertTrue(javaFailure.getMessage().startsWith("t: "), javaFailure.getMessage());
    }

    @Test
    void theTemplatesOwnRefusalSaysWhy() throws Exception {
        ChatTemplate mistral = template("mistral-7b-instruct-v0.2.jinja");
        var refused = assertThrows(JinjaTemplate.TemplateException.class,
                () -> mistral.render(ChatTemplate.parseMessages("[{\"role\": \"assistant\", \"content\": \"first\"}]"), false));
        assertTrue(refused.getMessage().startsWith("the chat template refused the conversation: After the optional system message, conversation roles must alternate"), refused.getMessage());
    }

    @Test
    void theAssistantsTextIsWhatEachTurnAddsToThePromptForIt() throws Exception {
        ChatTemplate qwen = template("qwen2.5-7b-instruct.jinja");
        List<Object> conversation = ChatTemplate.parseMessages("[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"},"
                + " {\"role\": \"user\", \"content\": \"Bye\"}, {\"role\": \"assistant\", \"content\": \"Bye.\"}]");
        ChatTemplate.Rendered r = qwen.renderForTraining(conversation);
        assertEquals(qwen.render(conversation, false), r.text());
        int[] s = r.assistantSpans();
        assertEquals(4, s.length);
        assertEquals("Hello!<|im_end|>\n", r.text().substring(s[0], s[1]));
        assertEquals("Bye.<|im_end|>\n", r.text().substring(s[2], s[3]));
        assertTrue(r.text().substring(0, s[0]).endsWith("<|im_start|>assistant\n"));

        ChatTemplate llama = template("llama-3.3-70b-instruct.jinja");
        ChatTemplate.Rendered l = llama.renderForTraining(conversation);
        assertEquals("Hello!<|eot_id|>", l.text().substring(l.assistantSpans()[0], l.assistantSpans()[1]));
    }

    @Test
    void aTemplateThatRewritesEarlierTurnsCannotTellTheAssistantsText() throws Exception {
        // like templates that drop earlier turns' reasoning: the last assistant turn renders differently from earlier ones
        ChatTemplate forgetful = ChatTemplate.of("{% for m in messages %}{{ m.role }}: {{ m.content if loop.last or m.role != 'assistant' else '…' }}\n"
                + "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}", null, "forgetful");
        List<Object> conversation = ChatTemplate.parseMessages("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"},"
                + " {\"role\": \"user\", \"content\": \"c\"}]");
        var e = assertThrows(JinjaTemplate.TemplateException.class, () -> forgetful.renderForTraining(conversation));
        assertTrue(e.getMessage().contains("message 1: the chat template does not render the assistant's content where its turn is"), e.getMessage());
    }

    @Test
    void aLastTurnRenderedDifferentlyIsFoundByTheEndingItShares() throws Exception {
        // as Qwen3: the last assistant turn gains an empty reasoning block, earlier ones do not
        ChatTemplate qwen3Like = ChatTemplate.of("{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and loop.last %}"
                + "<think>\n\n</think>\n\n{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
                null, "qwen3-like");
        ChatTemplate.Rendered r = qwen3Like.renderForTraining(ChatTemplate.parseMessages("[{\"role\": \"user\", \"content\": \"q\"}, "
                + "{\"role\": \"assistant\", \"content\": \"A\"}, {\"role\": \"user\", \"content\": \"q2\"}, {\"role\": \"assistant\", \"content\": \"B\"}]"));
        int[] s = r.assistantSpans();
        assertEquals("A<|im_end|>\n", r.text().substring(s[0], s[1]));
        assertEquals("<think>\n\n</think>\n\nB<|im_end|>\n", r.text().substring(s[2], s[3]));
    }

    @Test
    void aTokenizerConfigGivesTheTemplateAndItsSpecialTokens() throws Exception {
        String config = "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\", "
                + "\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"{{ bos_token }}{{ messages[0].content }}{{ eos_token }}\"}]}";
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(config.getBytes(StandardCharsets.UTF_8), "tokenizer_config.json");
        assertEquals("<s>S</s>", t.render(MESSAGES, false));
        assertEquals(null, ChatTemplate.fromTokenizerConfig("{\"eos_token\": \"</s>\"}".getBytes(StandardCharsets.UTF_8), "c"));
        assertArrayEquals(new int[0], t.renderForTraining(ChatTemplate.parseMessages("[{\"role\": \"user\", \"content\": \"q\"}]")).assistantSpans());
    }

    private static ChatTemplate template(String file) throws Exception {
        return ChatTemplate.of(Files.readString(Path.of("src/test/resources/chat-templates", file)),
                "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}".getBytes(StandardCharsets.UTF_8), file);
    }
}
