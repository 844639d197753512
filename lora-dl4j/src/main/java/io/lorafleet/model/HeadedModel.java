package io.lorafleet.model;

import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/** A body, one task head and the cross-entropy between them: one adapter's whole model. */
abstract class HeadedModel implements TaskModel {
    private final Body body;
    private final TaskHead head;
    private final ParamRegistry params;
    private final List<LoraLinear> loraLayers;
    private final SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();

    HeadedModel(Body body, TaskHead head, Tuning tuning) {
        this.body = body;
        this.head = head;
        this.params = tuning.registry();
        this.loraLayers = tuning.loraLayers();
    }

    @Override
    public double forwardBackward(TokenBatch batch) {
        PackedBatch packed = PackedBatch.of(batch);
        double value = loss.forward(logits(packed), head.targets(packed));
        body.backward(head.backward(loss.backward()));
        return value;
    }

    @Override
    public double loss(TokenBatch batch) {
        PackedBatch packed = PackedBatch.of(batch);
        return new SoftmaxCrossEntropy().forward(logits(packed), head.targets(packed));
    }

    @Override
    public INDArray logits(TokenBatch batch) {
        return logits(PackedBatch.of(batch));
    }

    private INDArray logits(PackedBatch batch) {
        return head.logits(body.forward(batch), batch);
    }

    Body body() { return body; }

    TaskHead head() { return head; }

    @Override public ParamRegistry params() { return params; }

    @Override public List<LoraLinear> loraLayers() { return loraLayers; }

    @Override public TransformerConfig config() { return body.config(); }
}
