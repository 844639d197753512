package io.lorafleet.model;

import io.lorafleet.nn.Embedding;
import io.lorafleet.nn.LayerNorm;
import io.lorafleet.nn.Projection;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The layers every architecture builds from its checkpoint: projections, LayerNorms and embedding tables, each
 * tensor looked up by its Hugging Face name and checked against the architecture's one name → shape mapping
 * ({@link ModelWeights#expectedShapes}), frozen or trained as {@link Tuning} decides.
 */
public final class CheckpointLayers {
    private final ModelWeights weights;
    private final Tuning tuning;
    private final Map<String, long[]> shapes;

    public CheckpointLayers(TransformerConfig config, ModelWeights weights, Tuning tuning) {
        this.weights = weights;
        this.tuning = tuning;
        this.shapes = ModelWeights.expectedShapes(config);
    }

    /** A projection stored as Hugging Face's Linear stores it: weight [out, in], bias [out]. */
    public Projection linear(String module) {
        return tuning.projection(module, tensor(module + ".weight"), tensor(module + ".bias"));
    }

    /** A projection stored as GPT-2's Conv1D stores it, weight [in, out]; our projections take [out, in]. */
    public Projection conv1d(String module) {
        return tuning.projection(module, tensor(module + ".weight").transpose().dup('c'), tensor(module + ".bias"));
    }

    public LayerNorm layerNorm(String module, double eps) {
        return new LayerNorm(tuning.pretrained(module + ".weight", tensor(module + ".weight")),
                tuning.pretrained(module + ".bias", tensor(module + ".bias")), eps);
    }

    public Embedding embedding(String name) {
        return new Embedding(tuning.pretrained(name, tensor(name)));
    }

    private INDArray tensor(String name) {
        long[] shape = shapes.get(name);
        if (shape == null) throw new IllegalStateException(name + " is not in the architecture's tensor mapping");
        return weights.require(name, shape);
    }

    /** An architecture's name → shape mapping, in checkpoint order, written with the layer kinds above. */
    static final class Shapes {
        private final Map<String, long[]> shapes = new LinkedHashMap<>();

        Shapes tensor(String name, long... shape) {
            shapes.put(name, shape);
            return this;
        }

        Shapes linear(String module, long out, long in) {
            return tensor(module + ".weight", out, in).tensor(module + ".bias", out);
        }

        Shapes conv1d(String module, long in, long out) {
            return tensor(module + ".weight", in, out).tensor(module + ".bias", out);
        }

        Shapes layerNorm(String module, long d) {
            return tensor(module + ".weight", d).tensor(module + ".bias", d);
        }

        Map<String, long[]> map() {
            return shapes;
        }
    }
}
