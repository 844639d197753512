package io.lorafleet.datasets;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each format read row by row: good rows with their line, bad rows with the reason and line, never a lost row. */
class InputReaderTest {
    @TempDir
    Path tmp;

    static DatasetSpec.TaskSpec task(DatasetSpec.Format format, String adapterField) {
        return new DatasetSpec.TaskSpec(adapterField == null ? "t" : null, adapterField, List.of("x"), format, "text", null, null, "label",
                List.of("neg", "pos"), null, null, null, null, null, null, null, null, null, null);
    }

    List<SourceRecord> read(byte[] content, String name, DatasetSpec.TaskSpec task) throws IOException {
        Path file = tmp.resolve(name);
        Files.write(file, content);
        List<SourceRecord> out = new ArrayList<>();
        InputReader.read(new LocalSourceFile(file), task, out::add);
        return out;
    }

    @Test
    void jsonlKeepsLineNumbersAndNamesEachProblem() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("{\"text\": \"fine\", \"label\": \"pos\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"text\": \"broken\", \n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes(new byte[] {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'});
        b.writeBytes("[1, 2]\r\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"text\": 5, \"label\": \"pos\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"text\": \"numeric label\", \"label\": 1}".getBytes(StandardCharsets.UTF_8));
        List<SourceRecord> r = read(b.toByteArray(), "in.jsonl", task(DatasetSpec.Format.JSONL, null));
        assertEquals(6, r.size());
        assertNull(r.get(0).problem());
        assertEquals("fine", r.get(0).text());
        assertEquals(1, r.get(0).line());
        assertEquals(BadRow.MALFORMED_JSON, r.get(1).problem());
        assertEquals(2, r.get(1).line());
        assertEquals(BadRow.INVALID_UTF8, r.get(2).problem());
        assertEquals("invalid UTF-8 at byte 9 of the line", r.get(2).detail());
        assertEquals(BadRow.NOT_AN_OBJECT, r.get(3).problem());
        assertEquals(BadRow.WRONG_TYPE, r.get(4).problem());
        assertEquals("1", r.get(5).label());
        assertEquals(6, r.get(5).line(), "a last line without a newline still counts");
    }

    @Test
    void aJsonFileIsOneObjectOrAnArrayOfObjects() throws IOException {
        DatasetSpec.TaskSpec json = task(DatasetSpec.Format.JSON, null);
        List<SourceRecord> one = read("{\n  \"text\": \"an e-mail\",\n  \"label\": \"pos\"\n}\n".getBytes(StandardCharsets.UTF_8), "one.json", json);
        assertEquals(1, one.size());
        assertEquals("an e-mail", one.get(0).text());
        assertEquals(1L, one.get(0).line());
        List<SourceRecord> array = read("[{\"text\": \"a\", \"label\": \"pos\"}, 7, {\"text\": \"c\", \"label\": 1}]".getBytes(StandardCharsets.UTF_8),
                "array.json", json);
        assertEquals(List.of(1L, 2L, 3L), array.stream().map(SourceRecord::line).toList());
        assertEquals(BadRow.NOT_AN_OBJECT, array.get(1).problem());
        assertEquals("1", array.get(2).label());
        assertEquals(BadRow.MALFORMED_JSON, read("{\"text\": ".getBytes(StandardCharsets.UTF_8), "cut.json", json).get(0).problem());
        assertEquals(BadRow.INVALID_UTF8, read(new byte[] {'{', '"', 't', '"', ':', '"', (byte) 0xFF, '"', '}'}, "bad.json", json).get(0).problem());
        List<SourceRecord> lines = read("{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": \"neg\"}\n".getBytes(StandardCharsets.UTF_8),
                "lines.json", json);
        assertEquals(1, lines.size(), "JSON Lines in a .json file: one bad record, not one row and a silently dropped rest");
        assertEquals(BadRow.MALFORMED_JSON, lines.get(0).problem());
        assertTrue(lines.get(0).detail().contains("use format: jsonl"), lines.get(0).detail());
        List<SourceRecord> bom = read(("\uFEFF{\"text\": \"from Windows\", \"label\": \"pos\"}").getBytes(StandardCharsets.UTF_8), "bom.json", json);
        assertEquals("from Windows", bom.get(0).text());
    }

