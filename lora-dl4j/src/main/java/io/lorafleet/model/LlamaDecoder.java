package io.lorafleet.model;

import io.lorafleet.nn.Embedding;
import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.RmsNorm;
import io.lorafleet.nn.RotaryEmbedding;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

/**
 * The Llama family's body (LlamaModel, MistralModel, Qwen2Model): token embedding, pre-RMSNorm blocks with rotary
 * positions, and a final RMSNorm; the LM head is the token embedding (tie_word_embeddings) or its own lm_head.
 */
public final class LlamaDecoder implements CausalBody {
    private final TransformerConfig config;
    private final Embedding tokens;                    // embed_tokens [vocab, d]
    private final List<LlamaBlock> blocks = new ArrayList<>();
    private final RmsNorm finalNorm;
    private final Param lmHead;                        // [vocab, d]: lm_head, or embed_tokens when tied
    private final RotaryEmbedding rotary;
    private final boolean embeddingsTrainable;

    /** The untied LM head's tensor: outside the body, so a checkpoint names it without the "model." prefix. */
    public static final String LM_HEAD = "lm_head.weight";

    /** Every tensor of a Hugging Face checkpoint of this family (body names without "model."; lm_head beside it). */
    static CheckpointLayers.Layout layout(TransformerConfig c) {
        long d = c.hiddenSize();
        CheckpointLayers.Layout s = new CheckpointLayers.Layout().embedding("embed_tokens.weight", c.vocabSize(), d);
        for (int i = 0; i < c.numLayers(); i++) LlamaBlock.layout(c, i, s);
        s.rmsNorm("norm", d);
        return c.llama().tiedEmbeddings() ? s : s.embedding(LM_HEAD, c.vocabSize(), d);
    }

    public LlamaDecoder(TransformerConfig c, ModelWeights w, Tuning tuning) {
        if (!c.architecture().llamaFamily()) throw new IllegalArgumentException("LlamaDecoder needs model_type llama, mistral or qwen2, got " + c.architecture().modelType());
        this.config = c;
        CheckpointLayers checkpoint = new CheckpointLayers(c, w, tuning);
        tokens = checkpoint.embedding("embed_tokens.weight");
        for (int i = 0; i < c.numLayers(); i++) blocks.add(new LlamaBlock(c, checkpoint, i));
        finalNorm = checkpoint.rmsNorm("norm", c.layerNormEps());
        lmHead = c.llama().tiedEmbeddings() ? tokens.table() : checkpoint.table(LM_HEAD);
        rotary = new RotaryEmbedding(c.llama().rope().inverseFrequencies(c.llama().headDim()));
        embeddingsTrainable = tokens.table().trainable();
    }

    @Override
    public INDArray forward(PackedBatch batch) {
        PackedBatch.checkPositions(batch.positionIds(), config.maxPositions(), "max_position_embeddings");
        RotaryEmbedding.Angles angles = rotary.angles(batch.positionIds());
        INDArray x = tokens.forward(batch.inputIds());
        for (LlamaBlock block : blocks) x = block.forward(x, batch.starts(), angles);
        return finalNorm.forward(x);
    }

    @Override
    public void backward(INDArray dHidden) {
        INDArray d = LayerBackward.throughBlocks(blocks, finalNorm.backward(dHidden), embeddingsTrainable, LlamaBlock::backward);
        if (embeddingsTrainable) tokens.backward(d);
    }

    @Override
    public List<KeyValueCache> newCaches(int sequences) {
        return blocks.stream().map(b -> b.newCache(sequences)).toList();
    }

    @Override
    public INDArray decode(int[] ids, int[] positions, int[] sequences, List<KeyValueCache> caches) {
        PackedBatch.checkPositions(positions, config.maxPositions(), "max_position_embeddings");
        RotaryEmbedding.Angles angles = rotary.angles(positions);
        INDArray x = tokens.forward(ids);
        for (int i = 0; i < blocks.size(); i++) x = blocks.get(i).decode(x, sequences, angles, caches.get(i));
        return finalNorm.forward(x);
    }

    @Override
    public Param lmHead() { return lmHead; }

    @Override
    public TransformerConfig config() { return config; }
}
