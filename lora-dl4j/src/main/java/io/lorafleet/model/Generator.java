package io.lorafleet.model;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Continues prompts with a causal LM, one token per step for every unfinished prompt at once: the most likely token
 * (greedy, as transformers' generate with do_sample=False), or one sampled from the softmax of logits / temperature
 * restricted to the smallest set of most likely tokens whose probabilities reach top_p (nucleus sampling, Holtzman
 * et al. 2019; transformers applies temperature, then top-p, in that order too). A sequence ends after a stop token
 * (kept, as transformers keeps it) or {@code maxNewTokens}. Each step recomputes the whole sequence: there is no
 * key/value cache yet.
 */
public final class Generator {
    /**
     * How the next token is chosen.
     *
     * @param temperature 0 for greedy, else the softmax temperature (> 0)
     * @param topP        nucleus mass in (0, 1]; 1 keeps every token
     * @param seed        seeds prompt i's sampling with seed + i, so a prompt's tokens do not depend on its batch
     */
    public record Sampling(double temperature, double topP, long seed) {
        public static final Sampling GREEDY = new Sampling(0, 1, 0);

        public Sampling {
            if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }

        public boolean greedy() { return temperature == 0; }
    }

    private Generator() { }

    /** The tokens generated after each prompt (stop token included when reached). */
    public static List<int[]> generate(CausalLm model, List<int[]> prompts, int maxNewTokens, Set<Integer> stopIds, Sampling sampling) {
        if (maxNewTokens < 1) throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        int maxPositions = model.config().maxPositions();
        List<List<Integer>> sequences = new ArrayList<>();
        List<SplittableRandom> randoms = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = prompts.get(i);
            if (p.length == 0) throw new IllegalArgumentException("prompt " + i + " has no tokens");
            if (p.length + maxNewTokens > maxPositions) {
                throw new IllegalArgumentException("prompt " + i + " (" + p.length + " tokens) + max_new_tokens " + maxNewTokens
                        + " exceeds the model's " + maxPositions + " positions");
            }
            sequences.add(new ArrayList<>(Arrays.stream(p).boxed().toList()));
            randoms.add(new SplittableRandom(sampling.seed() + i));
        }
        List<Integer> active = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) active.add(i);
        for (int step = 0; step < maxNewTokens && !active.isEmpty(); step++) {
            INDArray logits = model.nextTokenLogits(batch(active.stream().map(sequences::get).toList()));
            List<Integer> still = new ArrayList<>();
            for (int row = 0; row < active.size(); row++) {
                int i = active.get(row);
                double[] l = logits.getRow(row).toDoubleVector();
                int token = sampling.greedy() ? argmax(l) : sample(l, sampling, randoms.get(i));
                sequences.get(i).add(token);
                if (!stopIds.contains(token)) still.add(i);
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

    /** The sequences right-padded to the longest. */
    private static TokenBatch batch(List<List<Integer>> sequences) {
        int t = sequences.stream().mapToInt(List::size).max().orElseThrow(), b = sequences.size();
        int[] ids = new int[b * t], mask = new int[b * t];
        for (int s = 0; s < b; s++) {
            for (int j = 0; j < sequences.get(s).size(); j++) {
                ids[s * t + j] = sequences.get(s).get(j);
                mask[s * t + j] = 1;
            }
        }
        return new TokenBatch(b, t, ids, null, mask, null);
    }

    /** The first index of the largest logit (torch.argmax's choice among ties). */
    static int argmax(double[] logits) {
        int best = 0;
        for (int v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }

    /** A token drawn from softmax(logits / temperature) within the top-p nucleus. */
    static int sample(double[] logits, Sampling sampling, SplittableRandom random) {
        double max = logits[argmax(logits)];
        double[] p = new double[logits.length];
        double sum = 0;
        for (int v = 0; v < p.length; v++) sum += p[v] = Math.exp((logits[v] - max) / sampling.temperature());
        Integer[] order = new Integer[p.length];
        for (int v = 0; v < order.length; v++) order[v] = v;
        Arrays.sort(order, (x, y) -> Double.compare(p[y], p[x]));
        int kept = 0;
        double mass = 0;
        while (kept < order.length && mass < sampling.topP() * sum) mass += p[order[kept++]];
        double u = random.nextDouble() * mass;
        for (int k = 0; k < kept; k++) {
            u -= p[order[k]];
            if (u < 0) return order[k];
        }
        return order[kept - 1];
    }
}
