package io.lorafleet.model;

import io.lorafleet.nn.Param;

/** A decoder body whose hidden states an LM head turns into next-token logits. */
public interface CausalBody extends Body {
    /** The LM head's weight [vocab, d]: the token embedding when tied (GPT-2), else its own lm_head. */
    Param lmHead();
}
