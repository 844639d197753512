package io.lorafleet.nn;

import java.util.List;
import java.util.Map;

/**
 * Which modules get a LoRA adapter and how (Hu et al. 2021; field names follow PEFT's LoraConfig).
 *
 * @param r              rank of the update B·A
 * @param alpha          scale numerator: the update is scaled by alpha/r (or alpha/sqrt(r) with rsLora)
 * @param dropout        dropout probability on the input of A during training
 * @param targetModules  module names to adapt; a module matches when its full name equals a target
 *                       or ends with "." + target (PEFT's rule)
 * @param rsLora         rank-stabilized scaling alpha/sqrt(r) (Kalajdzievski 2023)
 * @param init           how A starts; B always starts at zero so that the adapted model equals the base
 * @param rankPattern    per-module rank overrides, matched like targetModules
 * @param alphaPattern   per-module alpha overrides, matched like targetModules
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean rsLora,
                         Init init, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {
    public enum Init { KAIMING_UNIFORM, GAUSSIAN }

    public LoraConfig {
        if (r <= 0) throw new IllegalArgumentException("lora.r must be > 0, got " + r);
        if (!(alpha > 0)) throw new IllegalArgumentException("lora.alpha must be > 0, got " + alpha);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora.dropout must be in [0, 1), got " + dropout);
        targetModules = List.copyOf(targetModules);
        rankPattern = Map.copyOf(rankPattern);
        alphaPattern = Map.copyOf(alphaPattern);
        rankPattern.forEach((k, v) -> {
            if (v <= 0) throw new IllegalArgumentException("lora.rank_pattern." + k + " must be > 0, got " + v);
        });
    }

    public static LoraConfig of(int r, double alpha, List<String> targetModules) {
        return new LoraConfig(r, alpha, 0.0, targetModules, false, Init.KAIMING_UNIFORM, Map.of(), Map.of());
    }

    public boolean targets(String module) {
        return targetModules.stream().anyMatch(t -> matches(module, t));
    }

    public int rankFor(String module) {
        return rankPattern.entrySet().stream().filter(e -> matches(module, e.getKey()))
                .map(Map.Entry::getValue).findFirst().orElse(r);
    }

    public double alphaFor(String module) {
        return alphaPattern.entrySet().stream().filter(e -> matches(module, e.getKey()))
                .map(Map.Entry::getValue).findFirst().orElse(alpha);
    }

    public double scaleFor(String module) {
        int rank = rankFor(module);
        return rsLora ? alphaFor(module) / Math.sqrt(rank) : alphaFor(module) / rank;
    }

    public Initializer initializerOfA(String module) {
        return init == Init.GAUSSIAN ? Initializer.gaussian(1.0 / rankFor(module)) : Initializer.KAIMING_UNIFORM;
    }

    /** PEFT's rule: a module matches a target when its full name equals it or ends with "." + target. */
    public static boolean matches(String module, String target) {
        return module.equals(target) || module.endsWith("." + target);
    }
}
