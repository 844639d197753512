package io.lorafleet.bench;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.model.TokenBatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The parts of the benchmark harness that turn measurements into numbers (gemm share, real batches) and that prepare data. */
class BenchHarnessTest {
    @Test
    void gemmShareSeesMatrixProductsAndNothingElse() throws Exception {
        INDArray a = Nd4j.rand(DataType.FLOAT, 512, 512), b = Nd4j.rand(DataType.FLOAT, 512, 512), c = Nd4j.create(DataType.FLOAT, 512, 512);
        double gemm = GemmShare.of(() -> {
            for (int i = 0; i < 150; i++) Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
        });
        double other = GemmShare.of(() -> {
            for (int i = 0; i < 2000; i++) a.addi(1e-3).muli(0.999); // long enough for the recorder to sample it (150 took none once in CI)
        });
        System.out.printf("gemm share: gemm loop %.3f, elementwise loop %.3f%n", gemm, other);
        assertTrue(gemm > 0.9, "a loop of gemm calls: " + gemm);
        assertTrue(other < 0.1, "a loop of elementwise ops: " + other);
    }

    @Test
    void realBatchesRoundTripAndPadAtTheEnd(@TempDir Path tmp) throws Exception {
        RealBatches data = new RealBatches("toy, max_length 8", 8, List.of(
                new RealBatches.Batch(new int[][] {{101, 7, 8, 102}, {101, 9, 102}}, new int[] {1, 0})));
        data.write(tmp.resolve("toy.json"));
        RealBatches back = RealBatches.read(tmp.resolve("toy.json"));
        assertEquals(data.name(), back.name());
        assertEquals(7, back.realTokens());
        assertEquals(4, back.batches().get(0).longest());
        TokenBatch padded = back.batches().get(0).padded(5);
        assertArrayEquals(new int[] {101, 7, 8, 102, 0, 101, 9, 102, 0, 0}, padded.inputIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 1, 1, 1, 0, 0}, padded.attentionMask());
        assertArrayEquals(new int[] {1, 0}, padded.labels());
    }

    /** The bulk benchmark reads the demo's IMDB config with each row's adapter taken from its "task" field. */
    @Test
    void theImdbConfigTakesTheBenchmarksOverrides(@TempDir Path tmp) throws Exception {
        Path root = Path.of("..").toAbsolutePath().normalize();
        DatasetSpec spec = ImdbTokenizeConf.load(root, tmp.resolve("tasks.jsonl"), 96, tmp.resolve("shards"),
                "tasks.0.adapter_id=null", "tasks.0.adapter_id_field=task");
        assertEquals(96, spec.maxLength());
        assertEquals(tmp.resolve("shards").toString(), spec.output());
        assertEquals(root.resolve("runs/models/all-minilm-l6-v2").toString(), spec.tokenizer());
        DatasetSpec.TaskSpec task = spec.tasks().get(0);
        assertEquals(null, task.adapterId());
        assertEquals("task", task.adapterIdField());
        assertEquals(List.of(tmp.resolve("tasks.jsonl").toString()), task.inputs());
    }

    @Test
    void theBarChartIsWellFormedSvgWithOneBarPerMeasuredValue() throws Exception {
        double[][] ms = {{1393, 1547, Double.NaN}, {3446, 7491, 7907}}, rss = {{1062, 888, 871}, {2366, 2325, 2300}};
        String svg = BarChart.svg(List.of("imdb at 128", "imdb at 512"), List.of("ours", "peer <longest>", "peer & max"),
                List.of(new BarChart.Panel("Step time", "ms", ms), new BarChart.Panel("Peak RSS", "MiB", rss)));
        org.w3c.dom.Document doc = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new java.io.ByteArrayInputStream(svg.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        assertEquals("svg", doc.getDocumentElement().getNodeName());
        // a background, 11 bars (one value not measured), 3 legend swatches
        assertEquals(1 + 11 + 3, doc.getElementsByTagName("rect").getLength());
        assertTrue(svg.contains("peer &lt;longest&gt;") && svg.contains("7,907"), svg);
        assertEquals(10_000, BarChart.niceCeiling(7907));
        assertEquals(2_000, BarChart.niceCeiling(1062));
        assertEquals(500, BarChart.niceCeiling(500));
    }

    @Test
    void theBackendCheckTellsAMatchingStepFromADifferentOne(@TempDir Path tmp) throws Exception {
        Path cpu = tmp.resolve("cpu.json"), same = tmp.resolve("same.json"), off = tmp.resolve("off.json");
        String step = "{\"backend\":\"%s\",\"loss\":%s,\"grad_norm\":1.0,\"ms_per_step\":%s,\"grads\":[0.5,-0.25,%s],\"values\":[1.0,2.0,3.0]}";
        java.nio.file.Files.writeString(cpu, step.formatted("CpuBackend", "0.6931", "1200", "0.125"));
        java.nio.file.Files.writeString(same, step.formatted("JCublasBackend", "0.69310002", "60", "0.1250001"));
        java.nio.file.Files.writeString(off, step.formatted("JCublasBackend", "0.6931", "60", "0.135")); // one gradient 2% of the largest off
        assertTrue(BackendCheck.compare(cpu, same));
        assertTrue(!BackendCheck.compare(cpu, off));
    }
}
