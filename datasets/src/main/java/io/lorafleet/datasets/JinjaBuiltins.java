package io.lorafleet.datasets;

import io.lorafleet.datasets.JinjaTemplate.Function;
import io.lorafleet.datasets.JinjaTemplate.TemplateException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.lorafleet.datasets.JinjaTemplate.UNDEFINED;
import static io.lorafleet.datasets.JinjaTemplate.asLong;
import static io.lorafleet.datasets.JinjaTemplate.iterate;
import static io.lorafleet.datasets.JinjaTemplate.pyEquals;
import static io.lorafleet.datasets.JinjaTemplate.str;
import static io.lorafleet.datasets.JinjaTemplate.truthy;
import static io.lorafleet.datasets.JinjaTemplate.typeName;

/**
 * Jinja's filters and tests and the Python methods of strings and dicts that chat templates call, with Python's
 * results (str.strip's whitespace, str.split's rules, json.dumps's separators). An unknown one fails by name.
 */
final class JinjaBuiltins {
    private JinjaBuiltins() { }

    /** Filters that, as in Jinja, fail on an undefined value rather than render something (Python raises in them). */
    private static final java.util.Set<String> REFUSE_UNDEFINED = java.util.Set.of("tojson", "int", "float", "indent", "abs", "round", "sum", "dictsort",
            "format");

