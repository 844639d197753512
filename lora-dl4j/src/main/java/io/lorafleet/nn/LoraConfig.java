package io.lorafleet.nn;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Which modules get a LoRA adapter and how (Hu et al. 2021; field names follow PEFT's LoraConfig). A config
 * file's {@code lora:} block binds to it directly ({@link #withDefaults}: what it leaves out takes PEFT's defaults).
 *
 * @param r              rank of the update B·A
 * @param alpha          scale numerator: the update is scaled by alpha/r (or alpha/sqrt(r) with rsLora)
 * @param dropout        dropout probability on the input of A during training
 * @param targetModules  module names to adapt; a module matches when its full name equals a target
 *                       or ends with "." + target (PEFT's rule); or just {@value #ALL_LINEAR}: every projection
 * @param rsLora         rank-stabilized scaling alpha/sqrt(r) (Kalajdzievski 2023)
 * @param init           how A and B start: A random (Kaiming-uniform or Gaussian) and B at zero, or both from W's own
 *                       top singular directions (PiSSA) or QR factors (OLoRA), that part then taken out of the
 *                       frozen base; either way the adapted model starts equal to the base
 * @param rankPattern    per-module rank overrides, as PEFT reads them: each key is a regular expression matched
 *                       against the whole module name or a part of it after a dot, and the first key in the
 *                       map's order that matches wins (the YAML and adapter_config.json order, kept)
 * @param alphaPattern   per-module alpha overrides, matched like rankPattern
 * @param useDora        DoRA (PEFT's use_dora): a trainable magnitude per output row times the direction of W + s·B·A
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean rsLora,
                         Init init, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern,
                         @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean useDora) implements Serializable {
    public enum Init {
        KAIMING_UNIFORM, GAUSSIAN, PISSA, OLORA;

        /** PEFT's init_lora_weights values: true (its default, Kaiming-uniform A), "gaussian", "pissa", "olora"; null is the default. */
        public static Init parse(String value) {
            String v = value == null ? "true" : value.toLowerCase(Locale.ROOT);
            if (v.startsWith("pissa_niter_")) {
                throw new IllegalArgumentException("lora.init: '" + value + "' (PiSSA by randomized SVD) is not offered; 'pissa' computes the exact SVD");
            }
            return switch (v) {
                case "true", "kaiming", "kaiming_uniform" -> KAIMING_UNIFORM;
                case "gaussian" -> GAUSSIAN;
                case "pissa" -> PISSA;
                case "olora" -> OLORA;
                default -> throw new IllegalArgumentException("lora.init: '" + value + "' is not kaiming, gaussian, pissa or olora");
            };
        }

        /** Whether A and B start from a part of W that is taken out of the base. */
        public boolean fromWeight() {
            return this == PISSA || this == OLORA;
        }
    }

    /** PEFT's target_modules value for every linear layer but the output head. */
    public static final String ALL_LINEAR = "all-linear";

    public LoraConfig {
        if (targetModules.contains(ALL_LINEAR) && targetModules.size() > 1) {
            throw new IllegalArgumentException("lora.target_modules: '" + ALL_LINEAR + "' stands alone, got " + targetModules);
        }
        if (r <= 0) throw new IllegalArgumentException("lora.r must be > 0, got " + r);
        if (!(alpha > 0)) throw new IllegalArgumentException("lora.alpha must be > 0, got " + alpha);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora.dropout must be in [0, 1), got " + dropout);
        targetModules = List.copyOf(targetModules);
        rankPattern = ordered(rankPattern, "rank_pattern");
        alphaPattern = ordered(alphaPattern, "alpha_pattern");
        rankPattern.forEach((k, v) -> {
            if (v <= 0) throw new IllegalArgumentException("lora.rank_pattern." + k + " must be > 0, got " + v);
        });
        if (init.fromWeight() && rsLora && !(rankPattern.isEmpty() && alphaPattern.isEmpty())) {
            // the export doubles r and alpha, which keeps alpha/sqrt(r) per module only without patterns (PEFT refuses it too)
            throw new IllegalArgumentException("lora.init: " + init + " with rs_lora cannot be combined with rank_pattern or alpha_pattern");
        }
    }

    /** The settings as a config file gives them, any of them left out (null) but target_modules: PEFT's defaults (r 8, lora_alpha 8). */
    @JsonCreator
    public static LoraConfig withDefaults(@JsonProperty("r") Integer r, @JsonProperty("alpha") Double alpha, @JsonProperty("dropout") Double dropout,
                                          @JsonProperty("target_modules") @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY) List<String> targetModules, @JsonProperty("rs_lora") Boolean rsLora,
                                          @JsonProperty("init") String init, @JsonProperty("rank_pattern") Map<String, Integer> rankPattern,
                                          @JsonProperty("alpha_pattern") Map<String, Double> alphaPattern, @JsonProperty("use_dora") Boolean useDora) {
        if (targetModules == null || targetModules.isEmpty()) throw new IllegalArgumentException("lora.target_modules: required, e.g. [query, value]");
        return new LoraConfig(r == null ? 8 : r, alpha == null ? 8.0 : alpha, dropout == null ? 0.0 : dropout, targetModules, rsLora != null && rsLora,
                Init.parse(init), rankPattern == null ? Map.of() : rankPattern, alphaPattern == null ? Map.of() : alphaPattern,
                useDora != null && useDora);
    }

    public static LoraConfig of(int r, double alpha, List<String> targetModules) {
        return new LoraConfig(r, alpha, 0.0, targetModules, false, Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
    }

    /**
     * The plain-LoRA settings of an adapter that started from W, as PEFT's converted export describes it (its
     * {@code path_initial_model_for_weight_conversion}): A' = [A; A₀] and B' = [B, −B₀] have twice the rank, alpha
     * doubles with them (by √2 under rsLoRA) so the scale stays, and they load onto the original base.
     */
    public LoraConfig convertedFromWeight() {
        if (!init.fromWeight()) return this;
        Map<String, Integer> ranks = new java.util.LinkedHashMap<>();
        rankPattern.forEach((k, v) -> ranks.put(k, 2 * v));
        Map<String, Double> alphas = new java.util.LinkedHashMap<>();
        alphaPattern.forEach((k, v) -> alphas.put(k, 2 * v));
        return new LoraConfig(2 * r, rsLora ? alpha * Math.sqrt(2) : 2 * alpha, dropout, targetModules, rsLora, Init.KAIMING_UNIFORM, ranks, alphas, useDora);
    }

    public boolean targets(String module) {
        return targetModules.stream().anyMatch(t -> matches(module, t));
    }

    public int rankFor(String module) {
        return rankPattern.entrySet().stream().filter(e -> patternMatches(module, e.getKey()))
                .map(Map.Entry::getValue).findFirst().orElse(r);
    }

    public double alphaFor(String module) {
        return alphaPattern.entrySet().stream().filter(e -> patternMatches(module, e.getKey()))
                .map(Map.Entry::getValue).findFirst().orElse(alpha);
    }

    /** PEFT's {@code get_pattern_key}: {@code re.match(rf"(.*\.)?({key})$", module)}. */
    public static boolean patternMatches(String module, String key) {
        return java.util.regex.Pattern.compile("(.*\\.)?(" + key + ")$").matcher(module).lookingAt();
    }

    /** An unmodifiable copy that keeps the given order (the first matching key wins), with every key a valid regex. */
    private static <V> Map<String, V> ordered(Map<String, V> pattern, String name) {
        Map<String, V> copy = new java.util.LinkedHashMap<>();
        pattern.forEach((k, v) -> {
            try {
                java.util.regex.Pattern.compile(k);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new IllegalArgumentException("lora." + name + ": '" + k + "' is not a regular expression: " + e.getDescription());
            }
            copy.put(java.util.Objects.requireNonNull(k), java.util.Objects.requireNonNull(v, "lora." + name + "." + k));
        });
        return java.util.Collections.unmodifiableMap(copy);
    }

    public double scaleFor(String module) {
        int rank = rankFor(module);
        return rsLora ? alphaFor(module) / Math.sqrt(rank) : alphaFor(module) / rank;
    }

    /** A's random start (PiSSA and OLoRA start A from W: {@link WeightDecomposition}). */
    public Initializer initializerOfA(String module) {
        return init == Init.GAUSSIAN ? Initializer.gaussian(1.0 / rankFor(module)) : Initializer.KAIMING_UNIFORM;
    }

    /**
     * Fails, naming the key, when a target or a rank/alpha pattern key matches none of {@code modules} (a model's
     * projection modules): PEFT only warns about a pattern that adapts nothing, and a typo there would silently train
     * at the default rank.
     */
    public void requireMatches(List<String> modules, String model) {
        for (String target : targetModules) {
            if (modules.stream().noneMatch(m -> matches(m, target))) {
                throw new IllegalArgumentException("lora.target_modules: '" + target + "' matches no module of " + model + "; its modules are e.g. "
                        + modules.subList(0, Math.min(6, modules.size())));
            }
        }
        List<String> targeted = modules.stream().filter(this::targets).toList();
        for (var pattern : List.of(Map.entry("rank_pattern", rankPattern.keySet()), Map.entry("alpha_pattern", alphaPattern.keySet()))) {
            for (String key : pattern.getValue()) {
                if (targeted.stream().noneMatch(m -> patternMatches(m, key))) {
                    throw new IllegalArgumentException("lora." + pattern.getKey() + ": '" + key + "' matches no targeted module; targeted modules are e.g. "
                            + targeted.subList(0, Math.min(4, targeted.size())));
                }
            }
        }
    }

    /** Whether target_modules is PEFT's {@value #ALL_LINEAR}. */
    public boolean allLinear() {
        return targetModules.equals(List.of(ALL_LINEAR));
    }

    /**
     * PEFT's rule: a module matches a target when its full name equals it or ends with "." + target; every module
     * matches {@value #ALL_LINEAR} (the modules asked about are projections: no LM head or classifier among them).
     */
    public static boolean matches(String module, String target) {
        return target.equals(ALL_LINEAR) || module.equals(target) || module.endsWith("." + target);
    }
}
