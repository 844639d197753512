package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.train.Trainer;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Does a LoRA training step on another ND4J backend (CUDA) give the CPU's result, and how fast is each?
 * {@code BackendCheck step OUT.json} runs the MiniLM workload of {@code lorafleet bench engine} (seeded random
 * weights and batch, LoRA r=8 on query and value, Adam) on whichever backend is on the classpath: the first
 * step's loss, gradients and updated values, then the median time of 10 steps after 3 warm-up steps.
 * {@code BackendCheck compare CPU.json OTHER.json} compares two such files and exits 1 when they differ
 * beyond float32 tolerance. {@code lorafleet bench gpu} (deploy/bench/bench.sh) runs both on a GPU host.
 */
public final class BackendCheck {
    /** Relative tolerances: float32 on another device sums in other orders (cuBLAS, reductions), nothing more. */
    private static final double LOSS_TOLERANCE = 1e-4, GRADIENT_TOLERANCE = 1e-3;

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("step")) step(Path.of(args[1]));
        else if (args.length == 3 && args[0].equals("compare")) System.exit(compare(Path.of(args[1]), Path.of(args[2])) ? 0 : 1);
        else {
            System.err.println("usage: BackendCheck step OUT.json | BackendCheck compare CPU.json OTHER.json");
            System.exit(2);
        }
    }

    private static void step(Path out) throws Exception {
        EngineShape shape = EngineShape.named("minilm");
        TokenBatch batch = EngineStep.randomBatch(shape);
        try (Trainer trainer = EngineStep.classifierTrainer(shape, false)) {
            Trainer.StepResult first = trainer.step(batch);
            float[] grads = trainer.model().params().grads().toFloatVector();
            float[] values = trainer.model().params().values().toFloatVector();
            for (int i = 0; i < 3; i++) trainer.step(batch);
            double[] ms = new double[10];
            for (int i = 0; i < ms.length; i++) {
                long t0 = System.nanoTime();
                trainer.step(batch);
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            java.util.Arrays.sort(ms);
            ObjectNode json = YamlConfig.json().createObjectNode();
            json.put("backend", Nd4j.getBackend().getClass().getSimpleName());
            json.put("loss", first.loss());
            json.put("grad_norm", first.gradNorm());
            json.put("ms_per_step", ms[ms.length / 2]);
            json.putPOJO("grads", grads);
            json.putPOJO("values", values);
            BenchmarkReport.writeFile(out, YamlConfig.json().writeValueAsString(json));
            System.out.printf(Locale.ROOT, "%s: loss %.6f, gradient norm %.6f, %.1f ms per step (median of %d) -> %s%n",
                    json.get("backend").asText(), first.loss(), first.gradNorm(), ms[ms.length / 2], ms.length, out);
        }
    }

    /** Prints how far {@code other} is from {@code reference}; true when within tolerance. */
    static boolean compare(Path reference, Path other) throws Exception {
        JsonNode a = YamlConfig.json().readTree(reference.toFile()), b = YamlConfig.json().readTree(other.toFile());
        double loss = Math.abs(a.get("loss").asDouble() - b.get("loss").asDouble()) / Math.abs(a.get("loss").asDouble());
        double grads = relativeMaxDiff(a.get("grads"), b.get("grads")), values = relativeMaxDiff(a.get("values"), b.get("values"));
        boolean same = loss <= LOSS_TOLERANCE && grads <= GRADIENT_TOLERANCE && values <= GRADIENT_TOLERANCE;
        System.out.printf(Locale.ROOT, "%s vs %s: loss %.6f vs %.6f (relative difference %.1e, tolerance %.0e)%n", a.get("backend").asText(),
                b.get("backend").asText(), a.get("loss").asDouble(), b.get("loss").asDouble(), loss, LOSS_TOLERANCE);
        System.out.printf(Locale.ROOT, "gradients: max |difference| / max |gradient| %.1e; values after one Adam step: %.1e (tolerance %.0e)%n",
                grads, values, GRADIENT_TOLERANCE);
        System.out.printf(Locale.ROOT, "step time: %.1f ms vs %.1f ms (%.2f× the reference's speed)%n", a.get("ms_per_step").asDouble(),
                b.get("ms_per_step").asDouble(), a.get("ms_per_step").asDouble() / b.get("ms_per_step").asDouble());
        System.out.println(same ? "SAME: the step matches within float32 tolerance" : "DIFFERENT: the step does not match (see above)");
        return same;
    }

    private static double relativeMaxDiff(JsonNode a, JsonNode b) {
        if (a.size() != b.size()) throw new IllegalArgumentException(a.size() + " values against " + b.size());
        double diff = 0, scale = 0;
        for (int i = 0; i < a.size(); i++) {
            diff = Math.max(diff, Math.abs(a.get(i).asDouble() - b.get(i).asDouble()));
            scale = Math.max(scale, Math.abs(a.get(i).asDouble()));
        }
        return scale == 0 ? diff : diff / scale;
    }
}
