package io.lorafleet.model;

import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Pools each sequence's hidden states into one vector — its first token's, its last real token's, or the mean over its
 * real tokens — optionally through BERT's pooler (dense + tanh), then a trainable linear classifier.
 */
public final class ClassifierHead implements TaskHead {
    public enum Token { FIRST, LAST, MEAN }

    private final Token token;
    private final Linear pooler;     // [d, d] ("pooler.dense" in Hugging Face's BertModel), or null
    private final Linear classifier; // [labels, d] ("classifier", or a decoder's bias-free "score": PEFT's modules_to_save)
    private INDArray poolWeights;    // [B, N]: which tokens each pooled vector averages, and with what weight
    private INDArray pooled;         // tanh output of the pooler, for its backward

    public ClassifierHead(Token token, Linear pooler, Linear classifier) {
        this.token = token;
        this.pooler = pooler;
        this.classifier = classifier;
    }

    @Override
    public INDArray logits(INDArray hidden, PackedBatch batch) {
        INDArray v = pool(hidden, batch);
        if (pooler != null) {
            pooled = Transforms.tanh(pooler.forward(v), false);
            v = pooled;
        }
        return classifier.forward(v);
    }

    @Override
    public int[] targets(PackedBatch batch) {
        if (batch.labels() == null || batch.labels().length != batch.sequences()) {
            throw new IllegalArgumentException("a classification batch needs one label per sequence (" + batch.sequences() + ")");
        }
        return batch.labels();
    }

    @Override
    public INDArray backward(INDArray dlogits) {
        INDArray d = classifier.backward(dlogits, true);
        if (pooler != null) d = pooler.backward(d.muli(pooled.mul(pooled).rsubi(1.0)), true); // tanh' = 1 − tanh²
        INDArray dHidden = Nd4j.createUninitialized(d.dataType(), poolWeights.columns(), d.columns());
        Nd4j.gemm(poolWeights, d, dHidden, true, false, 1.0, 0.0);
        return dHidden;
    }

    private INDArray pool(INDArray hidden, PackedBatch batch) { // [N, d] → [B, d]
        int sequences = batch.sequences();
        poolWeights = Nd4j.create(hidden.dataType(), sequences, hidden.rows());
        for (int s = 0; s < sequences; s++) {
            switch (token) {
                case FIRST -> poolWeights.putScalar(s, batch.start(s), 1.0);
                case LAST -> poolWeights.putScalar(s, batch.start(s + 1) - 1, 1.0);
                case MEAN -> poolWeights.get(NDArrayIndex.point(s), NDArrayIndex.interval(batch.start(s), batch.start(s + 1)))
                        .assign(1.0 / batch.length(s));
            }
        }
        INDArray out = Nd4j.createUninitialized(hidden.dataType(), sequences, hidden.columns());
        Nd4j.gemm(poolWeights, hidden, out, false, false, 1.0, 0.0);
        return out;
    }

    /** The head of adapter {@code adapter} (0 for a single-adapter model), its tensors named as Hugging Face names them. */
    static ClassifierHead of(TransformerConfig config, ModelWeights weights, Tuning tuning, int adapter, int numLabels, SequenceClassifier.Pooling pooling) {
        if (numLabels < 2) throw new IllegalArgumentException("num_labels must be >= 2, got " + numLabels);
        long d = config.hiddenSize();
        if (pooling == SequenceClassifier.Pooling.HF && config.causal()) { // a decoder's *ForSequenceClassification: last token, no bias
            return new ClassifierHead(Token.LAST, null,
                    new Linear(tuning.head(adapter, "score.weight", new long[] {numLabels, d}, Initializer.gaussian(0.02)), null));
        }
        Linear pooler = null;
        if (pooling == SequenceClassifier.Pooling.HF && tuning.lora(adapter) != null && tuning.lora(adapter).allLinear()) {
            // PEFT's all-linear adapts every linear layer but the classifier, BERT's pooler too, which this head trains whole
            throw new IllegalArgumentException("lora.target_modules: all-linear with head.pooling: hf would differ from PEFT's (it puts LoRA on the "
                    + "pooler, which this head trains whole); list the body's modules instead");
        }
        if (pooling == SequenceClassifier.Pooling.HF) {
            boolean pretrained = weights.contains("pooler.dense.weight");
            pooler = new Linear(tuning.head(adapter, "pooler.dense.weight", new long[] {d, d},
                    pretrained ? Initializer.copyOf(weights.asMap().get("pooler.dense.weight")) : Initializer.gaussian(0.02)),
                    tuning.head(adapter, "pooler.dense.bias", new long[] {d},
                            pretrained ? Initializer.copyOf(weights.asMap().get("pooler.dense.bias")) : Initializer.ZEROS));
        }
        Linear classifier = new Linear(tuning.head(adapter, "classifier.weight", new long[] {numLabels, d}, Initializer.gaussian(0.02)),
                tuning.head(adapter, "classifier.bias", new long[] {numLabels}, Initializer.ZEROS));
        return new ClassifierHead(pooling == SequenceClassifier.Pooling.MEAN ? Token.MEAN : Token.FIRST, pooler, classifier);
    }
}