    @Test
    void csvHandlesQuotedMultiLineFieldsAndReportsBadRows() throws IOException {
        String csv = String.join("\n", "text,label", "plain,pos", "\"with, comma and \"\"quotes\"\"\",neg", "\"two", "lines\",pos",
                "too,many,cells", "\"never closed,pos", "");
        List<SourceRecord> r = read(csv.getBytes(StandardCharsets.UTF_8), "in.csv", task(DatasetSpec.Format.CSV, null));
        assertEquals(5, r.size());
        assertEquals("plain", r.get(0).text());
        assertEquals(2, r.get(0).line());
        assertEquals("with, comma and \"quotes\"", r.get(1).text());
        assertEquals("two\nlines", r.get(2).text());
        assertEquals(4, r.get(2).line(), "a record's first line");
        assertEquals(BadRow.MALFORMED_CSV, r.get(3).problem());
        assertEquals(6, r.get(3).line());
        assertEquals(BadRow.MALFORMED_CSV, r.get(4).problem());
        assertEquals(7, r.get(4).line());
    }

    @Test
    void tsvAndAMissingColumnNamesTheFile() throws IOException {
        List<SourceRecord> r = read("text\tlabel\nsome \"quoted\" text\tneg\n".getBytes(StandardCharsets.UTF_8), "in.tsv", task(DatasetSpec.Format.TSV, null));
        assertEquals("some \"quoted\" text", r.get(0).text());
        IOException e = assertThrows(IOException.class, () -> read("body,label\nx,pos\n".getBytes(StandardCharsets.UTF_8), "nocol.csv",
                task(DatasetSpec.Format.CSV, null)));
        assertTrue(e.getMessage().contains("nocol.csv") && e.getMessage().contains("no column 'text'"), e.getMessage());
    }

    @Test
    void adapterIdsComeFromTheirField() throws IOException {
        List<SourceRecord> r = read("{\"text\": \"a\", \"label\": \"pos\", \"task\": \"../escape\"}\n".getBytes(StandardCharsets.UTF_8), "t.jsonl",
                task(DatasetSpec.Format.JSONL, "task"));
        assertEquals("../escape", r.get(0).adapterId(), "read as found; RowTokenizer refuses it");
        assertNull(DatasetSpec.safeName("../escape"));
        assertNull(DatasetSpec.safeName(".hidden"));
        assertEquals("task-7_b.v2", DatasetSpec.safeName("task-7_b.v2"));
    }

    @Test
    void byteRangesTogetherReadExactlyTheWholeFileWithTheSameLineNumbers() throws IOException {
        Path sample = Path.of("imdb/sample/imdb-sample.jsonl");
        StringBuilder edge = new StringBuilder();
        for (int i = 0; i < 300; i++) edge.append("{\"text\": \"").append("x".repeat(i % 17)).append("\", \"label\": \"pos\"}").append(i % 5 == 0 ? "\r\n" : "\n");
        edge.append("\n{\"text\": \"last, no newline\", \"label\": \"neg\"}");
        Path edges = tmp.resolve("edges.jsonl");
        Files.writeString(edges, edge);
        DatasetSpec.TaskSpec jsonl = task(DatasetSpec.Format.JSONL, null);
        DatasetSpec.TaskSpec text = new DatasetSpec.TaskSpec("t", null, List.of("x"), DatasetSpec.Format.TEXT, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null);
        for (DatasetSpec.TaskSpec task : List.of(jsonl, text)) {
            DatasetSpec.Format format = task.format();
            for (Path file : List.of(sample, edges)) {
                LocalSourceFile source = new LocalSourceFile(file);
                List<SourceRecord> whole = new ArrayList<>();
                long wholeBlank = InputReader.read(source, task, whole::add);
                long length = source.length();
                long[] sizes = file == edges ? new long[] {1, 7, 64, 1000, length} : new long[] {4096, 99_999, length};
                for (long size : sizes) {
                    List<SourceRecord> pieces = new ArrayList<>();
                    long firstLine = 1, blank = 0;
                    for (long start = 0; start < length; start += size) {
                        long end = Math.min(length, start + size);
                        blank += InputReader.read(source, new ByteRange(start, end, firstLine), task, pieces::add);
                        firstLine += InputReader.countLineStarts(source, start, end);
                    }
                    assertEquals(whole, pieces, format + " " + file + " in ranges of " + size + " bytes");
                    assertEquals(wholeBlank, blank, "blank lines counted once");
                }
            }
        }
    }
}
