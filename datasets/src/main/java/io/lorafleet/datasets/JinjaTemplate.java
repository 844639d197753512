package io.lorafleet.datasets;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Jinja2 template as Hugging Face renders chat templates (transformers' {@code apply_chat_template}: a sandboxed,
 * immutable environment with trim_blocks, lstrip_blocks, loop controls, the {@code generation} tag, and the globals
 * {@code raise_exception} and {@code strftime_now}), the values Python's: strings, integers, floats, booleans, None,
 * lists and dicts. The subset is what published chat templates use: {@code if/elif/else}, {@code for} (with
 * {@code loop}, a filter, {@code else}, {@code break}/{@code continue}), {@code set} (also of a namespace's
 * attribute, and as a block), {@code macro}; expressions with Python's operators, slices and string and dict
 * methods; Jinja's common filters and tests. Anything else fails when parsed, naming the template line, rather than
 * render something else than Jinja would.
 */
public final class JinjaTemplate {
    /** A template that cannot be parsed or rendered, or a {@code raise_exception} from the template itself. */
    public static final class TemplateException extends RuntimeException {
        TemplateException(String message) {
            super(message);
        }
    }

    /** Jinja's undefined value: prints as nothing, is false, iterates as empty. */
    static final Object UNDEFINED = new Object() {
        @Override
        public String toString() { return "Undefined"; }
    };

    /** A callable value: a global function, a bound string or dict method, a macro. */
    @FunctionalInterface
    public interface Function {
        Object call(List<Object> args, Map<String, Object> kwargs);
    }

    private final List<Node> body;
    private final String name;

    private JinjaTemplate(List<Node> body, String name) {
        this.body = body;
        this.name = name;
    }

    /** Parses {@code source}; {@code name} says which template in errors. */
    public static JinjaTemplate parse(String source, String name) {
        return new JinjaTemplate(new Parser(Lexer.split(source, name), name).parseAll(), name);
    }

    /** Renders with these variables (and functions) in scope; values are Java forms of Python's (Long, Double, List, Map...). */
    public String render(Map<String, Object> variables) {
        Scope scope = new Scope(null);
        scope.vars.putAll(variables);
        StringBuilder out = new StringBuilder();
        try {
            renderAll(body, scope, out);
        } catch (LoopControl c) {
            throw new TemplateException(name + ": " + (c == LoopControl.BREAK ? "break" : "continue") + " outside a loop");
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException e) { // a filter or method given what Python would raise a TypeError or ValueError for
            throw new TemplateException(name + ": " + e);
        }
        return out.toString();
    }

    // ---------------------------------------------------------------- lexing: text, {{ output }}, {% statement %}

    private enum Kind { TEXT, OUTPUT, STATEMENT }

    /** One piece of the template: literal text, or a tag's inner source, with its 1-based line. */
    private record Part(Kind kind, String content, int line) { }

    private static final class Lexer {
        /**
         * Splits the source into parts, applying Jinja's whitespace control: {@code -} strips all whitespace on its
         * side; trim_blocks drops the newline after a statement or comment; lstrip_blocks drops the spaces and tabs
         * before one at the start of a line ({@code +} turns either off). As Jinja, newlines are normalized to
         * {@code \n} and one trailing newline of the source is dropped.
         */
        static List<Part> split(String source, String name) {
            String src = source.replace("\r\n", "\n").replace('\r', '\n');
            if (src.endsWith("\n")) src = src.substring(0, src.length() - 1);
            List<Part> parts = new ArrayList<>();
            int pos = 0;
            boolean stripAll = false, trimNewline = false;
            while (true) {
                int open = nextTag(src, pos);
                int textStart = pos;
                String text = src.substring(pos, open < 0 ? src.length() : open);
                if (stripAll) {
                    text = JinjaBuiltins.strip(text, null, true, false);
                } else if (trimNewline && text.startsWith("\n")) {
                    text = text.substring(1);
                    textStart++;
                }
                if (open < 0) {
                    if (!text.isEmpty()) parts.add(new Part(Kind.TEXT, text, lineOf(src, textStart)));
                    return parts;
                }
                char kind = src.charAt(open + 1);
                char modifier = open + 2 < src.length() ? src.charAt(open + 2) : ' ';
                if (modifier == '-') {
                    text = JinjaBuiltins.strip(text, null, false, true);
                } else if (kind != '{' && modifier != '+') {
                    int lineStart = text.lastIndexOf('\n') + 1;
                    boolean atLineStart = lineStart > 0 || textStart == 0 || src.charAt(textStart - 1) == '\n';
                    if (atLineStart && text.substring(lineStart).chars().allMatch(c -> c != '\n' && JinjaBuiltins.isSpace(c))) text = text.substring(0, lineStart);
                }
                if (!text.isEmpty()) parts.add(new Part(Kind.TEXT, text, lineOf(src, textStart)));
                int line = lineOf(src, open);
                int innerStart = open + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
                String closer = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
                int close = kind == '#' ? src.indexOf(closer, innerStart) : closeOf(src, innerStart, closer);
                if (close < 0) throw new TemplateException(name + ", line " + line + ": '" + src.substring(open, open + 2) + "' is never closed");
                char before = src.charAt(close - 1);
                boolean minusAfter = before == '-' && close - 1 >= innerStart, plusAfter = before == '+' && close - 1 >= innerStart;
                String inner = src.substring(innerStart, minusAfter || plusAfter ? close - 1 : close);
                if (kind == '{') parts.add(new Part(Kind.OUTPUT, inner, line));
                if (kind == '%' && !inner.strip().equals("raw")) parts.add(new Part(Kind.STATEMENT, inner, line));
                pos = close + 2;
                if (kind == '%' && inner.strip().equals("raw")) { // its text as written, up to {% endraw %}
                    java.util.regex.Matcher end = java.util.regex.Pattern.compile("\\{%(-?)\\s*endraw\\s*(-?)%\\}").matcher(src);
                    if (!end.find(pos)) throw new TemplateException(name + ", line " + line + ": missing {% endraw %}");
                    String raw = src.substring(pos, end.start());
                    if (end.group(1).equals("-")) raw = JinjaBuiltins.strip(raw, null, false, true);
                    if (!raw.isEmpty()) parts.add(new Part(Kind.TEXT, raw, line));
                    pos = end.end();
                    stripAll = end.group(2).equals("-");
                    trimNewline = !stripAll;
                    continue;
                }
                stripAll = minusAfter;
                trimNewline = !minusAfter && !plusAfter && kind != '{';
            }
        }