    static Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, int line) {
        if (v == UNDEFINED && REFUSE_UNDEFINED.contains(name)) throw new TemplateException("line " + line + ": filter '" + name + "' of an undefined value");
        switch (name) {
            case "trim": return strip(str(v), arg(args, kw, 0, "chars", null), true, true);
            case "upper": return str(v).toUpperCase(java.util.Locale.ROOT);
            case "lower": return str(v).toLowerCase(java.util.Locale.ROOT);
            case "title": return jinjaTitle(str(v));
            case "capitalize": return method(str(v), "capitalize").call(List.of(), Map.of());
            case "string": return str(v);
            case "safe", "e", "escape": return str(v); // chat templates render without autoescaping
            case "length", "count": return (long) length(v, line);
            case "first": {
                List<Object> items = iterate(v, line);
                return items.isEmpty() ? UNDEFINED : items.get(0);
            }
            case "last": {
                List<Object> items = iterate(v, line);
                return items.isEmpty() ? UNDEFINED : items.get(items.size() - 1);
            }
            case "list": return iterate(v, line);
            case "reverse": {
                if (v instanceof String s) return new StringBuilder(s).reverse().toString();
                List<Object> items = iterate(v, line);
                java.util.Collections.reverse(items);
                return items;
            }
            case "join": {
                Object attribute = arg(args, kw, 1, "attribute", null);
                StringBuilder b = new StringBuilder();
                String sep = str(arg(args, kw, 0, "d", ""));
                List<Object> items = iterate(v, line);
                for (int i = 0; i < items.size(); i++) {
                    Object item = attribute == null ? items.get(i) : lookup(items.get(i), attribute);
                    b.append(i == 0 ? "" : sep).append(str(item));
                }
                return b.toString();
            }
            case "default", "d": {
                boolean whenFalse = truthy(arg(args, kw, 1, "boolean", false));
                return v == UNDEFINED || (whenFalse && !truthy(v)) ? arg(args, kw, 0, "default_value", "") : v;
            }
            case "replace": {
                String s = str(v);
                return replace(s, str(args.get(0)), str(args.get(1)), args.size() > 2 ? asLong(args.get(2), line) : -1);
            }
            case "int": {
                try {
                    return v instanceof Double d ? (long) (double) d : v instanceof Long l ? l : v instanceof Boolean b ? (b ? 1L : 0L) : Long.parseLong(str(v).strip());
                } catch (NumberFormatException e) {
                    try { // as Jinja: int(float(value)) when int(value) fails
                        return (long) Double.parseDouble(str(v).strip());
                    } catch (NumberFormatException notFloat) {
                        return arg(args, kw, 0, "default", 0L);
                    }
                }
            }
            case "float": {
                try {
                    return v instanceof Number n ? n.doubleValue() : Double.parseDouble(str(v).strip());
                } catch (NumberFormatException e) {
                    return arg(args, kw, 0, "default", 0.0);
                }
            }
            case "abs": return v instanceof Long l ? (Object) Math.abs(l) : Math.abs(((Number) v).doubleValue());
            case "items": {
                if (v == UNDEFINED) return List.of();
                if (!(v instanceof Map<?, ?> m)) throw new TemplateException("line " + line + ": items needs a dict, got " + typeName(v));
                return pairs(m);
            }
            case "tojson": return toJson(v, arg(args, kw, 1, "indent", null), truthy(arg(args, kw, 0, "ensure_ascii", false)),
                    arg(args, kw, 2, "separators", null), truthy(arg(args, kw, 3, "sort_keys", false)), line);
            case "indent": return indent(str(v), arg(args, kw, 0, "width", 4L), truthy(arg(args, kw, 1, "first", false)),
                    truthy(arg(args, kw, 2, "blank", false)), line);
            case "format": return percentFormat(str(v), args.size() == 1 ? args.get(0) : new JinjaTemplate.Tuple(args));
            case "sum": {
                Object total = arg(args, kw, 1, "start", 0L);
                Object attribute = arg(args, kw, 0, "attribute", null);
                for (Object item : iterate(v, line)) total = add(total, attribute == null ? item : lookup(item, attribute), line);
                return total;
            }
            case "min", "max": {
                List<Object> items = iterate(v, line);
                if (items.isEmpty()) return UNDEFINED;
                Object best = items.get(0);
                for (Object item : items) {
                    int c = JinjaTemplate.order(sortKey(item, kw), sortKey(best, kw), line);
                    if (name.equals("min") ? c < 0 : c > 0) best = item;
                }
                return best;
            }
            case "sort": {
                List<Object> items = iterate(v, line);
                boolean reverse = truthy(arg(args, kw, 0, "reverse", false));
                Object attribute = arg(args, kw, 2, "attribute", null);
                items.sort((a, b) -> JinjaTemplate.order(sortKey(attribute == null ? a : lookup(a, attribute), kw),
                        sortKey(attribute == null ? b : lookup(b, attribute), kw), line));
                if (reverse) java.util.Collections.reverse(items);
                return items;
            }
            case "dictsort": {
                if (!(v instanceof Map<?, ?> m)) throw new TemplateException("line " + line + ": dictsort needs a dict, got " + typeName(v));
                boolean byValue = "value".equals(arg(args, kw, 1, "by", "key"));
                List<Object> items = pairs(m);
                items.sort((a, b) -> JinjaTemplate.order(sortKey(((List<?>) a).get(byValue ? 1 : 0), kw), sortKey(((List<?>) b).get(byValue ? 1 : 0), kw), line));
                if (truthy(arg(args, kw, 2, "reverse", false))) java.util.Collections.reverse(items);
                return items;
            }
            case "selectattr", "rejectattr": {
                boolean keep = name.equals("selectattr");
                List<Object> out = new ArrayList<>();
                for (Object item : iterate(v, line)) {
                    Object value = lookup(item, args.get(0));
                    boolean passes = args.size() > 1 ? test(str(args.get(1)), value, args.subList(2, args.size()), line) : truthy(value);
                    if (passes == keep) out.add(item);
                }
                return out;
            }
            case "select", "reject": {
                boolean keep = name.equals("select");
                List<Object> out = new ArrayList<>();
                for (Object item : iterate(v, line)) {
                    boolean passes = args.isEmpty() ? truthy(item) : test(str(args.get(0)), item, args.subList(1, args.size()), line);
                    if (passes == keep) out.add(item);
                }
                return out;
            }
            case "map": {
                List<Object> out = new ArrayList<>();
                Object attribute = kw.get("attribute");
                for (Object item : iterate(v, line)) {
                    if (attribute != null) {
                        Object value = lookup(item, attribute);
                        out.add(value == UNDEFINED && kw.containsKey("default") ? kw.get("default") : value);
                    } else {
                        out.add(filter(str(args.get(0)), item, args.subList(1, args.size()), Map.of(), line));
                    }
                }
                return out;
            }
            case "unique": {
                List<Object> out = new ArrayList<>(), seen = new ArrayList<>();
                for (Object item : iterate(v, line)) {
                    Object key = sortKey(item, kw);
                    if (seen.stream().noneMatch(o -> pyEquals(o, key))) {
                        seen.add(key);
                        out.add(item);
                    }
                }
                return out;
            }
            default: throw new TemplateException("line " + line + ": unsupported filter '" + name + "'");
        }
    }

    static boolean test(String name, Object v, List<Object> args, int line) {
        switch (name) {
            case "defined": return v != UNDEFINED;
            case "undefined": return v == UNDEFINED;
            case "none": return v == null;
            case "string": return v instanceof String;
            case "number": return v instanceof Long || v instanceof Double || v instanceof Boolean; // Python's bool is an int
            case "integer": return v instanceof Long;
            case "float": return v instanceof Double;
            case "boolean": return v instanceof Boolean;
            case "true": return Boolean.TRUE.equals(v);
            case "false": return Boolean.FALSE.equals(v);
            case "mapping": return v instanceof Map;
            case "sequence": return v instanceof List || v instanceof String || v instanceof Map;
            case "iterable": return v instanceof List || v instanceof String || v instanceof Map;
            case "callable": return v instanceof Function;
            case "odd": return asLong(v, line) % 2 != 0;
            case "even": return asLong(v, line) % 2 == 0;
            case "divisibleby": return asLong(v, line) % asLong(args.get(0), line) == 0;
            case "eq", "equalto", "==", "sameas": return pyEquals(v, args.get(0));
            case "ne", "!=": return !pyEquals(v, args.get(0));
            case "in": return JinjaTemplate.contains(args.get(0), v);
            case "lower": return v instanceof String s && s.equals(s.toLowerCase(java.util.Locale.ROOT)) && !s.equals(s.toUpperCase(java.util.Locale.ROOT));
            case "upper": return v instanceof String s && s.equals(s.toUpperCase(java.util.Locale.ROOT)) && !s.equals(s.toLowerCase(java.util.Locale.ROOT));
            case "gt", ">", "greaterthan": return JinjaTemplate.order(v, args.get(0), line) > 0;
            case "ge", ">=": return JinjaTemplate.order(v, args.get(0), line) >= 0;
            case "lt", "<", "lessthan": return JinjaTemplate.order(v, args.get(0), line) < 0;
            case "le", "<=": return JinjaTemplate.order(v, args.get(0), line) <= 0;
            default: throw new TemplateException("line " + line + ": unsupported test '" + name + "'");
        }
    }

    /** A bound method of a string or dict, or null when {@code v} has no method of that name. */
    static Function method(Object v, String name) {
        if (v instanceof String s) {
            return switch (name) {
                case "strip" -> (a, kw) -> strip(s, arg(a, kw, 0, "chars", null), true, true);
                case "lstrip" -> (a, kw) -> strip(s, arg(a, kw, 0, "chars", null), true, false);
                case "rstrip" -> (a, kw) -> strip(s, arg(a, kw, 0, "chars", null), false, true);
                case "upper" -> (a, kw) -> s.toUpperCase(java.util.Locale.ROOT);
                case "lower" -> (a, kw) -> s.toLowerCase(java.util.Locale.ROOT);
                case "title" -> (a, kw) -> title(s);
                case "startswith" -> (a, kw) -> affix(s, a.get(0), true);
                case "endswith" -> (a, kw) -> affix(s, a.get(0), false);
                case "split" -> (a, kw) -> split(s, arg(a, kw, 0, "sep", null), asLong(arg(a, kw, 1, "maxsplit", -1L), 0));
                case "rsplit" -> (a, kw) -> {
                    long max = asLong(arg(a, kw, 1, "maxsplit", -1L), 0);
                    if (max < 0) return split(s, arg(a, kw, 0, "sep", null), -1);
                    Object sep = arg(a, kw, 0, "sep", null);
                    List<Object> reversed = split(new StringBuilder(s).reverse().toString(), sep == null ? null : new StringBuilder(str(sep)).reverse().toString(), max);
                    List<Object> out = new ArrayList<>();
                    for (int i = reversed.size() - 1; i >= 0; i--) out.add(new StringBuilder((String) reversed.get(i)).reverse().toString());
                    return out;
                };
                case "splitlines" -> (a, kw) -> {
                    List<Object> out = new ArrayList<>(List.of(s.split("\\r\\n|[\\n\\r\\u000b\\f\\u001c\\u001d\\u001e\\u0085\\u2028\\u2029]", -1)));
                    if (!out.isEmpty() && out.get(out.size() - 1).equals("")) out.remove(out.size() - 1);
                    return out;
                };
                case "format" -> (a, kw) -> braceFormat(s, a, kw);
                case "capitalize" -> (a, kw) -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT) + s.substring(1).toLowerCase(java.util.Locale.ROOT);
                case "replace" -> (a, kw) -> replace(s, str(a.get(0)), str(a.get(1)), a.size() > 2 ? asLong(a.get(2), 0) : -1);
                case "find" -> (a, kw) -> (long) s.indexOf(str(a.get(0)));
                case "count" -> (a, kw) -> count(s, str(a.get(0)));
                case "join" -> (a, kw) -> {
                    StringBuilder b = new StringBuilder();
                    List<Object> items = iterate(a.get(0), 0);
                    for (int i = 0; i < items.size(); i++) b.append(i == 0 ? "" : s).append(str(items.get(i)));
                    return b.toString();
                };
                case "isdigit" -> (a, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
                case "isspace" -> (a, kw) -> !s.isEmpty() && s.chars().allMatch(JinjaBuiltins::isSpace);
                default -> null;
            };
        }
        if (v instanceof Map<?, ?> m && !(v instanceof JinjaTemplate.Namespace)) {
            return switch (name) {
                case "items" -> (a, kw) -> pairs(m);
                case "keys" -> (a, kw) -> new ArrayList<Object>(m.keySet());
                case "values" -> (a, kw) -> new ArrayList<Object>(m.values());
                case "get" -> (a, kw) -> m.containsKey(a.get(0)) ? m.get(a.get(0)) : a.size() > 1 ? a.get(1) : null;
                default -> null;
            };
        }
        return null;
    }

    /** The globals every chat template may call besides transformers' own (raise_exception, strftime_now); stateless, built once. */
    static final Map<String, Object> GLOBALS = java.util.Collections.unmodifiableMap(globals());

    private static Map<String, Object> globals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("range", (Function) (a, kw) -> {
            long start = a.size() > 1 ? asLong(a.get(0), 0) : 0, stop = asLong(a.get(a.size() > 1 ? 1 : 0), 0), step = a.size() > 2 ? asLong(a.get(2), 0) : 1;
            List<Object> out = new ArrayList<>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) out.add(i);
            return out;
        });
        g.put("namespace", (Function) (a, kw) -> {
            JinjaTemplate.Namespace ns = new JinjaTemplate.Namespace();
            ns.putAll(kw);
            return ns;
        });
        g.put("dict", (Function) (a, kw) -> new LinkedHashMap<Object, Object>(kw));
        return g;
    }

    private static Object arg(List<Object> args, Map<String, Object> kw, int position, String name, Object otherwise) {
        if (position < args.size()) return args.get(position);
        return kw.getOrDefault(name, otherwise);
    }

    private static Object lookup(Object item, Object attribute) {
        Object value = item;
        for (String part : str(attribute).split("\\.")) {
            value = value instanceof Map<?, ?> m ? (m.containsKey(part) ? m.get(part) : UNDEFINED) : UNDEFINED;
        }
        return value;
    }

    private static List<Object> pairs(Map<?, ?> m) {
        List<Object> out = new ArrayList<>();
        for (var e : m.entrySet()) out.add(new JinjaTemplate.Tuple(java.util.Arrays.asList(e.getKey(), e.getValue())));
        return out;
    }

    /** What sort, min, max and unique compare: strings lower-cased unless case_sensitive=true, as Jinja does. */
    private static Object sortKey(Object v, Map<String, Object> kw) {
        return v instanceof String s && !truthy(kw.getOrDefault("case_sensitive", false)) ? s.toLowerCase(java.util.Locale.ROOT) : v;
    }

    private static Object add(Object a, Object b, int line) {
        if (a instanceof Long x && b instanceof Long y) return Math.addExact(x, y);
        if ((a instanceof Long || a instanceof Double) && (b instanceof Long || b instanceof Double)) return ((Number) a).doubleValue() + ((Number) b).doubleValue();
        throw new TemplateException("line " + line + ": cannot sum " + typeName(a) + " and " + typeName(b));
    }

    /** Python's {@code format % args} for %s, %r, %d, %i, %f and %%. */
    static String percentFormat(String format, Object args) {
        List<?> values = args instanceof JinjaTemplate.Tuple t ? t : List.of(args);
        StringBuilder b = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%') {
                b.append(c);
                continue;
            }
            if (++i == format.length()) throw new TemplateException("incomplete format");
            char d = format.charAt(i);
            if (d == '%') {
                b.append('%');
                continue;
            }
            if (next >= values.size()) throw new TemplateException("not enough arguments for format string");
            Object v = values.get(next++);
            switch (d) {
                case 's' -> b.append(str(v));
                case 'r' -> b.append(JinjaTemplate.repr(v));
                case 'd', 'i' -> b.append(v instanceof Double x ? (long) (double) x : asLong(v, 0));
                case 'f' -> b.append(String.format(java.util.Locale.ROOT, "%.6f", ((Number) v).doubleValue()));
                default -> throw new TemplateException("unsupported format character '" + d + "'");
            }
        }
        if (next < values.size()) throw new TemplateException("not all arguments converted during string formatting");
        return b.toString();
    }

    /** Python's str.format for {}, {0} and {name} fields (no format specs), and {{ }}. */
    private static String braceFormat(String format, List<Object> args, Map<String, Object> kw) {
        StringBuilder b = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if ((c == '{' || c == '}') && i + 1 < format.length() && format.charAt(i + 1) == c) {
                b.append(c);
                i++;
            } else if (c == '{') {
                int close = format.indexOf('}', i);
                if (close < 0) throw new TemplateException("unmatched '{' in format string");
                String field = format.substring(i + 1, close);
                if (field.contains(":") || field.contains("!")) throw new TemplateException("unsupported format field {" + field + "}");
                Object v = field.isEmpty() ? args.get(auto++) : field.chars().allMatch(Character::isDigit) ? args.get(Integer.parseInt(field)) : kw.get(field);
                if (v == null && !field.isEmpty() && !field.chars().allMatch(Character::isDigit) && !kw.containsKey(field)) {
                    throw new TemplateException("no argument '" + field + "' for format string");
                }
                b.append(str(v));
                i = close;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Jinja's title filter: each word's first character upper-cased, the rest lower; words begin after spaces, '-', '(', '{', '[' and '<'. */
    private static String jinjaTitle(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean wordStart = true;
        for (char c : s.toCharArray()) {
            boolean separator = isSpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
            b.append(separator ? c : wordStart ? Character.toUpperCase(c) : Character.toLowerCase(c));
            wordStart = separator;
        }
        return b.toString();
    }

    private static int length(Object v, int line) {
        if (v instanceof String s) return s.codePointCount(0, s.length());
        if (v instanceof List<?> l) return l.size();
        if (v instanceof Map<?, ?> m) return m.size();
        if (v == UNDEFINED) return 0;
        throw new TemplateException("line " + line + ": " + typeName(v) + " has no length");
    }

    /** Python's str.isspace for one character. */
    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
    }

    static String strip(String s, Object chars, boolean leading, boolean trailing) {
        String set = chars == null ? null : str(chars);
        int from = 0, to = s.length();
        while (leading && from < to && (set == null ? isSpace(s.charAt(from)) : set.indexOf(s.charAt(from)) >= 0)) from++;
        while (trailing && to > from && (set == null ? isSpace(s.charAt(to - 1)) : set.indexOf(s.charAt(to - 1)) >= 0)) to--;
        return s.substring(from, to);
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean previousCased = false;
        for (char c : s.toCharArray()) {
            b.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return b.toString();
    }

    private static boolean affix(String s, Object affix, boolean prefix) {
        if (affix instanceof List<?> options) {
            for (Object o : options) if (affix(s, o, prefix)) return true;
            return false;
        }
        return prefix ? s.startsWith(str(affix)) : s.endsWith(str(affix));
    }

    private static List<Object> split(String s, Object sep, long maxSplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0, n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i == n) break;
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        String by = str(sep);
        if (by.isEmpty()) throw new TemplateException("empty separator");
        int from = 0;
        for (int at = s.indexOf(by); at >= 0 && (maxSplit < 0 || out.size() < maxSplit); at = s.indexOf(by, from)) {
            out.add(s.substring(from, at));
            from = at + by.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static String replace(String s, String old, String replacement, long count) {
        if (count < 0) return s.replace(old, replacement);
        StringBuilder b = new StringBuilder();
        int from = 0;
        for (long done = 0; done < count; done++) {
            int at = s.indexOf(old, from);
            if (at < 0) break;
            b.append(s, from, at).append(replacement);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from >= s.length()) break;
                b.append(s.charAt(from++));
            }
        }
        return b.append(s.substring(from)).toString();
    }

    private static long count(String s, String part) {
        if (part.isEmpty()) return s.length() + 1;
        long n = 0;
        for (int at = s.indexOf(part); at >= 0; at = s.indexOf(part, at + part.length())) n++;
        return n;
    }

    /** Jinja's indent: lines after the first (and the first with {@code first}) prefixed, empty ones only with {@code blank}. */
    private static String indent(String s, Object width, boolean first, boolean blank, int line) {
        String pad = width instanceof String w ? w : " ".repeat((int) asLong(width, line));
        @SuppressWarnings("unchecked")
        List<Object> lines = (List<Object>) method(s + "\n", "splitlines").call(List.of(), Map.of());
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines.size(); i++) {
            String l = (String) lines.get(i);
            if (i > 0) b.append('\n').append(blank || !l.isEmpty() ? pad : "");
            b.append(l);
        }
        return (first ? pad : "") + b;
    }

    /** Python's json.dumps(v) as transformers' tojson calls it: ensure_ascii false, ", " and ": " between items ("," when indented). */
    static String toJson(Object v, Object indent, int line) {
        return toJson(v, indent, false, null, false, line);
    }

    static String toJson(Object v, Object indent, boolean ensureAscii, Object separators, boolean sortKeys, int line) {
        String pad = indent == null ? null : indent instanceof String p ? p : " ".repeat((int) asLong(indent, line));
        String item = pad == null ? ", " : ",", key = ": ";
        if (separators != null) {
            List<Object> pair = iterate(separators, line);
            item = str(pair.get(0));
            key = str(pair.get(1));
        }
        StringBuilder b = new StringBuilder();
        json(v, new JsonStyle(pad, item, key, ensureAscii, sortKeys), "", b, line);
        return b.toString();
    }

    private record JsonStyle(String indent, String item, String key, boolean ensureAscii, boolean sortKeys) { }

    private static void json(Object v, JsonStyle style, String current, StringBuilder b, int line) {
        String indent = style.indent();
        if (v == UNDEFINED) throw new TemplateException("line " + line + ": an undefined value is not JSON serializable");
        if (v == null) {
            b.append("null");
        } else if (v instanceof Boolean x) {
            b.append(x ? "true" : "false");
        } else if (v instanceof Long x) {
            b.append(x);
        } else if (v instanceof Double x) {
            b.append(Double.isNaN(x) ? "NaN" : Double.isInfinite(x) ? (x > 0 ? "Infinity" : "-Infinity") : JinjaTemplate.pythonFloat(x));
        } else if (v instanceof String s) {
            b.append('"');
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    case '\b' -> b.append("\\b");
                    case '\f' -> b.append("\\f");
                    default -> {
                        if (c < 0x20 || (style.ensureAscii() && c > 0x7e)) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                    }
                }
            }
            b.append('"');
        } else if (v instanceof List<?> || v instanceof Map<?, ?>) {
            boolean isMap = v instanceof Map;
            List<?> entries = isMap ? new ArrayList<>(((Map<?, ?>) v).entrySet()) : (List<?>) v;
            if (isMap && style.sortKeys()) {
                List<Map.Entry<?, ?>> sorted = new ArrayList<>(((Map<?, ?>) v).entrySet());
                sorted.sort((x, y) -> JinjaTemplate.order(x.getKey(), y.getKey(), line));
                entries = sorted;
            }
            b.append(isMap ? '{' : '[');
            if (entries.isEmpty()) {
                b.append(isMap ? '}' : ']');
                return;
            }
            String inner = indent == null ? null : current + indent;
            for (int i = 0; i < entries.size(); i++) {
                if (i > 0) b.append(style.item());
                if (indent != null) b.append('\n').append(inner);
                Object item = entries.get(i);
                if (isMap) {
                    Map.Entry<?, ?> e = (Map.Entry<?, ?>) item;
                    json(e.getKey() instanceof String ? e.getKey() : str(e.getKey()), style, "", b, line);
                    b.append(style.key());
                    json(e.getValue(), style, inner, b, line);
                } else {
                    json(item, style, inner, b, line);
                }
            }
            if (indent != null) b.append('\n').append(current);
            b.append(isMap ? '}' : ']');
        } else {
            throw new TemplateException("line " + line + ": " + typeName(v) + " is not JSON serializable");
        }
    }
}
