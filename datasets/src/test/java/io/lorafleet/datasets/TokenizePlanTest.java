package io.lorafleet.datasets;

import io.lorafleet.datasets.ReadCounts.BadCount;
import io.lorafleet.datasets.ReadCounts.BadKey;
import io.lorafleet.datasets.ShardPlan.RowGroup;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The tokenize job's Spark-free parts: grouping inputs into read tasks, placing rows in shard files, counts and verdicts. */
class TokenizePlanTest {
    private static final String TWO_TASKS = """
            tokenizer: t.json
            max_length: 64
            output: out
            max_bad_fraction: 0.1
            tasks:
              - adapter_id: a
                inputs: [a.jsonl]
                format: jsonl
                label: label
                labels: [neg, pos]
                split: train
              - adapter_id: a
                inputs: [b.jsonl]
                format: jsonl
                label: label
                labels: [neg, pos]
                split: test
                max_length: 128
            """;

    @Test
    void inputsAreGroupedByBytesIntoAtLeastOneTaskPerCore() {
        List<InputRef> inputs = new ArrayList<>();
        for (int i = 0; i < 500; i++) inputs.add(new InputRef(0, "f" + i, ByteRange.WHOLE, 1_000));
        List<List<InputRef>> groups = InputRef.group(inputs, 32 << 20, 2);
        assertEquals(List.of(250, 250), groups.stream().map(List::size).toList(), "as many Spark tasks as cores, not one per file");
        inputs.add(0, new InputRef(0, "big", ByteRange.WHOLE, 3_000_000));
        groups = InputRef.group(inputs, 1 << 20, 2);
        assertEquals(4, groups.size(), "3.5 MB at 1 MiB per split: ⌈3.34⌉ groups");
        assertEquals(List.of("big"), groups.get(0).stream().map(InputRef::path).toList());
        assertEquals(501, groups.stream().mapToInt(List::size).sum());
    }

    @Test
    void rowsAreNumberedInSourceOrderAndCutIntoFiles() {
        RowGroup second = new RowGroup("a", "train", "f2", 0), firstLate = new RowGroup("a", "train", "f1", 4096),
                first = new RowGroup("a", "train", "f1", 0), test = new RowGroup("a", "test", "f1", 0);
        ShardPlan plan = ShardPlan.of(Map.of(second, 3L, firstLate, 2L, first, 4L, test, 1L), 4);
        assertEquals(List.of("adapter_id=a/split=test/part-00000.parquet", "adapter_id=a/split=train/part-00000.parquet",
                "adapter_id=a/split=train/part-00001.parquet", "adapter_id=a/split=train/part-00002.parquet"), plan.files());
        ShardRow row = new ShardRow("a", "train", 1, new int[] {1, 2}, new int[2], 0, "f2", 7);
        ShardRow numbered = plan.numbered(second, row);
        assertEquals(4 + 2 + 1, numbered.rowId(), "after f1's 6 rows (both ranges), the second row of f2");
        assertEquals(2, plan.fileOf(numbered), "row 7 of train at 4 rows a file: train's second file");
        assertEquals(0, plan.fileOf(plan.numbered(test, new ShardRow("a", "test", 0, new int[] {1}, new int[1], 1, "f1", 1))));
    }

    @Test
    void countsGiveTheVerdictLabelsLengthsAndManifest() throws IOException {
        DatasetSpec spec = DatasetSpec.load(TWO_TASKS.getBytes(java.nio.charset.StandardCharsets.UTF_8), "spec.yaml", List.of());
        List<InputRef> inputs = List.of(new InputRef(0, "a.jsonl", ByteRange.WHOLE, 10), new InputRef(1, "b.jsonl", ByteRange.WHOLE, 10));
        Map<RowGroup, Long> valid = Map.of(new RowGroup("a", "train", "a.jsonl", 0), 90L, new RowGroup("a", "test", "b.jsonl", 0), 10L);
        ReadCounts fine = new ReadCounts(spec, inputs, valid, Map.of(new BadKey(0, "unknown_label", null), 9L),
                List.of(new BadCount(new BadKey(0, "unknown_label", "meh"), 9)), 3, 0);
        assertNull(fine.problem(), "task 0: 9 of 99 is under max_bad_fraction 0.1");
        assertEquals(Map.of("a", List.of("neg", "pos")), fine.labelNames());
        assertEquals(Map.of("a", 128), fine.maxLengths(), "the adapter's longest task");

        ReadCounts tooMany = new ReadCounts(spec, inputs, valid, Map.of(new BadKey(0, "unknown_label", null), 30L, new BadKey(0, "empty_text", null), 2L),
                List.of(new BadCount(new BadKey(0, "unknown_label", "meh"), 20), new BadCount(new BadKey(0, "unknown_label", "ok?"), 10)), 0, 0);
        assertEquals("tasks[0] (a): 32 of 122 rows (26.2%) are bad: empty_text 2, unknown_label 30 ('meh' ×20, 'ok?' ×10); above max_bad_fraction 0.1",
                tooMany.problem());
        ReadCounts none = new ReadCounts(spec, inputs, Map.of(new RowGroup("a", "train", "a.jsonl", 0), 5L), Map.of(new BadKey(1, "empty_text", null), 4L),
                List.of(), 0, 0);
        assertEquals("tasks[1] (a): no valid rows (4 quarantined: empty_text 4)", none.problem());

        DatasetSpec conflicting = DatasetSpec.load(TWO_TASKS.getBytes(java.nio.charset.StandardCharsets.UTF_8), "spec.yaml",
                List.of("tasks.1.labels=[pos, neg]"));
        IOException e = assertThrows(IOException.class, () -> new ReadCounts(conflicting, inputs, valid, Map.of(), List.of(), 0, 0).labelNames());
        assertEquals("adapter a: its tasks give different label lists [pos, neg] and [neg, pos]", e.getMessage(), "test (task 1) comes before train");

        ShardRow r = new ShardRow("a", "train", 0, new int[] {101, 7, 102}, new int[3], 1, "a.jsonl", 1);
        ShardStats stats = ShardStats.of("adapter_id=a/split=train/part-00000.parquet", List.of(r, r), 500, "abc", List.of("neg", "pos"), 128);
        Manifest m = fine.manifest("t.json", "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8), null, List.of(stats), "_quarantine");
        assertEquals(109, m.rowsRead(), "100 valid and 9 quarantined");
        assertEquals(9, m.rowsQuarantined());
        assertEquals(3L, m.blankLines());
        assertEquals(Map.of("unknown_label", 9L), m.droppedByReason());
        Manifest.AdapterStats a = m.adapters().get("a");
        assertEquals(Map.of("train", 2L), a.rows());
        assertEquals(Map.of("train", 6L), a.tokens());
        assertEquals(Map.of("train", Map.of("pos", 2L)), a.labelHistogram());
        assertEquals(9, a.lengthBinWidth(), "(128 + 16) / 16");
        assertEquals(2L, a.lengthHistogram().get(0), "3 tokens fall in the first bin");
        assertEquals(128, a.maxLength());
    }
}
