package io.lorafleet.model;

import io.lorafleet.nn.Embedding;
import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.LayerNorm;
import io.lorafleet.nn.Param;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

/** GPT-2's token + position embeddings, pre-LN causal blocks and final LayerNorm. */
public final class Gpt2Decoder implements CausalBody {
    private final TransformerConfig config;
    private final Embedding tokens;    // wte [vocab, d], also the tied LM head
    private final Embedding positions; // wpe [maxPositions, d]
    private final List<DecoderBlock> blocks = new ArrayList<>();
    private final LayerNorm finalNorm;
    private final boolean embeddingsTrainable; // if not, the first block need not compute its input gradient

    /** Every tensor of a Hugging Face GPT-2 checkpoint's body: name, shape and kind, in checkpoint order. */
    static CheckpointLayers.Layout layout(TransformerConfig c) {
        long d = c.hiddenSize();
        CheckpointLayers.Layout s = new CheckpointLayers.Layout().embedding("wte.weight", c.vocabSize(), d).embedding("wpe.weight", c.maxPositions(), d);
        for (int i = 0; i < c.numLayers(); i++) DecoderBlock.layout(c, i, s);
        return s.layerNorm("ln_f", d);
    }

    public Gpt2Decoder(TransformerConfig c, ModelWeights w, Tuning tuning) {
        if (c.architecture() != Architecture.GPT2) throw new IllegalArgumentException("Gpt2Decoder needs model_type gpt2, got " + c.architecture().modelType());
        this.config = c;
        CheckpointLayers checkpoint = new CheckpointLayers(c, w, tuning);
        tokens = checkpoint.embedding("wte.weight");
        positions = checkpoint.embedding("wpe.weight");
        for (int i = 0; i < c.numLayers(); i++) blocks.add(new DecoderBlock(c, checkpoint, i));
        finalNorm = checkpoint.layerNorm("ln_f", c.layerNormEps());
        embeddingsTrainable = tokens.table().trainable() || positions.table().trainable();
    }

    @Override
    public INDArray forward(PackedBatch batch) {
        PackedBatch.checkPositions(batch.positionIds(), config.maxPositions(), "n_positions");
        INDArray x = tokens.forward(batch.inputIds()).addi(positions.forward(batch.positionIds()));
        for (DecoderBlock block : blocks) x = block.forward(x, batch.starts());
        return finalNorm.forward(x);
    }

    @Override
    public void backward(INDArray dHidden) {
        INDArray d = LayerBackward.throughBlocks(blocks, finalNorm.backward(dHidden), embeddingsTrainable, DecoderBlock::backward);
        if (!embeddingsTrainable) return;
        tokens.backward(d);
        positions.backward(d);
    }

    @Override
    public List<KeyValueCache> newCaches(int sequences) {
        return blocks.stream().map(b -> b.newCache(sequences)).toList();
    }

    @Override
    public INDArray decode(int[] ids, int[] positionIds, int[] sequences, List<KeyValueCache> caches) {
        PackedBatch.checkPositions(positionIds, config.maxPositions(), "n_positions");
        INDArray x = tokens.forward(ids).addi(positions.forward(positionIds));
        for (int i = 0; i < blocks.size(); i++) x = blocks.get(i).decode(x, sequences, caches.get(i));
        return finalNorm.forward(x);
    }

    /** The token embedding, which the LM head shares (tied weights). */
    @Override
    public Param lmHead() { return tokens.table(); }

    @Override
    public TransformerConfig config() { return config; }
}
