package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GeneratorTest {
    static final TransformerConfig LLAMA = ModelGradientTest.LLAMA;

    static CausalLm model() {
        CausalLm model = CausalLm.create(LLAMA, ModelWeights.random(LLAMA, DataType.DOUBLE, 3), LoraConfig.of(2, 4, List.of("q_proj", "v_proj")), 1);
        ModelGradientTest.randomizeLoraB(model.params());
        return model;
    }

    @Test
    void decodingTokenByTokenWithCachesGivesTheFullForwardsLogits() {
        LoraConfig all = new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false, LoraConfig.Init.GAUSSIAN, java.util.Map.of(), java.util.Map.of(), false);
        for (TransformerConfig c : List.of(LLAMA, ModelGradientTest.QWEN2, ModelGradientTest.MISTRAL, ModelGradientTest.GPT2)) {
            CausalLm model = CausalLm.create(c, ModelWeights.random(c, DataType.DOUBLE, 3), c.llama() == null ? LoraConfig.of(2, 4, List.of("c_attn")) : all, 1);
            ModelGradientTest.randomizeLoraB(model.params());
            int[][] sequences = {{3, 7, 1, 9, 2, 5, 11}, {4, 4, 8, 0}}; // 7 and 4 tokens: past Mistral's window of 3
            INDArray[] full = new INDArray[2];
            for (int s = 0; s < 2; s++) full[s] = model.logits(new TokenBatch(1, sequences[s].length, sequences[s], null, ones(sequences[s].length), null));
            var caches = model.newCaches(2);
            double worst = 0;
            for (int t = 0; t < 7; t++) {
                boolean second = t < 4;
                int[] rows = second ? new int[] {0, 1} : new int[] {0}, tokens = new int[rows.length], positions = new int[rows.length];
                for (int r = 0; r < rows.length; r++) {
                    tokens[r] = sequences[rows[r]][t];
                    positions[r] = t;
                }
                INDArray step = model.decode(tokens, positions, rows, caches);
                for (int r = 0; r < rows.length; r++) worst = Math.max(worst, step.getRow(r).sub(full[rows[r]].getRow(t)).amaxNumber().doubleValue());
            }
            assertTrue(worst < 1e-10, c.architecture() + ": decoded logits differ from the full forward's by " + worst);
        }
    }

    @Test
    void nextTokenLogitsAreTheLastRealRowsOfTheFullLogits() {
        CausalLm model = model();
        TokenBatch b = ModelGradientTest.batch(LLAMA.vocabSize(), null);
        INDArray all = model.logits(b), next = model.nextTokenLogits(b);
        assertTrue(next.getRow(0).equalsWithEps(all.getRow(4), 1e-12) && next.getRow(1).equalsWithEps(all.getRow(7), 1e-12));
    }

    @Test
    void greedyTakesEachStepsArgmaxAndPromptsDoNotAffectEachOther() {
        CausalLm model = model();
        List<int[]> prompts = List.of(new int[] {3, 7, 1}, new int[] {5}, new int[] {2, 9, 4, 4, 11});
        List<int[]> together = Generator.generate(model, prompts, 6, Set.of(), Generator.Sampling.GREEDY);
        for (int i = 0; i < prompts.size(); i++) {
            int[] alone = Generator.generate(model, List.of(prompts.get(i)), 6, Set.of(), Generator.Sampling.GREEDY).get(0);
            assertArrayEquals(alone, together.get(i), "prompt " + i + " alone and in a batch");
            // step by step: each token is the argmax of the full forward's last row
            int[] seq = java.util.Arrays.copyOf(prompts.get(i), prompts.get(i).length + 6);
            for (int k = 0; k < 6; k++) {
                int n = prompts.get(i).length + k;
                INDArray logits = model.logits(new TokenBatch(1, n, java.util.Arrays.copyOf(seq, n), null, ones(n), null));
                seq[n] = Generator.argmax(logits.getRow(n - 1).toDoubleVector());
            }
            assertArrayEquals(java.util.Arrays.copyOfRange(seq, prompts.get(i).length, seq.length), alone);
        }
    }

    @Test
    void aStopTokenEndsItsSequenceAndIsKept() {
        CausalLm model = model();
        int[] free = Generator.generate(model, List.of(new int[] {3, 7}), 5, Set.of(), Generator.Sampling.GREEDY).get(0);
        int[] stopped = Generator.generate(model, List.of(new int[] {3, 7}), 5, Set.of(free[1]), Generator.Sampling.GREEDY).get(0);
        int cut = free[0] == free[1] ? 1 : 2;
        assertArrayEquals(java.util.Arrays.copyOf(free, cut), stopped);
        assertThrows(IllegalArgumentException.class, () -> Generator.generate(model, List.of(new int[10]), 7, Set.of(), Generator.Sampling.GREEDY),
                "10 + 7 tokens exceed the 16 positions");
    }

    @Test
    void samplingFollowsTheTemperedSoftmaxWithinTheNucleus() {
        double[] logits = {2.0, 1.0, 0.0, -1.0};
        double temperature = 0.7;
        double[] p = new double[4];
        double sum = 0;
        for (int v = 0; v < 4; v++) sum += p[v] = Math.exp(logits[v] / temperature);
        int draws = 200_000;
        int[] counts = new int[4];
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < draws; i++) counts[Generator.sample(logits, new Generator.Sampling(temperature, 0, 1.0, 1, 0), random)]++;
        for (int v = 0; v < 4; v++) assertEquals(p[v] / sum, counts[v] / (double) draws, 0.005, "token " + v);
        // top_p just above token 0's mass keeps tokens 0 and 1, renormalized
        double topP = p[0] / sum + 0.01;
        counts = new int[4];
        for (int i = 0; i < draws; i++) counts[Generator.sample(logits, new Generator.Sampling(temperature, 0, topP, 1, 0), random)]++;
        assertEquals(0, counts[2] + counts[3], "outside the nucleus");
        assertEquals(p[0] / (p[0] + p[1]), counts[0] / (double) draws, 0.005);
        // the same seed gives the same tokens
        CausalLm model = model();
        Generator.Sampling s = new Generator.Sampling(1.0, 50, 0.9, 1, 42);
        assertArrayEquals(Generator.generate(model, List.of(new int[] {1, 2}), 6, Set.of(), s).get(0), Generator.generate(model, List.of(new int[] {1, 2}), 6, Set.of(), s).get(0));
    }

    @Test
    void topKKeepsTheKMostLikelyAndTheRepetitionPenaltyActsOnTokensAlreadyThere() {
        double[] logits = {2.0, 1.0, 1.0, -1.0};
        int[] counts = new int[4];
        SplittableRandom random = new SplittableRandom(6);
        for (int i = 0; i < 20_000; i++) counts[Generator.sample(logits, new Generator.Sampling(1.0, 2, 1.0, 1, 0), random)]++;
        assertEquals(0, counts[3], "outside the top 2 (token 2 ties with the second and stays)");
        assertTrue(counts[2] > 0);
        double[] penalized = logits.clone();
        Generator.penalize(penalized, List.of(0, 3, 0), 2.0);
        assertArrayEquals(new double[] {1.0, 1.0, 1.0, -2.0}, penalized, 0.0, "each token present once: positive halved, negative doubled");
        // greedy applies it to the prompt's and the generated tokens: each step's choice is the argmax of the penalized logits
        CausalLm model = model();
        int[] run = Generator.generate(model, List.of(new int[] {3, 5}), 4, Set.of(), new Generator.Sampling(0, 0, 1, 3.0, 0)).get(0);
        List<Integer> seq = new java.util.ArrayList<>(List.of(3, 5));
        for (int token : run) {
            int[] ids = seq.stream().mapToInt(Integer::intValue).toArray();
            double[] l = model.nextTokenLogits(new TokenBatch(1, ids.length, ids, null, ones(ids.length), null)).getRow(0).toDoubleVector();
            Generator.penalize(l, seq, 3.0);
            assertEquals(Generator.argmax(l), token);
            seq.add(token);
        }
    }

    private static int[] ones(int n) {
        int[] m = new int[n];
        java.util.Arrays.fill(m, 1);
        return m;
    }
}
