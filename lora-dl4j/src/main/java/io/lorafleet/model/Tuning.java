package io.lorafleet.model;

import io.lorafleet.nn.AdapterDelta;
import io.lorafleet.nn.AdapterRows;
import io.lorafleet.nn.DoraDelta;
import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraDelta;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.MultiLoraLinear;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.Projection;
import io.lorafleet.nn.WeightDecomposition;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Decides, while a model is built, which pretrained tensors stay frozen and what is trained: one LoRA
 * adapter, several adapters sharing one frozen body (each on its own rows of a fused batch), or full
 * fine-tuning (every pretrained tensor trainable). Each adapter's tensors go into its own
 * {@link ParamRegistry}, named as they would be in a single-adapter model.
 */
public final class Tuning {
    /** One adapter: its settings, its trainable tensors, its seed, and its deltas in module order. */
    private record Adapter(LoraConfig lora, ParamRegistry registry, long seed, List<AdapterDelta> deltas) { }

    private final List<Adapter> adapters;     // empty for full fine-tuning
    private final ParamRegistry fullRegistry; // full fine-tuning only
    private final AdapterRows rows;           // set when several adapters share the body
    private final List<LoraLinear> loraLayers = new ArrayList<>();
    private final List<String> modules = new ArrayList<>();

    private Tuning(List<Adapter> adapters, ParamRegistry fullRegistry, AdapterRows rows) {
        this.adapters = adapters;
        this.fullRegistry = fullRegistry;
        this.rows = rows;
    }

    public static Tuning lora(LoraConfig lora, ParamRegistry registry, long seed) {
        return new Tuning(List.of(new Adapter(lora, registry, seed, new ArrayList<>())), null, null);
    }

    /** Adapter k gets {@code loras[k]}, {@code registries[k]} and {@code seeds[k]}; {@code rows} says which rows are whose. */
    public static Tuning multiLora(List<LoraConfig> loras, List<ParamRegistry> registries, long[] seeds, AdapterRows rows) {
        if (loras.size() != registries.size() || loras.size() != seeds.length || loras.size() != rows.adapters()) {
            throw new IllegalArgumentException("per-adapter lists differ in length");
        }
        List<Adapter> adapters = new ArrayList<>();
        for (int k = 0; k < loras.size(); k++) adapters.add(new Adapter(loras.get(k), registries.get(k), seeds[k], new ArrayList<>()));
        return new Tuning(adapters, null, rows);
    }

    public static Tuning fullFineTuning(ParamRegistry registry, long seed) {
        return new Tuning(List.of(), registry, null);
    }

    /** A pretrained tensor: frozen under LoRA, trainable under full fine-tuning. */
    public Param pretrained(String name, INDArray value) {
        return fullRegistry != null ? fullRegistry.trainableCopyOf(name, value) : Param.frozen(name, value);
    }

    /** The projection of module {@code module}: weight [out, in] (int8 with a scale [out] per row, or float: scale null) and bias [out] (or null). */
    public Projection projection(String module, INDArray weight, INDArray scale, INDArray bias) {
        modules.add(module);
        if (scale != null && fullRegistry != null) throw new IllegalArgumentException(module + ": full fine-tuning needs a float model, this one is int8");
        Linear base = new Linear(pretrained(module + ".weight", weight), scale, bias == null ? null : pretrained(module + ".bias", bias));
        List<AdapterDelta> deltas = new ArrayList<>();
        for (Adapter adapter : adapters) deltas.add(adapter.lora().targets(module) ? delta(adapter, module, base) : null);
        if (deltas.stream().allMatch(java.util.Objects::isNull)) return base;
        if (rows != null) return new MultiLoraLinear(base, deltas, rows);
        LoraLinear layer = new LoraLinear(base, deltas.get(0));
        loraLayers.add(layer);
        return layer;
    }

    /**
     * Adapter {@code adapter}'s A and B for a module (from W itself under PiSSA and OLoRA, whose cost is one SVD or QR
     * of W per module and model build: {@link WeightDecomposition}), and under DoRA its magnitude, which starts at W's
     * row norms.
     */
    private static AdapterDelta delta(Adapter adapter, String module, Linear base) {
        LoraConfig lora = adapter.lora();
        int r = lora.rankFor(module);
        double scale = lora.scaleFor(module);
        // W itself only where it decides the start (an int8 W's is a widened copy)
        INDArray weight = lora.init().fromWeight() || lora.useDora() ? base.weightValue() : null;
        WeightDecomposition.Part start = switch (lora.init()) {
            case PISSA -> WeightDecomposition.pissa(weight, r, scale);
            case OLORA -> WeightDecomposition.olora(weight, r);
            default -> null;
        };
        Param a = adapter.registry().trainable(module + LoraDelta.A_SUFFIX, new long[] {r, base.inFeatures()},
                start == null ? lora.initializerOfA(module) : Initializer.copyOf(start.a()));
        Param b = adapter.registry().trainable(module + LoraDelta.B_SUFFIX, new long[] {base.outFeatures(), r},
                start == null ? Initializer.ZEROS : Initializer.copyOf(start.b()));
        LoraDelta loraDelta = new LoraDelta(a, b, start, scale, lora.dropout(), adapter.seed() ^ module.hashCode());
        AdapterDelta delta = loraDelta;
        if (lora.useDora()) {
            delta = new DoraDelta(base, loraDelta, adapter.registry().trainable(module + DoraDelta.MAGNITUDE_SUFFIX, new long[] {base.outFeatures()},
                    Initializer.copyOf(DoraDelta.rowNorms(weight))));
        }
        adapter.deltas().add(delta);
        return delta;
    }

    /** A freshly initialized trainable tensor of adapter {@code adapter} (0 when there is one): a task head. */
    public Param head(int adapter, String name, long[] shape, Initializer init) {
        return registry(adapter).trainable(name, shape, init);
    }

    /** Fails, naming the key, when a LoRA target or rank/alpha pattern matches no module of the model. */
    public void checkTargetsMatched() {
        for (int k = 0; k < adapters.size(); k++) {
            try {
                adapters.get(k).lora().requireMatches(modules, "the model");
            } catch (IllegalArgumentException e) {
                throw rows == null ? e : new IllegalArgumentException("adapter " + k + ": " + e.getMessage(), e);
            }
        }
    }

    /** The single-adapter model's LoRA layers (empty when several adapters share the body). */
    public List<LoraLinear> loraLayers() { return Collections.unmodifiableList(loraLayers); }

    /** Adapter k's deltas, in module order. */
    public List<AdapterDelta> deltas(int adapter) { return Collections.unmodifiableList(adapters.get(adapter).deltas()); }

    /** Adapter k's LoRA settings, or null under full fine-tuning. */
    public LoraConfig lora(int adapter) {
        return adapters.isEmpty() ? null : adapters.get(adapter).lora();
    }

    /** The trainable tensors: of the one adapter, or of full fine-tuning. */
    public ParamRegistry registry() { return registry(0); }

    public ParamRegistry registry(int adapter) {
        return fullRegistry != null ? fullRegistry : adapters.get(adapter).registry();
    }
}
