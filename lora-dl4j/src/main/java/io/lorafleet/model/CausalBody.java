package io.lorafleet.model;

import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.Param;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A decoder body whose hidden states an LM head turns into next-token logits. */
public interface CausalBody extends Body {
    /** The LM head's weight [vocab, d]: the token embedding when tied (GPT-2), else its own lm_head. */
    Param lmHead();

    /** Empty key/value caches of every layer, for decoding {@code sequences} sequences. */
    java.util.List<KeyValueCache> newCaches(int sequences);

    /**
     * One decoding step: {@code tokens[r]}, at {@code positions[r]}, is the next token of sequence {@code sequences[r]},
     * whose earlier tokens are in the caches (which this step extends) → the final hidden states [B, d]. Equal, up to
     * rounding, to the last rows of {@link #forward} over each whole sequence.
     */
    INDArray decode(int[] tokens, int[] positions, int[] sequences, java.util.List<KeyValueCache> caches);
}
