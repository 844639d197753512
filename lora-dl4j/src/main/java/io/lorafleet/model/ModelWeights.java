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

    /** Randomly initialized weights with every tensor a checkpoint of this config holds (N(0, 0.02), LayerNorm 1/0). */
    public static ModelWeights random(TransformerConfig c, DataType dtype, long seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        Map<String, INDArray> w = new LinkedHashMap<>();
        int d = c.hiddenSize(), f = c.intermediateSize();
        if (c.modelType().equals("bert")) {
            w.put("embeddings.word_embeddings.weight", normal(random, dtype, c.vocabSize(), d));
            w.put("embeddings.position_embeddings.weight", normal(random, dtype, c.maxPositions(), d));
            w.put("embeddings.token_type_embeddings.weight", normal(random, dtype, Math.max(c.typeVocabSize(), 1), d));
            norm(w, "embeddings.LayerNorm", dtype, d);
            for (int i = 0; i < c.numLayers(); i++) {
                String p = "encoder.layer." + i + ".";
                for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
                    linear(w, random, p + m, dtype, d, d);
                }
                norm(w, p + "attention.output.LayerNorm", dtype, d);
                linear(w, random, p + "intermediate.dense", dtype, f, d);
                linear(w, random, p + "output.dense", dtype, d, f);
                norm(w, p + "output.LayerNorm", dtype, d);
            }
        } else {
            w.put("wte.weight", normal(random, dtype, c.vocabSize(), d));
            w.put("wpe.weight", normal(random, dtype, c.maxPositions(), d));
            for (int i = 0; i < c.numLayers(); i++) {
                String p = "h." + i + ".";
                norm(w, p + "ln_1", dtype, d);
                conv1d(w, random, p + "attn.c_attn", dtype, d, 3 * d);
                conv1d(w, random, p + "attn.c_proj", dtype, d, d);
                norm(w, p + "ln_2", dtype, d);
                conv1d(w, random, p + "mlp.c_fc", dtype, d, f);
                conv1d(w, random, p + "mlp.c_proj", dtype, f, d);
            }
            norm(w, "ln_f", dtype, d);
        }
        return new ModelWeights(w, "random(" + c.modelType() + ", seed " + seed + ")");
    }

    private static void linear(Map<String, INDArray> w, java.util.SplittableRandom r, String name, DataType dt, int out, int in) {
        w.put(name + ".weight", normal(r, dt, out, in));
        w.put(name + ".bias", normal(r, dt, out));
    }

    private static void conv1d(Map<String, INDArray> w, java.util.SplittableRandom r, String name, DataType dt, int in, int out) {
        w.put(name + ".weight", normal(r, dt, in, out)); // GPT-2's Conv1D stores [in, out]
        w.put(name + ".bias", normal(r, dt, out));
    }

    private static void norm(Map<String, INDArray> w, String name, DataType dt, int d) {
        w.put(name + ".weight", Nd4j.ones(dt, d));
        w.put(name + ".bias", Nd4j.zeros(dt, d));
    }

    private static INDArray normal(java.util.SplittableRandom r, DataType dt, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = 0.02 * gaussian(r);
        return Nd4j.createFromArray(v).castTo(dt).reshape('c', shape);
    }

    private static double gaussian(java.util.SplittableRandom r) {
        return Math.sqrt(-2.0 * Math.log(1.0 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
