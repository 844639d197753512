package io.lorafleet.model;

import io.lorafleet.nn.Linear;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMax;
import org.nd4j.linalg.factory.Nd4j;

/** Pools each sequence's hidden states (its first token's, or the mean over real tokens) into one vector, then a trainable linear classifier. */
public final class ClassifierHead implements TaskHead {
    private final SequenceClassifier.Pooling pooling;
    private final Linear classifier; // [labels, d] ("classifier" in PEFT's modules_to_save)
    private INDArray poolWeights;    // [B, T]: which tokens each pooled vector averages, and with what weight
    private int batchSize, seqLen;

    public ClassifierHead(SequenceClassifier.Pooling pooling, Linear classifier) {
        this.pooling = pooling;
        this.classifier = classifier;
    }

    @Override
    public INDArray logits(INDArray hidden, TokenBatch batch) {
        return classifier.forward(pool(hidden, batch));
    }

    @Override
    public int[] targets(TokenBatch batch) {
        if (batch.labels() == null || batch.labels().length != batch.batchSize()) {
            throw new IllegalArgumentException("a classification batch needs one label per sequence (" + batch.batchSize() + ")");
        }
        return batch.labels();
    }

    @Override
    public INDArray backward(INDArray dlogits) {
        return unpool(classifier.backward(dlogits, true));
    }

    private INDArray pool(INDArray hidden, TokenBatch batch) { // [B·T, d] → [B, d]
        batchSize = batch.batchSize();
        seqLen = batch.seqLen();
        int b = batchSize, t = seqLen;
        poolWeights = Nd4j.create(hidden.dataType(), b, t);
        if (pooling == SequenceClassifier.Pooling.CLS) {
            poolWeights.getColumn(0).assign(1.0);
        } else {
            poolWeights.assign(batch.maskArray(hidden.dataType()));
            INDArray counts = poolWeights.sum(1).reshape(b, 1);
            poolWeights.diviColumnVector(Nd4j.getExecutioner().exec(new ScalarMax(counts, 1.0)));
        }
        INDArray pooled = Nd4j.create(hidden.dataType(), b, 1, hidden.columns());
        Nd4j.matmul(poolWeights.reshape(b, 1, t), hidden.reshape(b, t, hidden.columns()), pooled);
        return pooled.reshape(b, hidden.columns());
    }

    private INDArray unpool(INDArray dpooled) { // [B, d] → [B·T, d]
        int b = batchSize, t = seqLen;
        INDArray dHidden = Nd4j.create(dpooled.dataType(), b, t, dpooled.columns());
        Nd4j.matmul(poolWeights.reshape(b, t, 1), dpooled.reshape(b, 1, dpooled.columns()), dHidden);
        return dHidden.reshape((long) b * t, dpooled.columns());
    }
}
