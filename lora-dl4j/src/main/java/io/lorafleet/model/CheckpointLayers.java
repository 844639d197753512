package io.lorafleet.model;

import io.lorafleet.nn.Embedding;
import io.lorafleet.nn.LayerNorm;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.Projection;
import io.lorafleet.nn.RmsNorm;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The layers every architecture builds from its checkpoint: projections, norms and embedding tables, each
 * tensor looked up by its Hugging Face name and checked against the architecture's one layout of names, shapes
 * and kinds ({@link ModelWeights#expectedShapes}), frozen or trained as {@link Tuning} decides.
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

    /**
     * A projection stored as Hugging Face's Linear stores it: weight [out, in], bias [out] when the layout has one; an int8
     * weight has its scale per row beside it ({@link ModelWeights#SCALE_SUFFIX}).
     */
    public Projection linear(String module) {
        String scale = module + ModelWeights.SCALE_SUFFIX;
        return tuning.projection(module, tensor(module + ".weight"), weights.contains(scale) ? weights.require(scale, shapes.get(module + ".weight")[0]) : null,
                shapes.containsKey(module + ".bias") ? tensor(module + ".bias") : null);
    }

    /** A projection stored as GPT-2's Conv1D stores it, weight [in, out]; our projections take [out, in]. */
    public Projection conv1d(String module) {
        return tuning.projection(module, tensor(module + ".weight").transpose().dup('c'), null, tensor(module + ".bias"));
    }

    public LayerNorm layerNorm(String module, double eps) {
        return new LayerNorm(tuning.pretrained(module + ".weight", tensor(module + ".weight")),
                tuning.pretrained(module + ".bias", tensor(module + ".bias")), eps);
    }

    public RmsNorm rmsNorm(String module, double eps) {
        return new RmsNorm(tuning.pretrained(module + ".weight", tensor(module + ".weight")), eps);
    }

    /** A pretrained table: an embedding, or an untied LM head's [vocab, d] weight. */
    public Param table(String name) {
        return tuning.pretrained(name, tensor(name));
    }

    public Embedding embedding(String name) {
        return new Embedding(table(name));
    }

    private INDArray tensor(String name) {
        long[] shape = shapes.get(name);
        if (shape == null) throw new IllegalStateException(name + " is not in the architecture's tensor mapping");
        return weights.require(name, shape);
    }

    /** What a checkpoint tensor is: it decides random initialization and which modules LoRA can target. */
    enum Kind { EMBEDDING, PROJECTION, NORM }

    /** An architecture's checkpoint layout: each tensor's name, shape and kind, in checkpoint order. */
    static final class Layout {
        private final Map<String, long[]> shapes = new LinkedHashMap<>();
        private final Map<String, Kind> kinds = new LinkedHashMap<>();

        private Layout tensor(String name, Kind kind, long... shape) {
            shapes.put(name, shape);
            kinds.put(name, kind);
            return this;
        }

        Layout embedding(String name, long rows, long d) {
            return tensor(name, Kind.EMBEDDING, rows, d);
        }

        Layout linear(String module, long out, long in) {
            return linear(module, out, in, true);
        }

        Layout linear(String module, long out, long in, boolean bias) {
            tensor(module + ".weight", Kind.PROJECTION, out, in);
            return bias ? tensor(module + ".bias", Kind.PROJECTION, out) : this;
        }

        Layout conv1d(String module, long in, long out) {
            return tensor(module + ".weight", Kind.PROJECTION, in, out).tensor(module + ".bias", Kind.PROJECTION, out);
        }

        Layout rmsNorm(String module, long d) {
            return tensor(module + ".weight", Kind.NORM, d);
        }

        Layout layerNorm(String module, long d) {
            return tensor(module + ".weight", Kind.NORM, d).tensor(module + ".bias", Kind.NORM, d);
        }

        Map<String, long[]> shapes() {
            return shapes;
        }

        Kind kind(String name) {
            return kinds.get(name);
        }

        /** The modules LoRA can adapt: every projection, by the name {@code target_modules} matches. */
        List<String> projectionModules() {
            return kinds.entrySet().stream().filter(e -> e.getValue() == Kind.PROJECTION && e.getKey().endsWith(".weight"))
                    .map(e -> e.getKey().substring(0, e.getKey().length() - ".weight".length())).toList();
        }
    }
}
