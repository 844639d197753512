package io.lorafleet.model;

import io.lorafleet.nn.Embedding;
import io.lorafleet.nn.LayerNorm;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

/** BERT's embeddings (word + position + token type, then LayerNorm) and its post-LN encoder layers. */
public final class BertEncoder implements Body {
    private final TransformerConfig config;
    private final Embedding words;     // [vocab, d]
    private final Embedding positions; // [maxPositions, d]
    private final Embedding tokenTypes; // [typeVocab, d]
    private final LayerNorm embeddingNorm;
    private final List<EncoderBlock> layers = new ArrayList<>();
    private final boolean embeddingsTrainable; // if not, the first layer need not compute its input gradient

    /** Every tensor of a Hugging Face BERT checkpoint's body: name, shape and kind, in checkpoint order. */
    static CheckpointLayers.Layout layout(TransformerConfig c) {
        long d = c.hiddenSize();
        CheckpointLayers.Layout s = new CheckpointLayers.Layout()
                .embedding("embeddings.word_embeddings.weight", c.vocabSize(), d)
                .embedding("embeddings.position_embeddings.weight", c.maxPositions(), d)
                .embedding("embeddings.token_type_embeddings.weight", Math.max(c.typeVocabSize(), 1), d)
                .layerNorm("embeddings.LayerNorm", d);
        for (int i = 0; i < c.numLayers(); i++) EncoderBlock.layout(c, i, s);
        return s;
    }

    public BertEncoder(TransformerConfig c, ModelWeights w, Tuning tuning) {
        if (c.architecture() != Architecture.BERT) throw new IllegalArgumentException("BertEncoder needs model_type bert, got " + c.architecture().modelType());
        this.config = c;
        CheckpointLayers checkpoint = new CheckpointLayers(c, w, tuning);
        words = checkpoint.embedding("embeddings.word_embeddings.weight");
        positions = checkpoint.embedding("embeddings.position_embeddings.weight");
        tokenTypes = checkpoint.embedding("embeddings.token_type_embeddings.weight");
        embeddingNorm = checkpoint.layerNorm("embeddings.LayerNorm", c.layerNormEps());
        for (int i = 0; i < c.numLayers(); i++) layers.add(new EncoderBlock(c, checkpoint, i));
        embeddingsTrainable = words.table().trainable() || positions.table().trainable() || tokenTypes.table().trainable()
                || embeddingNorm.trainable();
    }

    @Override
    public INDArray forward(PackedBatch batch) {
        PackedBatch.checkPositions(batch.positionIds(), config.maxPositions(), "max_position_embeddings");
        INDArray x = words.forward(batch.inputIds())
                .addi(positions.forward(batch.positionIds()))
                .addi(tokenTypes.forward(batch.tokenTypeIds()));
        x = embeddingNorm.forward(x);
        for (EncoderBlock layer : layers) x = layer.forward(x, batch.starts());
        return x;
    }

    @Override
    public void backward(INDArray dHidden) {
        INDArray d = LayerBackward.throughBlocks(layers, dHidden, embeddingsTrainable, EncoderBlock::backward);
        if (!embeddingsTrainable) return;
        d = embeddingNorm.backward(d);
        words.backward(d);
        positions.backward(d);
        tokenTypes.backward(d);
    }

    @Override
    public TransformerConfig config() { return config; }
}
