package io.lorafleet.model;

import io.lorafleet.nn.Linear;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Pools each sequence's hidden states (its first token's, or the mean over real tokens) into one vector, then a trainable linear classifier. */
public final class ClassifierHead implements TaskHead {
    private final SequenceClassifier.Pooling pooling;
    private final Linear classifier; // [labels, d] ("classifier" in PEFT's modules_to_save)
    private INDArray poolWeights;    // [B, N]: which tokens each pooled vector averages, and with what weight

    public ClassifierHead(SequenceClassifier.Pooling pooling, Linear classifier) {
        this.pooling = pooling;
        this.classifier = classifier;
    }

    @Override
    public INDArray logits(INDArray hidden, PackedBatch batch) {
        return classifier.forward(pool(hidden, batch));
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
        INDArray dpooled = classifier.backward(dlogits, true);
        INDArray dHidden = Nd4j.createUninitialized(dpooled.dataType(), poolWeights.columns(), dpooled.columns());
        Nd4j.gemm(poolWeights, dpooled, dHidden, true, false, 1.0, 0.0);
        return dHidden;
    }

    private INDArray pool(INDArray hidden, PackedBatch batch) { // [N, d] → [B, d]
        int sequences = batch.sequences();
        poolWeights = Nd4j.create(hidden.dataType(), sequences, hidden.rows());
        for (int s = 0; s < sequences; s++) {
            if (pooling == SequenceClassifier.Pooling.CLS) {
                poolWeights.putScalar(s, batch.start(s), 1.0);
            } else {
                INDArray tokens = poolWeights.get(NDArrayIndex.point(s), NDArrayIndex.interval(batch.start(s), batch.start(s + 1)));
                tokens.assign(1.0 / batch.length(s));
            }
        }
        INDArray pooled = Nd4j.createUninitialized(hidden.dataType(), sequences, hidden.columns());
        Nd4j.gemm(poolWeights, hidden, pooled, false, false, 1.0, 0.0);
        return pooled;
    }
}