        private static int nextTag(String src, int from) {
            for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
                char c = src.charAt(i + 1);
                if (c == '{' || c == '%' || c == '#') return i;
            }
            return -1;
        }

        /** Where a tag's closer is, skipping string literals and brackets that may hold it (a dict literal's "}}"). */
        private static int closeOf(String src, int from, String closer) {
            char quote = 0;
            int depth = 0;
            for (int i = from; i < src.length(); i++) {
                char c = src.charAt(i);
                if (quote != 0) {
                    if (c == '\\') i++;
                    else if (c == quote) quote = 0;
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (depth == 0 && src.startsWith(closer, i)) {
                    return i;
                } else if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                    depth--;
                }
            }
            return -1;
        }

        private static int lineOf(String src, int at) {
            int line = 1;
            for (int i = 0; i < at; i++) if (src.charAt(i) == '\n') line++;
            return line;
        }
    }

    // ---------------------------------------------------------------- expression tokens

    private enum TokenType { NAME, STRING, INTEGER, FLOAT, OPERATOR, END }

    private record Token(TokenType type, String text, Object value) {
        boolean is(String s) { return (type == TokenType.OPERATOR || type == TokenType.NAME) && text.equals(s); }
    }

    private static final String[] OPERATORS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "|", ".", ",", ":",
            "(", ")", "[", "]", "{", "}"};

    private static List<Token> tokens(String s, String where) {
        List<Token> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
                out.add(new Token(TokenType.NAME, s.substring(i, j), null));
                i = j;
            } else if (c == '0' && i + 2 < s.length() && (s.charAt(i + 1) == 'x' || s.charAt(i + 1) == 'X')) {
                int j = i + 2;
                while (j < s.length() && Character.digit(s.charAt(j), 16) >= 0) j++;
                out.add(new Token(TokenType.INTEGER, s.substring(i, j), Long.parseLong(s.substring(i + 2, j), 16)));
                i = j;
            } else if (Character.isDigit(c)) {
                int j = i;
                while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
                boolean fraction = j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1));
                if (fraction) {
                    j++;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
                }
                int sign = j + 1 < s.length() && (s.charAt(j + 1) == '+' || s.charAt(j + 1) == '-') ? 1 : 0;
                if (j + 1 + sign < s.length() && (s.charAt(j) == 'e' || s.charAt(j) == 'E') && Character.isDigit(s.charAt(j + 1 + sign))) {
                    fraction = true;
                    j += 1 + sign;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
                }
                String digits = s.substring(i, j).replace("_", "");
                out.add(fraction ? new Token(TokenType.FLOAT, digits, Double.parseDouble(digits)) : new Token(TokenType.INTEGER, digits, Long.parseLong(digits)));
                i = j;
            } else if (c == '\'' || c == '"') {
                StringBuilder value = new StringBuilder();
                int j = i + 1;
                for (; j < s.length() && s.charAt(j) != c; j++) {
                    char d = s.charAt(j);
                    if (d != '\\' || j + 1 == s.length()) {
                        value.append(d);
                        continue;
                    }
                    j = escape(s, j + 1, value, where) - 1;
                }
                if (j >= s.length()) throw new TemplateException(where + ": unterminated string");
                out.add(new Token(TokenType.STRING, s.substring(i, j + 1), value.toString()));
                i = j + 1;
            } else {
                String op = null;
                for (String o : OPERATORS) {
                    if (s.startsWith(o, i)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) throw new TemplateException(where + ": unexpected character '" + c + "'");
                out.add(new Token(TokenType.OPERATOR, op, null));
                i += op.length();
            }
        }
        out.add(new Token(TokenType.END, "end of tag", null));
        return out;
    }

    /** Python's escape sequence at {@code at} (after the backslash) appended to {@code out}; returns where the literal goes on. */
    private static int escape(String s, int at, StringBuilder out, String where) {
        char e = s.charAt(at);
        int digits = switch (e) {
            case 'x' -> 2;
            case 'u' -> 4;
            case 'U' -> 8;
            default -> 0;
        };
        if (digits > 0) {
            if (at + 1 + digits > s.length()) throw new TemplateException(where + ": truncated \\" + e + " escape");
            out.appendCodePoint(Integer.parseInt(s.substring(at + 1, at + 1 + digits), 16));
            return at + 1 + digits;
        }
        if (e >= '0' && e <= '7') {
            int end = at;
            while (end < s.length() && end < at + 3 && s.charAt(end) >= '0' && s.charAt(end) <= '7') end++;
            out.appendCodePoint(Integer.parseInt(s.substring(at, end), 8));
            return end;
        }
        switch (e) {
            case 'n' -> out.append('\n');
            case 't' -> out.append('\t');
            case 'r' -> out.append('\r');
            case 'b' -> out.append('\b');
            case 'f' -> out.append('\f');
            case 'v' -> out.append('\u000b');
            case 'a' -> out.append('\u0007');
            case '\\', '\'', '"' -> out.append(e);
            case '\n' -> { }
            default -> out.append('\\').append(e);
        }
        return at + 1;
    }

    // ---------------------------------------------------------------- the tree

    private interface Expr {
        Object eval(Scope s);
    }

    private interface Node {
        void render(Scope s, StringBuilder out);
    }

    private static void renderAll(List<Node> nodes, Scope s, StringBuilder out) {
        for (Node n : nodes) n.render(s, out);
    }

    /** Variables of one template, loop or macro call; reads fall through to the enclosing scope, writes stay here. */
    private static final class Scope {
        final Map<String, Object> vars = new java.util.HashMap<>();
        final Scope parent;

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) if (s.vars.containsKey(name)) return s.vars.get(name);
            return UNDEFINED;
        }
    }

    /** {@code break} and {@code continue}, unwinding to their loop. */
    private static final class LoopControl extends RuntimeException {
        static final LoopControl BREAK = new LoopControl(), CONTINUE = new LoopControl();

        private LoopControl() {
            super(null, null, false, false);
        }
    }

    /** A namespace(): the one object whose attributes a template may set, so that a value outlives a loop. */
    static final class Namespace extends LinkedHashMap<String, Object> { }

    // ---------------------------------------------------------------- parsing

    private static final class Parser {
        private final List<Part> parts;
        private final String name;
        private int at;
        private List<Token> toks;
        private int t;
        private int line;

        Parser(List<Part> parts, String name) {
            this.parts = parts;
            this.name = name;
        }

        List<Node> parseAll() {
            List<Node> body = parseBody();
            if (at < parts.size()) throw error("unexpected '" + parts.get(at).content().strip() + "'");
            return body;
        }

        /** Nodes up to (not including) a statement that ends this body (endif, else, endfor...), which stays for the caller. */
        private List<Node> parseBody(String... enders) {
            List<Node> nodes = new ArrayList<>();
            while (at < parts.size()) {
                Part p = parts.get(at);
                line = p.line();
                if (p.kind() == Kind.TEXT) {
                    String text = p.content();
                    nodes.add((s, out) -> out.append(text));
                    at++;
                    continue;
                }
                start(p);
                if (p.kind() == Kind.OUTPUT) {
                    Expr e = expression();
                    expectEnd();
                    nodes.add((s, out) -> out.append(str(e.eval(s))));
                    at++;
                    continue;
                }
                String keyword = toks.get(0).text();
                if (List.of(enders).contains(keyword)) return nodes;
                at++;
                t = 1;
                nodes.add(statement(keyword));
            }
            if (enders.length > 0) throw error("missing {% " + enders[enders.length - 1] + " %}");
            return nodes;
        }

        private void start(Part p) {
            toks = tokens(p.content(), name + ", line " + p.line());
            t = 0;
            line = p.line();
        }

        private Node statement(String keyword) {
            switch (keyword) {
                case "if": return ifStatement();
                case "for": return forStatement();
                case "set": return setStatement();
                case "macro": return macroStatement();
                case "break", "continue": {
                    expectEnd();
                    LoopControl c = keyword.equals("break") ? LoopControl.BREAK : LoopControl.CONTINUE;
                    return (s, out) -> { throw c; };
                }
                case "generation": { // transformers' assistant-mask tag: renders its body
                    expectEnd();
                    List<Node> body = parseBody("endgeneration");
                    closeWith("endgeneration");
                    return (s, out) -> renderAll(body, new Scope(s), out);
                }
                default: throw error("unsupported statement '" + keyword + "'");
            }
        }

        private Node ifStatement() {
            List<Expr> tests = new ArrayList<>();
            List<List<Node>> bodies = new ArrayList<>();
            tests.add(expression());
            expectEnd();
            List<Node> otherwise = List.of();
            while (true) {
                bodies.add(parseBody("elif", "else", "endif"));
                String k = toks.get(0).text();
                at++;
                t = 1;
                if (k.equals("elif")) {
                    tests.add(expression());
                    expectEnd();
                } else {
                    expectEnd();
                    if (k.equals("else")) {
                        otherwise = parseBody("endif");
                        closeWith("endif");
                    }
                    break;
                }
            }
            List<Node> orElse = otherwise;
            return (s, out) -> {
                for (int i = 0; i < tests.size(); i++) {
                    if (truthy(tests.get(i).eval(s))) {
                        renderAll(bodies.get(i), s, out);
                        return;
                    }
                }
                renderAll(orElse, s, out);
            };
        }

        private Node forStatement() {
            List<String> targets = new ArrayList<>();
            do targets.add(name()); while (accept(","));
            expect("in");
            Expr iterable = orExpression(); // a bare "if" after it filters, as in Jinja
            Expr filter = accept("if") ? expression() : null;
            expectEnd();
            List<Node> body = parseBody("else", "endfor");
            List<Node> orElse = List.of();
            if (toks.get(0).is("else")) {
                at++;
                orElse = parseBody("endfor");
            }
            closeWith("endfor");
            List<Node> empty = orElse;
            int where = line;
            return (s, out) -> {
                List<Object> items = new ArrayList<>();
                Scope probe = new Scope(s);
                for (Object item : iterate(iterable.eval(s), where)) {
                    if (filter != null) {
                        bind(probe, targets, item, where);
                        if (!truthy(filter.eval(probe))) continue;
                    }
                    items.add(item);
                }
                if (items.isEmpty()) {
                    renderAll(empty, s, out);
                    return;
                }
                for (int i = 0; i < items.size(); i++) {
                    Scope loopScope = new Scope(s); // as in Jinja, what one iteration sets is gone in the next
                    bind(loopScope, targets, items.get(i), where);
                    loopScope.vars.put("loop", new Loop(items, i));
                    try {
                        renderAll(body, loopScope, out);
                    } catch (LoopControl c) {
                        if (c == LoopControl.BREAK) break;
                    }
                }
            };
        }

        private Node setStatement() {
            String target = name();
            if (toks.get(t).is(",")) { // {% set a, b = pair %}
                List<String> targets = new ArrayList<>(List.of(target));
                while (accept(",")) targets.add(name());
                expect("=");
                Expr value = expression();
                expectEnd();
                int where = line;
                return (s, out) -> bind(s, targets, value.eval(s), where);
            }
            String attribute = accept(".") ? name() : null;
            if (!accept("=")) { // {% set x %}...{% endset %}
                if (attribute != null) throw error("a block set takes a plain name");
                expectEnd();
                List<Node> body = parseBody("endset");
                closeWith("endset");
                return (s, out) -> {
                    StringBuilder captured = new StringBuilder();
                    renderAll(body, s, captured);
                    s.vars.put(target, captured.toString());
                };
            }
            Expr value = expression();
            expectEnd();
            int where = line;
            if (attribute == null) return (s, out) -> s.vars.put(target, value.eval(s));
            return (s, out) -> {
                if (!(s.get(target) instanceof Namespace ns)) throw new TemplateException("line " + where + ": cannot set an attribute of '" + target + "', not a namespace");
                ns.put(attribute, value.eval(s));
            };
        }

        private Node macroStatement() {
            String macro = name();
            expect("(");
            List<String> params = new ArrayList<>();
            List<Expr> defaults = new ArrayList<>();
            while (!accept(")")) {
                params.add(name());
                defaults.add(accept("=") ? expression() : null);
                if (!toks.get(t).is(")")) expect(",");
            }
            expectEnd();
            List<Node> body = parseBody("endmacro");
            closeWith("endmacro");
            int where = line;
            return (s, out) -> s.vars.put(macro, (Function) (args, kwargs) -> {
                if (args.size() > params.size()) throw new TemplateException("line " + where + ": macro '" + macro + "' takes " + params.size() + " arguments");
                for (String k : kwargs.keySet()) {
                    if (!params.contains(k)) throw new TemplateException("line " + where + ": macro '" + macro + "' takes no argument '" + k + "'");
                }
                Scope call = new Scope(s);
                for (int i = 0; i < params.size(); i++) {
                    String p = params.get(i);
                    Object v = i < args.size() ? args.get(i) : kwargs.containsKey(p) ? kwargs.get(p) : defaults.get(i) != null ? defaults.get(i).eval(call) : UNDEFINED;
                    call.vars.put(p, v);
                }
                StringBuilder text = new StringBuilder();
                renderAll(body, call, text);
                return text.toString();
            });
        }

        private void closeWith(String ender) {
            if (at >= parts.size() || !toks.get(0).is(ender)) throw error("missing {% " + ender + " %}");
            t = 1;
            expectEnd();
            at++;
        }

        // expressions, by Jinja's precedence: conditional, or, and, not, comparison, + -, ~, * / // %, **, unary, postfix and filters

        private Expr expression() {
            Expr value = orExpression();
            if (!accept("if")) return value;
            Expr test = orExpression();
            Expr otherwise = accept("else") ? expression() : null;
            return s -> truthy(test.eval(s)) ? value.eval(s) : otherwise == null ? UNDEFINED : otherwise.eval(s);
        }

        private Expr orExpression() {
            Expr left = andExpression();
            while (accept("or")) {
                Expr a = left, b = andExpression();
                left = s -> {
                    Object v = a.eval(s);
                    return truthy(v) ? v : b.eval(s);
                };
            }
            return left;
        }

        private Expr andExpression() {
            Expr left = notExpression();
            while (accept("and")) {
                Expr a = left, b = notExpression();
                left = s -> {
                    Object v = a.eval(s);
                    return truthy(v) ? b.eval(s) : v;
                };
            }
            return left;
        }

        private Expr notExpression() {
            if (toks.get(t).is("not")) {
                t++;
                Expr e = notExpression();
                return s -> !truthy(e.eval(s));
            }
            return comparison();
        }

        private Expr comparison() {
            Expr left = sum();
            while (true) {
                Token op = toks.get(t);
                String o;
                if (op.is("==") || op.is("!=") || op.is("<") || op.is(">") || op.is("<=") || op.is(">=") || op.is("in")) {
                    o = op.text();
                    t++;
                } else if (op.is("not") && toks.get(t + 1).is("in")) {
                    o = "not in";
                    t += 2;
                } else {
                    return left;
                }
                left = chain(left, o, sum());
            }
        }

        /** Python chains comparisons: {@code a < b < c} is {@code a < b and b < c}, b evaluated once. */
        private Expr chain(Expr left, String op, Expr right) {
            if (!(left instanceof Comparison c)) return new Comparison(List.of(left, right), List.of(op));
            List<Expr> operands = new ArrayList<>(c.operands());
            operands.add(right);
            List<String> ops = new ArrayList<>(c.ops());
            ops.add(op);
            return new Comparison(operands, ops);
        }

        private Expr sum() {
            return arithmeticLevel(this::concat, "+", "-");
        }

        private Expr concat() {
            Expr left = product();
            while (accept("~")) {
                Expr a = left, b = product();
                left = s -> str(a.eval(s)) + str(b.eval(s));
            }
            return left;
        }

        private Expr product() {
            return arithmeticLevel(this::power, "*", "/", "//", "%");
        }

        private Expr power() {
            return arithmeticLevel(this::unary, "**"); // left-associative in Jinja, unlike Python
        }

        /** Operands of the next level joined, left to right, by these operators. */
        private Expr arithmeticLevel(java.util.function.Supplier<Expr> operand, String... operators) {
            Expr left = operand.get();
            while (java.util.Arrays.stream(operators).anyMatch(o -> toks.get(t).is(o))) {
                String o = toks.get(t++).text();
                Expr a = left, b = operand.get();
                left = s -> arithmetic(o, a.eval(s), b.eval(s));
            }
            return left;
        }

        /** As Jinja: a sign applies to its operand, and the filters after it to the signed value ({@code -3|abs} is 3). */
        private Expr unary() {
            return filters(signed());
        }

        private Expr signed() {
            if (toks.get(t).is("-") || toks.get(t).is("+")) {
                boolean negate = toks.get(t++).is("-");
                Expr e = signed();
                return negate ? s -> negate(e.eval(s)) : e;
            }
            return postfix(primary());
        }

        private Expr primary() {
            Token k = toks.get(t++);
            switch (k.type()) {
                case STRING: {
                    StringBuilder joined = new StringBuilder((String) k.value());
                    while (toks.get(t).type() == TokenType.STRING) joined.append((String) toks.get(t++).value());
                    String v = joined.toString();
                    return s -> v;
                }
                case INTEGER:
                case FLOAT: {
                    Object v = k.value();
                    return s -> v;
                }
                case NAME: {
                    switch (k.text()) {
                        case "true", "True": return s -> Boolean.TRUE;
                        case "false", "False": return s -> Boolean.FALSE;
                        case "none", "None": return s -> null;
                        default: {
                            String n = k.text();
                            return s -> s.get(n);
                        }
                    }
                }
                default:
            }
            if (k.is("(")) {
                Expr first = expression();
                if (accept(")")) return s -> first.eval(s); // not a Comparison any more: "(a == b) != c" does not chain
                List<Expr> items = new ArrayList<>(List.of(first));
                while (accept(",") && !toks.get(t).is(")")) items.add(expression());
                expect(")");
                return s -> new Tuple(evalAll(items, s));
            }
            if (k.is("[")) {
                List<Expr> items = new ArrayList<>();
                while (!accept("]")) {
                    items.add(expression());
                    if (!toks.get(t).is("]")) expect(",");
                }
                return s -> evalAll(items, s);
            }
            if (k.is("{")) {
                List<Expr> keys = new ArrayList<>(), values = new ArrayList<>();
                while (!accept("}")) {
                    keys.add(expression());
                    expect(":");
                    values.add(expression());
                    if (!toks.get(t).is("}")) expect(",");
                }
                return s -> {
                    Map<Object, Object> m = new LinkedHashMap<>();
                    for (int i = 0; i < keys.size(); i++) m.put(keys.get(i).eval(s), values.get(i).eval(s));
                    return m;
                };
            }
            throw error("unexpected '" + k.text() + "'");
        }

        private Expr postfix(Expr e) {
            while (true) {
                int where = line;
                if (accept(".")) {
                    String attribute = name();
                    Expr obj = e;
                    e = s -> attribute(obj.eval(s), attribute, where);
                } else if (accept("[")) {
                    Expr obj = e;
                    Expr[] slice = new Expr[3];
                    boolean isSlice = false;
                    for (int i = 0; i < 3; i++) {
                        if (!toks.get(t).is(":") && !toks.get(t).is("]")) slice[i] = expression();
                        if (i < 2 && accept(":")) {
                            isSlice = true;
                        } else {
                            break;
                        }
                    }
                    expect("]");
                    if (isSlice) {
                        e = s -> slice(obj.eval(s), slice[0] == null ? null : slice[0].eval(s), slice[1] == null ? null : slice[1].eval(s),
                                slice[2] == null ? null : slice[2].eval(s), where);
                    } else {
                        Expr index = slice[0];
                        e = s -> item(obj.eval(s), index.eval(s), where);
                    }
                } else if (toks.get(t).is("(")) {
                    t++;
                    Expr fn = e;
                    Arguments a = arguments();
                    e = s -> call(fn.eval(s), a.positional(s), a.named(s), where);
                } else {
                    return e;
                }
            }
        }

        private Expr filters(Expr e) {
            while (true) {
                int where = line;
                if (accept("|")) {
                    String filter = name();
                    Arguments a = toks.get(t).is("(") ? advanceAndArguments() : Arguments.NONE;
                    Expr value = e;
                    e = s -> JinjaBuiltins.filter(filter, value.eval(s), a.positional(s), a.named(s), where);
                } else if (accept("is")) {
                    boolean negated = accept("not");
                    String test = name();
                    Arguments a;
                    if (toks.get(t).is("(")) {
                        a = advanceAndArguments();
                    } else if (startsOperand(toks.get(t))) { // as Jinja: one primary with its postfixes ("is divisibleby 2 + 1" adds to the test)
                        Expr only = postfix(primary());
                        a = new Arguments(List.of(only), Map.of());
                    } else {
                        a = Arguments.NONE;
                    }
                    Expr value = e;
                    e = s -> negated != JinjaBuiltins.test(test, value.eval(s), a.positional(s), where);
                } else {
                    return e;
                }
            }
        }

        private static boolean startsOperand(Token k) {
            if (k.type() == TokenType.STRING || k.type() == TokenType.INTEGER || k.type() == TokenType.FLOAT || k.is("[") || k.is("{")) return true;
            return k.type() == TokenType.NAME && !List.of("and", "or", "not", "in", "is", "if", "else").contains(k.text());
        }

        private Arguments advanceAndArguments() {
            t++;
            return arguments();
        }

        /** Call arguments after the opening parenthesis, through the closing one. */
        private Arguments arguments() {
            List<Expr> positional = new ArrayList<>();
            Map<String, Expr> named = new LinkedHashMap<>();
            while (!accept(")")) {
                if (toks.get(t).type() == TokenType.NAME && toks.get(t + 1).is("=")) {
                    String key = toks.get(t).text();
                    t += 2;
                    named.put(key, expression());
                } else {
                    positional.add(expression());
                }
                if (!toks.get(t).is(")")) expect(",");
            }
            return new Arguments(positional, named);
        }

        private String name() {
            Token k = toks.get(t);
            if (k.type() != TokenType.NAME) throw error("expected a name, found '" + k.text() + "'");
            t++;
            return k.text();
        }

        private boolean accept(String s) {
            if (!toks.get(t).is(s)) return false;
            t++;
            return true;
        }

        private void expect(String s) {
            if (!accept(s)) throw error("expected '" + s + "', found '" + toks.get(t).text() + "'");
        }

        private void expectEnd() {
            if (toks.get(t).type() != TokenType.END) throw error("unexpected '" + toks.get(t).text() + "'");
        }

        private TemplateException error(String message) {
            return new TemplateException(name + ", line " + line + ": " + message);
        }
    }

    private record Comparison(List<Expr> operands, List<String> ops) implements Expr {
        @Override
        public Object eval(Scope s) {
            Object left = operands.get(0).eval(s);
            for (int i = 0; i < ops.size(); i++) {
                Object right = operands.get(i + 1).eval(s);
                if (!(Boolean) compare(ops.get(i), left, right)) return false;
                left = right;
            }
            return true;
        }
    }

    private record Arguments(List<Expr> positionalExprs, Map<String, Expr> namedExprs) {
        static final Arguments NONE = new Arguments(List.of(), Map.of());

        List<Object> positional(Scope s) {
            return evalAll(positionalExprs, s);
        }

        Map<String, Object> named(Scope s) {
            Map<String, Object> m = new LinkedHashMap<>();
            namedExprs.forEach((k, e) -> m.put(k, e.eval(s)));
            return m;
        }
    }

    private static List<Object> evalAll(List<Expr> exprs, Scope s) {
        List<Object> values = new ArrayList<>(exprs.size());
        for (Expr e : exprs) values.add(e.eval(s));
        return values;
    }

    // ---------------------------------------------------------------- Python semantics

    /** The {@code loop} variable of a for loop. */
    private record Loop(List<Object> items, int index0) {
        Object attribute(String name) {
            int n = items.size();
            return switch (name) {
                case "index0" -> (long) index0;
                case "index" -> (long) index0 + 1;
                case "revindex0" -> (long) (n - 1 - index0);
                case "revindex" -> (long) (n - index0);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> 1L;
                case "depth0" -> 0L;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : UNDEFINED;
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : UNDEFINED;
                case "cycle" -> (Function) (args, kw) -> args.get(index0 % args.size());
                default -> UNDEFINED;
            };
        }
    }

    private static void bind(Scope s, List<String> targets, Object item, int line) {
        if (targets.size() == 1) {
            s.vars.put(targets.get(0), item);
            return;
        }
        List<Object> values = iterate(item, line);
        if (values.size() != targets.size()) throw new TemplateException("line " + line + ": cannot unpack " + values.size() + " values into " + targets);
        for (int i = 0; i < targets.size(); i++) s.vars.put(targets.get(i), values.get(i));
    }

    static List<Object> iterate(Object v, int line) {
        if (v == UNDEFINED) return List.of();
        if (v instanceof List<?> l) return new ArrayList<>(l);
        if (v instanceof Map<?, ?> m) return new ArrayList<>(m.keySet());
        if (v instanceof String s) {
            List<Object> chars = new ArrayList<>();
            s.codePoints().forEach(c -> chars.add(new String(Character.toChars(c))));
            return chars;
        }
        throw new TemplateException("line " + line + ": " + typeName(v) + " is not iterable");
    }

    static boolean truthy(Object v) {
        if (v == null || v == UNDEFINED) return false;
        if (v instanceof Boolean b) return b;
        if (v instanceof Namespace) return true;
        if (v instanceof Long l) return l != 0;
        if (v instanceof Double d) return d != 0;
        if (v instanceof String s) return !s.isEmpty();
        if (v instanceof List<?> l) return !l.isEmpty();
        if (v instanceof Map<?, ?> m) return !m.isEmpty();
        return true;
    }

    /** Python's str(): what {{ v }} prints. */
    static String str(Object v) {
        if (v == UNDEFINED) return "";
        if (v instanceof String s) return s;
        return repr(v);
    }

    /** Python's str.isprintable for one character: what repr shows as itself rather than escaped. */
    private static boolean printable(int c) {
        if (c == ' ') return true;
        int type = Character.getType(c);
        return type != Character.CONTROL && type != Character.FORMAT && type != Character.SURROGATE && type != Character.PRIVATE_USE
                && type != Character.UNASSIGNED && type != Character.LINE_SEPARATOR && type != Character.PARAGRAPH_SEPARATOR
                && type != Character.SPACE_SEPARATOR;
    }

    /** A Python tuple (literal {@code (a, b)}, a dict's items): a list that prints in parentheses. */
    static final class Tuple extends ArrayList<Object> {
        Tuple(java.util.Collection<?> items) {
            super(items);
        }
    }

    /** Python's repr(), for values printed inside lists and dicts. */
    static String repr(Object v) {
        if (v == null) return "None";
        if (v == UNDEFINED) return "Undefined";
        if (v instanceof Boolean b) return b ? "True" : "False";
        if (v instanceof Double d) return pythonFloat(d);
        if (v instanceof String s) {
            char quote = s.contains("'") && !s.contains("\"") ? '"' : '\'';
            StringBuilder b = new StringBuilder().append(quote);
            s.codePoints().forEach(c -> {
                switch (c) {
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    default -> {
                        if (c == quote) b.append('\\');
                        if (printable(c)) b.appendCodePoint(c);
                        else b.append(String.format(c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", c));
                    }
                }
            });
            return b.append(quote).toString();
        }
        if (v instanceof List<?> l) {
            boolean tuple = v instanceof Tuple;
            StringBuilder b = new StringBuilder(tuple ? "(" : "[");
            for (int i = 0; i < l.size(); i++) b.append(i == 0 ? "" : ", ").append(repr(l.get(i)));
            return b.append(tuple ? (l.size() == 1 ? ",)" : ")") : "]").toString();
        }
        if (v instanceof Map<?, ?> m) {
            StringBuilder b = new StringBuilder("{");
            boolean first = true;
            for (var e : m.entrySet()) {
                b.append(first ? "" : ", ").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                first = false;
            }
            return b.append('}').toString();
        }
        return String.valueOf(v);
    }

    /** Python's repr of a float: the shortest digits that read back as the same double, positional from 1e-4 to below 1e16. */
    static String pythonFloat(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        java.math.BigDecimal shortest = null;
        for (int digits = 1; digits <= 17 && shortest == null; digits++) {
            java.math.BigDecimal b = new java.math.BigDecimal(d).round(new java.math.MathContext(digits, java.math.RoundingMode.HALF_EVEN));
            if (b.doubleValue() == d) shortest = b;
        }
        shortest = shortest.stripTrailingZeros();
        int exponent = shortest.precision() - shortest.scale() - 1;
        if (exponent >= -4 && exponent < 16) {
            String plain = shortest.toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        String mantissa = shortest.movePointLeft(exponent).toPlainString();
        return mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format(java.util.Locale.ROOT, "%02d", Math.abs(exponent));
    }

    static String typeName(Object v) {
        if (v == null) return "None";
        if (v == UNDEFINED) return "undefined";
        if (v instanceof String) return "a string";
        if (v instanceof Long) return "an integer";
        if (v instanceof Double) return "a float";
        if (v instanceof Boolean) return "a boolean";
        if (v instanceof List) return "a list";
        if (v instanceof Map) return "a dict";
        return v.getClass().getSimpleName();
    }

    /** {@code obj.name}: a loop's or a namespace's attribute, a method of a string or dict, else a dict's item. */
    private static Object attribute(Object obj, String name, int line) {
        if (obj == UNDEFINED) throw new TemplateException("line " + line + ": undefined value has no attribute '" + name + "'");
        if (obj instanceof Loop l) return l.attribute(name);
        if (obj instanceof Namespace ns) return ns.containsKey(name) ? ns.get(name) : UNDEFINED;
        Function method = JinjaBuiltins.method(obj, name);
        if (method != null) return method;
        if (obj instanceof Map<?, ?> m) return m.containsKey(name) ? m.get(name) : UNDEFINED;
        return UNDEFINED;
    }

    /** {@code obj[key]}: an item, else (as Jinja) an attribute. */
    private static Object item(Object obj, Object key, int line) {
        if (obj == UNDEFINED) throw new TemplateException("line " + line + ": undefined value has no item " + repr(key));
        if (obj instanceof Map<?, ?> m) {
            if (m.containsKey(key)) return m.get(key);
            return key instanceof String s && !(obj instanceof Namespace) ? attribute(obj, s, line) : UNDEFINED;
        }
        if ((obj instanceof List<?> || obj instanceof String) && (key instanceof Long || key instanceof Boolean)) {
            List<?> items = obj instanceof List<?> l ? l : iterate(obj, line); // a string by code points, as Python indexes it
            long i = key instanceof Boolean b ? (b ? 1 : 0) : (Long) key;
            if (i < 0) i += items.size();
            if (i < 0 || i >= items.size()) return UNDEFINED;
            return items.get((int) i);
        }
        return key instanceof String s ? attribute(obj, s, line) : UNDEFINED;
    }

    private static Object slice(Object obj, Object start, Object stop, Object step, int line) {
        List<Object> items;
        if (obj instanceof List<?> l) items = new ArrayList<>(l);
        else if (obj instanceof String s) items = iterate(s, line);
        else throw new TemplateException("line " + line + ": cannot slice " + typeName(obj));
        int n = items.size();
        long by = step == null ? 1 : asLong(step, line);
        if (by == 0) throw new TemplateException("line " + line + ": slice step cannot be zero");
        long from = start == null ? (by > 0 ? 0 : n - 1) : clampIndex(asLong(start, line), n, by);
        long to = stop == null ? (by > 0 ? n : -1) : clampIndex(asLong(stop, line), n, by);
        List<Object> out = new ArrayList<>();
        for (long i = from; by > 0 ? i < to : i > to; i += by) out.add(items.get((int) i));
        if (obj instanceof String) {
            StringBuilder b = new StringBuilder();
            out.forEach(b::append);
            return b.toString();
        }
        return out;
    }

    private static long clampIndex(long i, int n, long step) {
        if (i < 0) i += n;
        if (step > 0) return Math.max(0, Math.min(i, n));
        return Math.max(-1, Math.min(i, n - 1));
    }

    static long asLong(Object v, int line) {
        if (v instanceof Long l) return l;
        if (v instanceof Boolean b) return b ? 1 : 0;
        throw new TemplateException("line " + line + ": expected an integer, got " + typeName(v));
    }

    private static Object call(Object fn, List<Object> args, Map<String, Object> kwargs, int line) {
        if (fn instanceof Function f) return f.call(args, kwargs);
        throw new TemplateException("line " + line + ": " + (fn == UNDEFINED ? "an undefined name" : typeName(fn)) + " is not callable");
    }

    private static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    private static double asDouble(Object v) {
        return v instanceof Boolean b ? (b ? 1 : 0) : ((Number) v).doubleValue();
    }

    static boolean pyEquals(Object a, Object b) {
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) return asDouble(a) == asDouble(b);
            return asLong(a, 0) == asLong(b, 0);
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if (x.size() != y.size() || (x instanceof Tuple) != (y instanceof Tuple)) return false;
            for (int i = 0; i < x.size(); i++) if (!pyEquals(x.get(i), y.get(i))) return false;
            return true;
        }
        if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
            if (x.size() != y.size()) return false;
            for (var e : x.entrySet()) if (!y.containsKey(e.getKey()) || !pyEquals(e.getValue(), y.get(e.getKey()))) return false;
            return true;
        }
        return Objects.equals(a, b);
    }

    private static Object compare(String op, Object a, Object b) {
        switch (op) {
            case "==": return pyEquals(a, b);
            case "!=": return !pyEquals(a, b);
            case "in": return contains(b, a);
            case "not in": return !contains(b, a);
            default:
        }
        int c = order(a, b, 0);
        return switch (op) {
            case "<" -> c < 0;
            case ">" -> c > 0;
            case "<=" -> c <= 0;
            default -> c >= 0;
        };
    }

    /** Python's ordering of two numbers or two strings (by code point); anything else cannot be ordered. */
    static int order(Object a, Object b, int line) {
        if (isNumber(a) && isNumber(b)) return Double.compare(asDouble(a), asDouble(b));
        if (a instanceof String x && b instanceof String y) return java.util.Arrays.compare(x.codePoints().toArray(), y.codePoints().toArray());
        throw new TemplateException((line > 0 ? "line " + line + ": " : "") + typeName(a) + " and " + typeName(b) + " cannot be ordered");
    }

    static boolean contains(Object container, Object v) {
        if (container instanceof String s) {
            if (!(v instanceof String x)) throw new TemplateException("'in <string>' requires a string, not " + typeName(v));
            return s.contains(x);
        }
        if (container instanceof List<?> l) {
            for (Object o : l) if (pyEquals(o, v)) return true;
            return false;
        }
        if (container instanceof Map<?, ?> m) return m.containsKey(v);
        if (container == UNDEFINED) return false; // Jinja's undefined iterates as empty
        throw new TemplateException(typeName(container) + " is not a container");
    }

    private static Object arithmetic(String op, Object a, Object b) {
        if (op.equals("+") && a instanceof String x && b instanceof String y) return x + y;
        if (op.equals("+") && a instanceof List<?> x && b instanceof List<?> y) {
            List<Object> joined = new ArrayList<>(x);
            joined.addAll(y);
            return joined;
        }
        if (op.equals("*") && (a instanceof String || a instanceof List) && b instanceof Long n) return repeat(a, n);
        if (op.equals("*") && a instanceof Long n && (b instanceof String || b instanceof List)) return repeat(b, n);
        if (op.equals("%") && a instanceof String format) return JinjaBuiltins.percentFormat(format, b);
        if (!isNumber(a) || !isNumber(b)) {
            throw new TemplateException("unsupported operand types for " + op + ": " + typeName(a) + " and " + typeName(b));
        }
        boolean integers = !(a instanceof Double) && !(b instanceof Double);
        if (integers && !op.equals("/")) {
            long x = asLong(a, 0), y = asLong(b, 0);
            try { // Python's integers have no limit; ours are 64 bits, and a result beyond fails rather than wraps
                return switch (op) {
                    case "+" -> Math.addExact(x, y);
                    case "-" -> Math.subtractExact(x, y);
                    case "*" -> Math.multiplyExact(x, y);
                    case "//" -> Math.floorDiv(x, nonZero(y));
                    case "%" -> Math.floorMod(x, nonZero(y));
                    default -> y >= 0 ? (Object) java.math.BigInteger.valueOf(x).pow((int) Math.min(y, 64)).longValueExact() : Math.pow(x, y);
                };
            } catch (ArithmeticException e) {
                throw new TemplateException("integer " + op + " beyond 64 bits");
            }
        }
        double x = asDouble(a), y = asDouble(b);
        return switch (op) {
            case "+" -> x + y;
            case "-" -> x - y;
            case "*" -> x * y;
            case "/" -> x / nonZero(y);
            case "//" -> Math.floor(x / nonZero(y));
            case "%" -> x - Math.floor(x / nonZero(y)) * y;
            default -> Math.pow(x, y);
        };
    }

    private static Object repeat(Object sequence, long times) {
        if (times * (sequence instanceof String s ? s.length() : ((List<?>) sequence).size()) > 1 << 24) throw new TemplateException("repetition too long");
        if (sequence instanceof String s) return s.repeat((int) Math.max(0, times));
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < times; i++) out.addAll((List<?>) sequence);
        return out;
    }

    private static Object negate(Object v) {
        if (v instanceof Double d) return -d;
        return arithmetic("-", 0L, v);
    }

    private static long nonZero(long y) {
        if (y == 0) throw new TemplateException("division by zero");
        return y;
    }

    private static double nonZero(double y) {
        if (y == 0) throw new TemplateException("division by zero");
        return y;
    }
}
