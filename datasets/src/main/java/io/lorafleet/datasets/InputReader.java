package io.lorafleet.datasets;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import io.lorafleet.datasets.DatasetSpec.Format;
import io.lorafleet.datasets.DatasetSpec.TaskSpec;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Reads one input file row by row into {@link SourceRecord}s, in file order. A row that cannot be read
 * (invalid UTF-8, malformed JSON or CSV, a field of the wrong type) becomes a bad record with its line;
 * a file whose header or schema lacks a configured field fails as a whole, naming the file.
 */
public final class InputReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A JSON file is one value: anything after it is an error, not silently ignored. */
    private static final com.fasterxml.jackson.databind.ObjectReader WHOLE_FILE = JSON.reader()
            .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final CsvMapper CSV = new CsvMapper();

    private InputReader() { }

    /** @return the blank lines skipped (they hold no row, and are counted so that every line is accounted for) */
    public static long read(SourceFile file, TaskSpec task, Consumer<SourceRecord> out) throws IOException {
        return read(file, ByteRange.WHOLE, task, out);
    }

    /** Reads one range of a JSONL or text file ({@link #splittable}); other formats only whole. Returns the blank lines skipped. */
    public static long read(SourceFile file, ByteRange range, TaskSpec task, Consumer<SourceRecord> out) throws IOException {
        if (!range.whole() && !splittable(task.format())) throw new IllegalArgumentException(task.format() + " files are read whole");
        long[] blank = {0};
        switch (task.format()) {
            case JSONL -> readLines(file, range, (line, text) -> {
                if (text.isBlank()) blank[0]++;
                else out.accept(fromJson(file.name(), line, text, task));
            }, out);
            case TEXT -> readLines(file, range, (line, text) -> {
                if (text.isBlank()) blank[0]++;
                else out.accept(new SourceRecord(file.name(), line, task.adapterId(), text, null, null, null, null, null, null, null, null));
            }, out);
            case JSON -> readJson(file, task, out);
            case CSV, TSV -> blank[0] = readDelimited(file, task, out);
            case PARQUET -> readParquet(file, task, out);
        }
        return blank[0];
    }

    private interface LineHandler {
        void accept(long line, String text) throws IOException;
    }

    /**
     * Whether files of this format can be cut into byte ranges: a record is one line. (CSV records may span
     * lines and TSV needs its header; Parquet is read per file.)
     */
    public static boolean splittable(Format format) {
        return format == Format.JSONL || format == Format.TEXT;
    }

    /** How many lines start in [start, end) — what the ranges before a range need to number its lines. */
    public static long countLineStarts(SourceFile file, long start, long end) throws IOException {
        long count = start == 0 ? 1 : 0;
        long from = Math.max(0, start - 1); // a '\n' at q starts a line at q + 1
        try (InputStream in = file.open(from)) {
            byte[] chunk = new byte[1 << 16];
            long pos = from;
            int n;
            while (pos < end - 1 && (n = in.read(chunk, 0, (int) Math.min(chunk.length, end - 1 - pos))) > 0) {
                for (int i = 0; i < n; i++) if (chunk[i] == '\n') count++;
                pos += n;
            }
        }
        return count;
    }

    /** Splits on '\n' at the byte level, so one line of invalid UTF-8 costs that line only. */
    private static void readLines(SourceFile file, ByteRange range, LineHandler handler, Consumer<SourceRecord> out) throws IOException {
        boolean skipping = range.start() > 0; // the line crossing start belongs to the range before
        long pos = skipping ? range.start() - 1 : 0;
        long lineStart = range.start();
        long line = range.firstLine() - 1;
        try (InputStream in = range.whole() ? file.open() : file.open(pos)) {
            byte[] chunk = new byte[1 << 16];
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            int n;
            while (lineStart < range.end() && (n = in.read(chunk)) >= 0) {
                int from = 0;
                for (int i = 0; i < n && lineStart < range.end(); i++, pos++) {
                    if (chunk[i] != '\n') continue;
                    if (skipping) {
                        skipping = false;
                    } else {
                        pending.write(chunk, from, i - from);
                        emitLine(file, pending.toByteArray(), ++line, handler, out);
                        pending.reset();
                    }
                    from = i + 1;
                    lineStart = pos + 1;
                }
                if (!skipping && lineStart < range.end()) pending.write(chunk, from, n - from);
            }
            if (!skipping && pending.size() > 0 && lineStart < range.end()) emitLine(file, pending.toByteArray(), ++line, handler, out);
        }
    }

    private static void emitLine(SourceFile file, byte[] bytes, long line, LineHandler handler, Consumer<SourceRecord> out) throws IOException {
        boolean bom = line == 1 && bytes.length >= 3 && (bytes[0] & 0xFF) == 0xEF && (bytes[1] & 0xFF) == 0xBB && (bytes[2] & 0xFF) == 0xBF;
        int start = bom ? 3 : 0;
        int end = bytes.length > start && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        ByteBuffer in = ByteBuffer.wrap(bytes, start, end - start);
        CharBuffer text = CharBuffer.allocate(end - start);
        CoderResult result = strictUtf8().decode(in, text, true);
        if (result.isError()) {
            out.accept(SourceRecord.bad(file.name(), line, BadRow.INVALID_UTF8, "invalid UTF-8 at byte " + (in.position() - start) + " of the line",
                    new String(bytes, start, end - start, StandardCharsets.UTF_8)));
            return;
        }
        handler.accept(line, text.flip().toString());
    }

    /** A UTF-8 decoder that reports invalid bytes instead of replacing them: a bad row is quarantined, never altered. */
    private static java.nio.charset.CharsetDecoder strictUtf8() {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    private static SourceRecord fromJson(String source, long line, String text, TaskSpec task) {
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            return SourceRecord.bad(source, line, BadRow.MALFORMED_JSON, e.getOriginalMessage(), text);
        }
        if (node == null || !node.isObject()) return SourceRecord.bad(source, line, BadRow.NOT_AN_OBJECT, "a JSON line must be an object", text);
        return fromObject(source, line, node, task, text);
    }

    /**
     * A whole file holding one JSON object (one row) or an array of objects (a row each, numbered from 1 as
     * {@code line}); what many small files (one e-mail, one document each) usually are. The file is read into
     * memory: a large file of many rows belongs in JSON Lines, which is read in ranges by several tasks.
     */
    private static void readJson(SourceFile file, TaskSpec task, Consumer<SourceRecord> out) throws IOException {
        byte[] bytes;
        try (InputStream in = file.open()) {
            bytes = in.readAllBytes();
        }
        String text;
        try {
            text = strictUtf8().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            out.accept(SourceRecord.bad(file.name(), 1, BadRow.INVALID_UTF8, "invalid UTF-8 in the file", new String(bytes, StandardCharsets.UTF_8)));
            return;
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);
        JsonNode node;
        try {
            node = WHOLE_FILE.readTree(text);
        } catch (JsonProcessingException e) {
            String hint = e instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException && e.getOriginalMessage().contains("Trailing token")
                    ? " (more than one JSON value in the file: JSON Lines? use format: jsonl)" : "";
            out.accept(SourceRecord.bad(file.name(), 1, BadRow.MALFORMED_JSON, e.getOriginalMessage() + hint, text));
            return;
        }
        if (node != null && node.isObject()) {
            out.accept(fromObject(file.name(), 1, node, task, text));
            return;
        }
        if (node == null || !node.isArray()) {
            out.accept(SourceRecord.bad(file.name(), 1, BadRow.NOT_AN_OBJECT, "a JSON file must hold an object or an array of objects", text));
            return;
        }
        for (int i = 0; i < node.size(); i++) {
            JsonNode element = node.get(i);
            out.accept(element.isObject() ? fromObject(file.name(), i + 1, element, task, element.toString())
                    : SourceRecord.bad(file.name(), i + 1, BadRow.NOT_AN_OBJECT, "element " + (i + 1) + " of the array is not an object", element.toString()));
        }
    }

    private static SourceRecord fromObject(String source, long line, JsonNode node, TaskSpec task, String raw) {
        Map<String, Object> fields = new HashMap<>();
        node.fields().forEachRemaining(e -> fields.put(e.getKey(), e.getValue().isNull() ? null
                : e.getValue().isTextual() ? e.getValue().asText() : e.getValue().isIntegralNumber() ? (Object) e.getValue().asLong()
                : e.getValue().isArray() && e.getKey().equals(task.messages()) ? e.getValue().toString()
                : new WrongType(e.getValue().getNodeType().name().toLowerCase(java.util.Locale.ROOT))));
        return record(source, line, fields, task, raw);
    }

    /** A field value that is neither text nor an integer. */
    private record WrongType(String kind) { }

    private static SourceRecord record(String source, long line, Map<String, ?> fields, TaskSpec task, String raw) {
        Map<String, String> values = new HashMap<>();
        for (String name : task.fields()) {
            Object v = fields.get(name);
            boolean textOnly = !name.equals(task.label()); // a label may be an integer class id; everything else must be text
            if (v instanceof WrongType || (textOnly && v instanceof Long)) {
                String kind = v instanceof WrongType w ? w.kind() : "number";
                String expected = name.equals(task.messages()) ? "an array of {role, content} (or a string of its JSON)"
                        : textOnly ? "a string" : "a string or an integer";
                return SourceRecord.bad(source, line, BadRow.WRONG_TYPE, "field '" + name + "' must be " + expected + ", is a " + kind, raw);
            }
            values.put(name, v == null ? null : v.toString());
        }
        String text = values.get(task.prompt() != null ? task.prompt() : task.text());
        if (task.template() != null) {
            for (String name : task.template().fields()) {
                if (values.get(name) == null) return SourceRecord.bad(source, line, BadRow.MISSING_TEXT, "no field '" + name + "' (used by the template)", raw);
            }
            text = task.template().render(values);
        }
        String adapter = task.adapterId() != null ? task.adapterId() : values.get(task.adapterIdField());
        return new SourceRecord(source, line, adapter, text, values.get(task.textPair()), values.get(task.label()), values.get(task.splitField()),
                values.get(task.response()), values.get(task.messages()), null, null, SourceRecord.clip(raw));
    }

    private static long readDelimited(SourceFile file, TaskSpec task, Consumer<SourceRecord> out) throws IOException {
        long[] blank = {0};
        boolean csv = task.format() == Format.CSV;
        CsvSchema schema = csv ? CsvSchema.emptySchema().withColumnSeparator(',').withQuoteChar('"')
                : CsvSchema.emptySchema().withColumnSeparator('\t').withoutQuoteChar().withoutEscapeChar();
        var reader = CSV.readerFor(String[].class).with(schema);
        String[][] header = new String[1][];
        long[] recordStart = {0};
        StringBuilder record = new StringBuilder();
        readLines(file, ByteRange.WHOLE, (line, text) -> {
            if (record.isEmpty()) recordStart[0] = line;
            else record.append('\n');
            record.append(text);
            if (csv && quoteCount(record) % 2 != 0) return; // a quoted field continues on the next line
            String logical = record.toString();
            record.setLength(0);
            if (logical.isBlank()) {
                blank[0]++;
                return;
            }
            String[] cells;
            try {
                cells = reader.readValue(logical);
            } catch (IOException e) {
                if (header[0] == null) throw new IOException(file.name() + ": cannot read the header line: " + e.getMessage().lines().findFirst().orElse(""));
                out.accept(SourceRecord.bad(file.name(), recordStart[0], BadRow.MALFORMED_CSV, e.getMessage().lines().findFirst().orElse(""), logical));
                return;
            }
            if (header[0] == null) {
                header[0] = cells;
                checkColumns(file, task, List.of(cells));
                return;
            }
            if (cells.length != header[0].length) {
                out.accept(SourceRecord.bad(file.name(), recordStart[0], BadRow.MALFORMED_CSV,
                        "expected " + header[0].length + " columns, found " + cells.length, logical));
                return;
            }
            Map<String, String> fields = new HashMap<>();
            for (int i = 0; i < cells.length; i++) fields.put(header[0][i], cells[i]);
            out.accept(record(file.name(), recordStart[0], fields, task, logical));
        }, out);
        if (!record.isEmpty()) {
            out.accept(SourceRecord.bad(file.name(), recordStart[0], BadRow.MALFORMED_CSV, "quoted field not closed before the end of the file", record.toString()));
        }
        return blank[0];
    }

    private static int quoteCount(CharSequence s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) if (s.charAt(i) == '"') n++;
        return n;
    }

    private static void checkColumns(SourceFile file, TaskSpec task, List<String> columns) throws IOException {
        for (String field : task.fields()) {
            if (!columns.contains(field)) {
                throw new IOException(file.name() + ": no column '" + field + "' (columns: " + String.join(", ", columns) + ")");
            }
        }
    }

    private static void readParquet(SourceFile file, TaskSpec task, Consumer<SourceRecord> out) throws IOException {
        try (ParquetFileReader reader = ParquetFileReader.open(file.parquet())) {
            MessageType schema = reader.getFooter().getFileMetaData().getSchema();
            checkColumns(file, task, schema.getFields().stream().map(org.apache.parquet.schema.Type::getName).toList());
            long row = 0;
            PageReadStore pages;
            while ((pages = reader.readNextRowGroup()) != null) {
                RecordReader<Group> records = new ColumnIOFactory().getColumnIO(schema).getRecordReader(pages, new GroupRecordConverter(schema));
                for (long i = 0; i < pages.getRowCount(); i++) {
                    Group g = records.read();
                    row++;
                    Map<String, Object> fields = new HashMap<>();
                    for (org.apache.parquet.schema.Type field : schema.getFields()) {
                        String name = field.getName();
                        if (g.getFieldRepetitionCount(name) == 0) continue;
                        if (!field.isPrimitive()) {
                            fields.put(name, new WrongType("nested value"));
                            continue;
                        }
                        PrimitiveType.PrimitiveTypeName type = field.asPrimitiveType().getPrimitiveTypeName();
                        fields.put(name, switch (type) {
                            case BINARY -> g.getString(name, 0);
                            case INT32 -> (long) g.getInteger(name, 0);
                            case INT64 -> g.getLong(name, 0);
                            default -> new WrongType(type.name().toLowerCase(java.util.Locale.ROOT));
                        });
                    }
                    out.accept(record(file.name(), row, fields, task, g.toString()));
                }
            }
        }
    }
}
