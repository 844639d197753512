package io.lorafleet.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** Pretrained tensors by their Hugging Face checkpoint names, in the checkpoint's own layout. */
public final class ModelWeights {
    /**
     * An int8 projection's scale per output row, beside its {@code .weight} (W = weight · scale): how an imported quantized
     * export ({@code OnnxBertImporter}) keeps its projections.
     */
    public static final String SCALE_SUFFIX = ".weight_scale";

    private final Map<String, INDArray> tensors;
    private final String source;

    public ModelWeights(Map<String, INDArray> tensors, String source) {
        this.tensors = new LinkedHashMap<>(tensors);
        this.source = source;
    }

    /** The tensor with this name, checked against the expected shape. */
    public INDArray require(String name, long... shape) {
        INDArray t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(source + ": missing tensor " + name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(source + ": tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t;
    }

    public boolean contains(String name) { return tensors.containsKey(name); }

    public Set<String> names() { return tensors.keySet(); }

    public Map<String, INDArray> asMap() { return java.util.Collections.unmodifiableMap(tensors); }

    public String source() { return source; }

    public DataType dataType() {
        return tensors.values().iterator().next().dataType();
    }

    public long totalParameters() {
        return tensors.values().stream().mapToLong(INDArray::length).sum();
    }

    /** Every tensor a Hugging Face checkpoint of this shape holds, with its shape, in checkpoint order and layout. */
    public static Map<String, long[]> expectedShapes(TransformerConfig c) {
        return layout(c).shapes();
    }

    /** The architecture's one layout of its checkpoint: names, shapes and kinds. */
    static CheckpointLayers.Layout layout(TransformerConfig c) {
        return switch (c.architecture()) {
            case BERT -> BertEncoder.layout(c);
            case GPT2 -> Gpt2Decoder.layout(c);
            case LLAMA, MISTRAL, QWEN2 -> LlamaDecoder.layout(c);
        };
    }

    /**
     * The names of the modules LoRA can adapt (every projection), as {@code target_modules} match them; known from the
     * config alone, before any weight is loaded.
     */
    public static java.util.List<String> projectionModules(TransformerConfig c) {
        return layout(c).projectionModules();
    }

    /** Randomly initialized weights with every tensor a checkpoint of this config holds (N(0, 0.02), LayerNorm 1/0). */
    public static ModelWeights random(TransformerConfig c, DataType dtype, long seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        Map<String, INDArray> w = new LinkedHashMap<>();
        CheckpointLayers.Layout layout = layout(c);
        layout.shapes().forEach((name, shape) -> {
            boolean isNorm = layout.kind(name) == CheckpointLayers.Kind.NORM;
            w.put(name, !isNorm ? normal(random, dtype, shape) : name.endsWith(".weight") ? Nd4j.ones(dtype, shape) : Nd4j.zeros(dtype, shape));
        });
        return new ModelWeights(w, "random(" + c.architecture().modelType() + ", seed " + seed + ")");
    }

    /**
     * Tensors a checkpoint may hold beyond the body's: BERT's pooler (dense + tanh over [CLS]), which sentence-embedding
     * exports drop and the Hugging Face classification head uses.
     */
    public static Map<String, long[]> optionalShapes(TransformerConfig c) {
        return c.architecture() == Architecture.BERT ? new CheckpointLayers.Layout().linear("pooler.dense", c.hiddenSize(), c.hiddenSize()).shapes() : Map.of();
    }

    /** Fails, naming the tensor, unless every tensor of this shape is present with the right shape (optional ones when present). */
    public void checkComplete(TransformerConfig c) {
        expectedShapes(c).forEach(this::require);
        expectedShapes(c).forEach((name, shape) -> {
            String scale = name.substring(0, name.length() - ".weight".length()) + SCALE_SUFFIX;
            boolean int8 = tensors.get(name).dataType() == DataType.BYTE;
            boolean projection = layout(c).kind(name) == CheckpointLayers.Kind.PROJECTION && !c.architecture().inByOutWeights();
            if (int8 != contains(scale) || int8 && !projection) {
                throw new IllegalArgumentException(source + ": " + name + (int8 ? " is int8, which only a projection stored [out, in] with its "
                        + SCALE_SUFFIX + " may be" : " is not int8 but has a " + SCALE_SUFFIX));
            }
            if (int8) require(scale, shape[0]);
        });
        optionalShapes(c).forEach((name, shape) -> {
            if (contains(name) && require(name, shape).dataType() == DataType.BYTE) {
                throw new IllegalArgumentException(source + ": " + name + " is int8; a head's starting weights must be float");
            }
        });
    }

    private static INDArray normal(java.util.SplittableRandom r, DataType dt, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        if (dt == DataType.FLOAT) { // the same values as the double path rounded, without a model's worth of doubles on the heap
            float[] v = new float[Math.toIntExact(n)];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.02 * gaussian(r));
            return Nd4j.createFromArray(v).reshape('c', shape);
        }
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = 0.02 * gaussian(r);
        return Nd4j.createFromArray(v).castTo(dt).reshape('c', shape);
    }

    private static double gaussian(java.util.SplittableRandom r) {
        return Math.sqrt(-2.0 * Math.log(1.0 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
