package io.lorafleet.datasets;

import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A shard's bytes depend on its rows alone. parquet-java writes a column chunk's encodings in a HashSet's order,
 * which differs between JVMs, so one JVM cannot show the fault: what makes the bytes stable is that every chunk
 * has exactly one encoding, which this checks (LauncherIT compares hashes across separate JVMs).
 */
class ShardFormatTest {
    @Test
    void everyColumnChunkHasOneEncodingAndTheRowsReadBack(@TempDir Path tmp) throws Exception {
        List<ShardRow> rows = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < 3000; i++) {
            int[] ids = random.ints(1 + random.nextInt(128), 0, 30522).toArray();
            int[] spans = i % 3 == 0 && ids.length > 1 ? new int[] {1, ids.length} : null; // an instruction row's response
            rows.add(new ShardRow("imdb", "train", i, ids, new int[ids.length], random.nextInt(2), "reviews.jsonl", i + 1, spans));
        }
        Path first = tmp.resolve("a.parquet"), second = tmp.resolve("b.parquet");
        String hash = ShardFormat.write(new LocalOutputFile(first), rows);
        assertEquals(hash, ShardFormat.write(new LocalOutputFile(second), rows));
        assertEquals(hash, Sha256.of(java.nio.file.Files.readAllBytes(first)), "the returned hash is the file's");

        try (ParquetFileReader reader = ParquetFileReader.open(new LocalInputFile(first))) {
            for (BlockMetaData block : reader.getFooter().getBlocks()) {
                for (ColumnChunkMetaData column : block.getColumns()) {
                    assertEquals(1, column.getEncodings().size(), column.getPath() + " has encodings " + column.getEncodings());
                    assertEquals(org.apache.parquet.hadoop.metadata.CompressionCodecName.ZSTD, column.getCodec(), column.getPath().toString());
                }
            }
        }
        List<ShardRow> back = new ArrayList<>();
        ShardFormat.read(new LocalInputFile(first), back::add);
        assertEquals(rows.size(), back.size());
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(rows.get(i).rowId(), back.get(i).rowId());
            assertArrayEquals(rows.get(i).inputIds(), back.get(i).inputIds());
            assertEquals(rows.get(i).label(), back.get(i).label());
            assertArrayEquals(rows.get(i).lossSpans(), back.get(i).lossSpans());
        }
    }

    @Test
    void shardsWrittenBeforeLossSpansReadAsEveryTokenLearned(@TempDir Path tmp) throws Exception {
        org.apache.parquet.schema.MessageType old = org.apache.parquet.schema.MessageTypeParser.parseMessageType("""
                message shard_row {
                  required binary adapter_id (STRING);
                  required binary split (STRING);
                  required int64 row_id;
                  required group input_ids (LIST) { repeated group list { required int32 element; } }
                  required group token_type_ids (LIST) { repeated group list { required int32 element; } }
                  required int32 label;
                  required binary source (STRING);
                  required int64 line;
                }"""); // the shard schema until instruction rows
        assertEquals(ShardFormat.SCHEMA.getFieldCount() - 1, old.getFieldCount());
        Path file = tmp.resolve("old.parquet");
        try (var writer = org.apache.parquet.hadoop.example.ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(old).build()) {
            var g = new org.apache.parquet.example.data.simple.SimpleGroupFactory(old).newGroup().append("adapter_id", "a").append("split", "train").append("row_id", 0L);
            var ids = g.addGroup("input_ids");
            for (int v : new int[] {5, 6, 7}) ids.addGroup("list").append("element", v);
            var types = g.addGroup("token_type_ids");
            for (int v : new int[] {0, 0, 0}) types.addGroup("list").append("element", v);
            writer.write(g.append("label", -1).append("source", "s").append("line", 1L));
        }
        List<ShardRow> back = new ArrayList<>();
        ShardFormat.read(new LocalInputFile(file), back::add);
        assertArrayEquals(new int[] {5, 6, 7}, back.get(0).inputIds());
        assertEquals(null, back.get(0).lossSpans());
        assertEquals(true, back.get(0).learned(0));
    }
}
