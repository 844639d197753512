package io.lorafleet.model;

import io.lorafleet.nn.KeyValueCache;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Continues prompts with a causal LM, one token per step for up to {@value #BATCH} unfinished prompts at once, as
 * transformers' generate() does: the logits first get the repetition penalty (every token already in the sequence:
 * a positive logit divided by it, a negative one multiplied), then the most likely token is taken (greedy,
 * do_sample=False), or one is sampled from softmax(logits / temperature) restricted to the top_k most likely tokens
 * and then to the smallest set of most likely tokens whose probabilities reach top_p (nucleus sampling, Holtzman et
 * al. 2019), in that order. A sequence ends after a stop token (kept, as transformers keeps it) or
 * {@code maxNewTokens}. Each token is computed once: its keys and values stay in each layer's cache.
 */
public final class Generator {
    /** Prompts decoded together: their sequences make one batch per step. */
    static final int BATCH = 16;

    /**
     * How the next token is chosen.
     *
     * @param temperature       0 for greedy, else the softmax temperature (> 0)
     * @param topK              sampling keeps the k most likely tokens (ties at the k-th included); 0 keeps all
     * @param topP              nucleus mass in (0, 1]; 1 keeps every token
     * @param repetitionPenalty ≥ 1 (1: none), applied before greedy or sampled choice (CTRL, Keskar et al. 2019)
     * @param seed              seeds prompt i's sampling with seed + i, so a prompt's tokens do not depend on its batch
     */
    public record Sampling(double temperature, int topK, double topP, double repetitionPenalty, long seed) {
        public static final Sampling GREEDY = new Sampling(0, 0, 1, 1, 0);

        public Sampling {
            if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
            if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
            if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
                throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
            }
        }

        public boolean greedy() { return temperature == 0; }
    }

    private Generator() { }

    /** The tokens generated after each prompt (stop token included when reached). */
    public static List<int[]> generate(CausalLm model, List<int[]> prompts, int maxNewTokens, Set<Integer> stopIds, Sampling sampling) {
        List<int[]> out = new ArrayList<>();
        for (int from = 0; from < prompts.size(); from += BATCH) {
            Sampling part = new Sampling(sampling.temperature(), sampling.topK(), sampling.topP(), sampling.repetitionPenalty(), sampling.seed() + from);
            out.addAll(generateBatch(model, prompts.subList(from, Math.min(prompts.size(), from + BATCH)), maxNewTokens, stopIds, part, from));
        }
        return out;
    }

    private static List<int[]> generateBatch(CausalLm model, List<int[]> prompts, int maxNewTokens, Set<Integer> stopIds, Sampling sampling, int firstIndex) {
        int maxPositions = model.config().maxPositions();
        List<List<Integer>> sequences = new ArrayList<>();
        List<SplittableRandom> randoms = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = prompts.get(i);
            if (p.length == 0) throw new IllegalArgumentException("prompt " + (firstIndex + i) + " has no tokens");
            if (p.length + maxNewTokens > maxPositions) {
                throw new IllegalArgumentException("prompt " + (firstIndex + i) + " (" + p.length + " tokens) + max_new_tokens " + maxNewTokens
                        + " exceeds the model's " + maxPositions + " positions");
            }
            sequences.add(new ArrayList<>(Arrays.stream(p).boxed().toList()));
            randoms.add(new SplittableRandom(sampling.seed() + i));
        }
        // Every step feeds each unfinished sequence its next token (a prompt token, or the one it generated last) into the
        // key/value caches; a sequence whose tokens are all fed gets its next token from that step's logits.
        List<KeyValueCache> caches = model.newCaches(prompts.size());
        int[] fed = new int[prompts.size()];
        List<Integer> active = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) active.add(i);
        while (!active.isEmpty()) {
            int[] rows = active.stream().mapToInt(Integer::intValue).toArray(), tokens = new int[rows.length], positions = new int[rows.length];
            for (int r = 0; r < rows.length; r++) {
                tokens[r] = sequences.get(rows[r]).get(fed[rows[r]]);
                positions[r] = fed[rows[r]];
            }
            INDArray logits = model.decode(tokens, positions, rows, caches);
            List<Integer> still = new ArrayList<>();
            for (int r = 0; r < rows.length; r++) {
                int i = rows[r];
                List<Integer> sequence = sequences.get(i);
                if (++fed[i] < sequence.size()) {
                    still.add(i); // more prompt to feed
                    continue;
                }
                double[] l = logits.getRow(r).toDoubleVector();
                if (sampling.repetitionPenalty() != 1) penalize(l, sequence, sampling.repetitionPenalty());
                int token = sampling.greedy() ? argmax(l) : sample(l, sampling, randoms.get(i));
                sequence.add(token);
                if (!stopIds.contains(token) && sequence.size() - prompts.get(i).length < maxNewTokens) still.add(i);
            }
            active = still;
        }
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            List<Integer> s = sequences.get(i);
            out.add(s.subList(prompts.get(i).length, s.size()).stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    /** The first index of the largest logit (torch.argmax's choice among ties). */
    static int argmax(double[] logits) {
        int best = 0;
        for (int v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }

    /** Every token already in the sequence: a positive logit divided by the penalty, a negative one multiplied by it. */
    static void penalize(double[] logits, List<Integer> sequence, double penalty) {
        for (int token : new java.util.HashSet<>(sequence)) logits[token] = logits[token] < 0 ? logits[token] * penalty : logits[token] / penalty;
    }

    /** A token drawn from softmax(logits / temperature) within the top-k tokens, then within the top-p nucleus. */
    static int sample(double[] logits, Sampling sampling, SplittableRandom random) {
        double max = logits[argmax(logits)];
        double[] p = new double[logits.length];
        Integer[] order = new Integer[p.length];
        for (int v = 0; v < order.length; v++) order[v] = v;
        Arrays.sort(order, (x, y) -> Double.compare(logits[y], logits[x]));
        int candidates = order.length;
        if (sampling.topK() > 0 && sampling.topK() < order.length) {
            double kth = logits[order[sampling.topK() - 1]];
            candidates = sampling.topK();
            while (candidates < order.length && logits[order[candidates]] == kth) candidates++; // ties with the k-th stay, as in transformers
        }
        double sum = 0;
        for (int k = 0; k < candidates; k++) sum += p[order[k]] = Math.exp((logits[order[k]] - max) / sampling.temperature());
        int kept = 0;
        double mass = 0;
        while (kept < candidates && mass < sampling.topP() * sum) mass += p[order[kept++]];
        double u = random.nextDouble() * mass;
        for (int k = 0; k < kept; k++) {
            u -= p[order[k]];
            if (u < 0) return order[k];
        }
        return order[kept - 1];
    }
}
