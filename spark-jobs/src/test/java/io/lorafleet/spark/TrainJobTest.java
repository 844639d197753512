package io.lorafleet.spark;

import io.lorafleet.datasets.Batches;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.train.DataOrder;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;
import org.apache.parquet.io.LocalInputFile;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The train job on the real all-MiniLM-L6-v2 and the real IMDB sample, in local Spark. */
class TrainJobTest {
    @TempDir
    static Path tmp;
    static SparkSession spark;
    static Path shards;
    static PretrainedModel model;
    static List<ShardRow> trainRows = new ArrayList<>();

    @BeforeAll
    static void tokenize() throws IOException {
        spark = SparkTestSession.get();
        shards = tmp.resolve("shards");
        String yaml = """
                tokenizer: %s
                max_length: 128
                output: %s
                tasks:
                  - adapter_id: imdb
                    inputs: [%s]
                    format: jsonl
                    label: label
                    labels: [negative, positive]
                    split_field: split
                """.formatted(MiniLm.folder(), shards, TokenizeJobTest.SAMPLE);
        Manifest m = TokenizeJob.tokenize(spark, DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "t.yaml", List.of()), false);
        for (Manifest.ShardFile f : m.shards()) {
            if (f.split().equals("train")) ShardFormat.read(new LocalInputFile(shards.resolve(f.path())), trainRows::add);
        }
        trainRows.sort(Comparator.comparingLong(ShardRow::rowId));
        model = PretrainedModel.load(new LocalModelFiles(MiniLm.folder()));
    }

    static TrainConfig config(String name, String extra, String... overrides) throws IOException {
        String yaml = """
                model: %s
                shards: %s
                output: %s
                lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}
                batch_size: 8
                seed: 7
                """.formatted(MiniLm.folder(), shards, tmp.resolve(name)) + extra;
        return TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), name + ".yaml", List.of(overrides));
    }

    /** The single-machine trainer with the job's model, optimizer and data order. */
    static Trainer singleMachine(TrainConfig c, int totalSteps) {
        return new Trainer(SequenceClassifier.create(model.config(), model.weights(), c.lora().toConfig(), 2, c.head().pooling(), c.seed()),
                c.optimizer().toConfig(totalSteps, 1.0));
    }

    static List<ShardRow> rows(int[] indices) {
        List<ShardRow> batch = new ArrayList<>();
        for (int i : indices) batch.add(trainRows.get(i));
        return batch;
    }

    @Test
    void oneWorkerAveragingEveryKStepsEqualsTheSingleMachineTrainerBitForBit() throws IOException {
        TrainConfig c = config("one-worker", "partitions: 1\nlocal_steps: 3\nrounds: 3\noptimizer: {kind: adamw, learning_rate: 0.002, warmup_steps: 2}\n");
        TrainJob.AdapterRun run = TrainJob.train(spark, c, false, false).get(0);

        DataOrder order = new DataOrder(trainRows.size(), c.batchSize(), c.seed());
        try (Trainer trainer = singleMachine(c, 9)) {
            for (int g = 0; g < 9; g++) trainer.step(Batches.pad(rows(order.batch(g)), false));
            TrainState expected = TrainState.of(trainer);
            assertArrayEquals(expected.values(), run.state().values(), "A, B and head");
            assertArrayEquals(expected.optimizerState(), run.state().optimizerState(), "Adam's moments");
            assertEquals(9, run.state().steps());
        }
    }

    @Test
    void sgdAveragingOfWorkersEqualsOneStepWithTheAveragedGradient() throws IOException {
        TrainConfig c = config("sgd", """
                partitions: 3
                local_steps: 1
                rounds: 1
                optimizer: {kind: sgd, learning_rate: 0.5, max_grad_norm: 0, decay: constant}
                """, "lora.r=4", "lora.alpha=8", "lora.dropout=0.0");
        TrainJob.AdapterRun run = TrainJob.train(spark, c, false, false).get(0);

        DataOrder order = new DataOrder(trainRows.size(), c.batchSize(), c.seed());
        List<ShardRow> union = new ArrayList<>();
        for (int g = 0; g < 3; g++) union.addAll(rows(order.batch(g)));
        try (Trainer trainer = singleMachine(c, 1)) {
            float[] before = TrainState.of(trainer).values();
            trainer.step(Batches.pad(union, false));
            float[] expected = TrainState.of(trainer).values();
            double worst = 0, moved = 0;
            for (int i = 0; i < expected.length; i++) {
                worst = Math.max(worst, Math.abs(expected[i] - run.state().values()[i]));
                moved = Math.max(moved, Math.abs(expected[i] - before[i]));
            }
            assertTrue(moved > 1e-3, "the step moved the parameters (" + moved + ")");
            assertTrue(worst < 2e-6, "averaged workers vs one step on the union batch: max |Δ| = " + worst);
        }
    }
}
