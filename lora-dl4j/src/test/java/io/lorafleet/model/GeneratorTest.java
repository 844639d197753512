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
        for (int i = 0; i < draws; i++) counts[Generator.sample(logits, new Generator.Sampling(temperature, 1.0, 0), random)]++;
        for (int v = 0; v < 4; v++) assertEquals(p[v] / sum, counts[v] / (double) draws, 0.005, "token " + v);
        // top_p just above token 0's mass keeps tokens 0 and 1, renormalized
        double topP = p[0] / sum + 0.01;
        counts = new int[4];
        for (int i = 0; i < draws; i++) counts[Generator.sample(logits, new Generator.Sampling(temperature, topP, 0), random)]++;
        assertEquals(0, counts[2] + counts[3], "outside the nucleus");
        assertEquals(p[0] / (p[0] + p[1]), counts[0] / (double) draws, 0.005);
        // the same seed gives the same tokens
        CausalLm model = model();
        Generator.Sampling s = new Generator.Sampling(1.0, 0.9, 42);
        assertArrayEquals(Generator.generate(model, List.of(new int[] {1, 2}), 6, Set.of(), s).get(0), Generator.generate(model, List.of(new int[] {1, 2}), 6, Set.of(), s).get(0));
    }

    private static int[] ones(int n) {
        int[] m = new int[n];
        java.util.Arrays.fill(m, 1);
        return m;
    }
}
