package io.lorafleet.model;

import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.Projection;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Decides, while a model is built, which pretrained tensors stay frozen and what is trained:
 * LoRA adapters on the target modules (everything pretrained frozen), or full fine-tuning
 * (every pretrained tensor trainable). Trainable tensors go into the model's {@link ParamRegistry}.
 */
public final class Tuning {
    private final LoraConfig lora;          // null for full fine-tuning
    private final ParamRegistry registry;
    private final long seed;
    private final List<LoraLinear> loraLayers = new ArrayList<>();
    private final List<String> modules = new ArrayList<>();

    private Tuning(LoraConfig lora, ParamRegistry registry, long seed) {
        this.lora = lora;
        this.registry = registry;
        this.seed = seed;
    }

    public static Tuning lora(LoraConfig lora, ParamRegistry registry, long seed) {
        return new Tuning(lora, registry, seed);
    }

    public static Tuning fullFineTuning(ParamRegistry registry, long seed) {
        return new Tuning(null, registry, seed);
    }

    /** A pretrained tensor: frozen under LoRA, trainable under full fine-tuning. */
    public Param pretrained(String name, INDArray value) {
        return lora == null ? registry.trainableCopyOf(name, value) : Param.frozen(name, value);
    }

    /** The projection of module {@code module}: weight [out, in] and bias [out] (bias may be null). */
    public Projection projection(String module, INDArray weight, INDArray bias) {
        modules.add(module);
        Linear base = new Linear(pretrained(module + ".weight", weight), bias == null ? null : pretrained(module + ".bias", bias));
        if (lora == null || !lora.targets(module)) return base;
        int r = lora.rankFor(module);
        Param a = registry.trainable(module + ".lora_A.weight", new long[] {r, weight.size(1)}, lora.initializerOfA(module));
        Param b = registry.trainable(module + ".lora_B.weight", new long[] {weight.size(0), r}, io.lorafleet.nn.Initializer.ZEROS);
        LoraLinear layer = new LoraLinear(base, a, b, lora.scaleFor(module), lora.dropout(), seed ^ module.hashCode());
        loraLayers.add(layer);
        return layer;
    }

    /** A freshly initialized trainable tensor (a task head). */
    public Param head(String name, long[] shape, io.lorafleet.nn.Initializer init) {
        return registry.trainable(name, shape, init);
    }

    /** Fails, naming the target, when a LoRA target module matched no module of the model. */
    public void checkTargetsMatched() {
        if (lora == null) return;
        for (String target : lora.targetModules()) {
            if (modules.stream().noneMatch(m -> LoraConfig.matches(m, target))) {
                throw new IllegalArgumentException("lora.target_modules: '" + target + "' matches no module of the model; modules are e.g. "
                        + modules.subList(0, Math.min(8, modules.size())));
            }
        }
    }

    public List<LoraLinear> loraLayers() { return Collections.unmodifiableList(loraLayers); }

    public LoraConfig loraConfig() { return lora; }

    public ParamRegistry registry() { return registry; }
}
