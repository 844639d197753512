package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.TaskModel;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.DoraDelta;
import io.lorafleet.nn.HeldOps;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraDelta;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.Param;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A LoRA adapter in Hugging Face PEFT's format, so PEFT, vLLM and LoRAX load it:
 * {@code adapter_model.safetensors} (F32, metadata {"format": "pt"}) and {@code adapter_config.json},
 * plus our {@code lorafleet.json} (what it was trained from) and {@code metrics.json}, and
 * {@code _COMPLETE} written last: a folder without it is refused.
 *
 * <p>Tensor names follow PEFT's {@code get_peft_model_state_dict}: the parameter's path in the PEFT-wrapped
 * Hugging Face task model, {@code base_model.model.<module path>.lora_A.weight}, with the adapter name
 * ({@code .default}) removed. The task model nests the body under {@code bert.} (BertForSequenceClassification)
 * or {@code transformer.} (GPT2LMHeadModel / GPT2ForSequenceClassification) or {@code model.} (LlamaForCausalLM and
 * its kin). A trained head is a PEFT
 * {@code modules_to_save} entry, saved as {@code base_model.model.classifier.weight} (PEFT strips
 * {@code modules_to_save.<adapter>.} from those keys). lora_A is [r, in] and lora_B [out, r] in every case;
 * GPT-2's Conv1D stores W as [in, out], which PEFT records as {@code fan_in_fan_out: true}. DoRA's magnitude is
 * {@code <module>.lora_magnitude_vector} [out]. An adapter that started from W (PiSSA, OLoRA) is written as PEFT's
 * converted export writes it, plain LoRA on the original base: A' = [A; A₀], B' = [B, −B₀] at twice the rank
 * ({@link LoraConfig#convertedFromWeight}).
 */
public record PeftAdapter(TaskType taskType, LoraConfig lora, List<String> modulesToSave, Map<String, INDArray> tensors, String baseModel) {
    public enum TaskType { SEQ_CLS, CAUSAL_LM }

    public static final String WEIGHTS = "adapter_model.safetensors", CONFIG = "adapter_config.json", INFO = "lorafleet.json",
            METRICS = "metrics.json", LABELS = "labels.json", COMPLETE = "_COMPLETE";
    private static final String ROOT = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The adapter's trainable tensors, by our names, taken from a model built with {@code lora}. */
    public static PeftAdapter of(TaskModel model, TaskType taskType, LoraConfig lora, String baseModel) {
        Map<String, LoraDelta> byModule = new java.util.HashMap<>();
        for (LoraLinear layer : model.loraLayers()) byModule.put(moduleOf(layer.loraA().name()), layer.delta().lora());
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        List<String> heads = new ArrayList<>();
        for (Param p : model.params().params()) {
            LoraDelta delta = byModule.get(moduleOf(p.name()));
            INDArray value = delta == null ? p.value() : p.name().endsWith(LoraDelta.A_SUFFIX) ? delta.updateA()
                    : p.name().endsWith(LoraDelta.B_SUFFIX) ? delta.updateB() : p.value();
            tensors.put(p.name(), value.dup('c'));
            if (!isLora(p.name())) {
                String module = p.name().substring(0, p.name().lastIndexOf('.'));
                if (!heads.contains(module)) heads.add(module);
            }
        }
        return new PeftAdapter(taskType, lora.convertedFromWeight(), List.copyOf(heads), tensors, baseModel);
    }

    private static boolean isLora(String name) {
        return name.endsWith(LoraDelta.A_SUFFIX) || name.endsWith(LoraDelta.B_SUFFIX) || name.endsWith(DoraDelta.MAGNITUDE_SUFFIX);
    }

    /** The module a LoRA tensor belongs to (its name without the suffix), or the name itself. */
    private static String moduleOf(String name) {
        for (String suffix : List.of(LoraDelta.A_SUFFIX, LoraDelta.B_SUFFIX, DoraDelta.MAGNITUDE_SUFFIX)) {
            if (name.endsWith(suffix)) return name.substring(0, name.length() - suffix.length());
        }
        return name;
    }

    /** The task model's prefix for body modules, as Hugging Face names them. */
    public static String bodyPrefix(TransformerConfig c) {
        return c.architecture().bodyPrefix();
    }

    /** PEFT's key for one of our tensors: the task head's modules sit beside the body, everything else (BERT's pooler too) in it. */
    public static String peftName(String ours, TransformerConfig c) {
        return ROOT + (isTaskHead(ours) ? "" : bodyPrefix(c)) + ours;
    }

    /** The task model's own head: BertForSequenceClassification's "classifier", GPT2ForSequenceClassification's "score". */
    public static boolean isTaskHead(String name) {
        return name.startsWith("classifier.") || name.startsWith("score.");
    }

    private String ourName(String peft, TransformerConfig c, String source) throws IOException {
        if (!peft.startsWith(ROOT)) throw new IOException(source + ": tensor " + peft + " does not start with " + ROOT);
        String rest = peft.substring(ROOT.length());
        return rest.startsWith(bodyPrefix(c)) ? rest.substring(bodyPrefix(c).length()) : rest;
    }

    /** adapter_config.json with PEFT's LoraConfig keys only. */
    public byte[] configJson(TransformerConfig c) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "LORA");
        o.put("task_type", taskType.name());
        o.put("base_model_name_or_path", baseModel);
        o.put("r", lora.r());
        o.put("lora_alpha", lora.alpha());
        o.put("lora_dropout", lora.dropout());
        if (lora.allLinear()) {
            o.put("target_modules", LoraConfig.ALL_LINEAR); // PEFT takes it only as a string, not a list
        } else {
            ArrayNode targets = o.putArray("target_modules");
            lora.targetModules().forEach(targets::add);
        }
        o.put("bias", "none");
        if (modulesToSave.isEmpty()) o.putNull("modules_to_save");
        else modulesToSave.forEach(o.putArray("modules_to_save")::add);
        o.put("fan_in_fan_out", c.architecture().inByOutWeights());
        o.put("use_rslora", lora.rsLora());
        o.put("use_dora", lora.useDora());
        if (lora.init() == LoraConfig.Init.GAUSSIAN) o.put("init_lora_weights", "gaussian");
        else o.put("init_lora_weights", true); // what is written is plain LoRA: convertedFromWeight()
        ObjectNode ranks = o.putObject("rank_pattern");
        lora.rankPattern().forEach(ranks::put);
        ObjectNode alphas = o.putObject("alpha_pattern");
        lora.alphaPattern().forEach(alphas::put);
        o.put("inference_mode", true);
        return JSON.writeValueAsBytes(o);
    }

    /**
     * labels.json: a classifier's {@code num_labels}, {@code id2label} and {@code label2id}, as keyword arguments for
     * transformers' and PEFT's from_pretrained (PEFT's adapter_config.json has no place for them, and a config.json in
     * the adapter folder would make transformers take the folder for a base model).
     */
    public static byte[] labelsJson(List<String> labels) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("num_labels", labels.size());
        ObjectNode id2label = o.putObject("id2label"), label2id = o.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(Integer.toString(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        return JSON.writeValueAsBytes(o);
    }

    /**
     * The base model as PEFT's loaders resolve it: a local folder as a plain path (transformers reads "file:/…" as a
     * malformed Hub id); other URIs (hdfs://, s3a://) as given, which PEFT cannot open: copy the folder locally first.
     */
    public static String loadableBase(String modelUri) {
        java.net.URI uri = java.net.URI.create(modelUri);
        return "file".equals(uri.getScheme()) ? java.nio.file.Path.of(uri).toString() : modelUri;
    }

    public byte[] weights(TransformerConfig c) throws IOException {
        Map<String, INDArray> named = new LinkedHashMap<>();
        tensors.forEach((name, value) -> named.put(peftName(name, c), value.castTo(DataType.FLOAT)));
        return SafetensorsWriter.toBytes(named, Map.of("format", "pt"));
    }

    /** Reads an adapter folder; refuses one without its completion marker or with tensors that do not fit the model. */
    public static PeftAdapter read(ModelFiles files, TransformerConfig c) throws IOException {
        requireComplete(files);
        JsonNode config = JSON.readTree(files.readAll(CONFIG));
        String source = files.describe(CONFIG);
        if (!"LORA".equals(config.path("peft_type").asText())) throw new IOException(source + ": peft_type is not LORA");
        TaskType task;
        try {
            task = TaskType.valueOf(config.path("task_type").asText());
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": task_type '" + config.path("task_type").asText() + "' is not SEQ_CLS or CAUSAL_LM");
        }
        List<String> targets = new ArrayList<>();
        JsonNode targetModules = config.path("target_modules");
        if (targetModules.isTextual() && !targetModules.asText().equals(LoraConfig.ALL_LINEAR)) {
            throw new IOException(source + ": target_modules '" + targetModules.asText() + "' is a regular expression, which we do not read; list the modules");
        }
        if (targetModules.isTextual()) targets.add(targetModules.asText());
        else targetModules.forEach(t -> targets.add(t.asText()));
        Map<String, Integer> ranks = new LinkedHashMap<>();
        config.path("rank_pattern").fields().forEachRemaining(e -> ranks.put(e.getKey(), e.getValue().asInt()));
        Map<String, Double> alphas = new LinkedHashMap<>();
        config.path("alpha_pattern").fields().forEachRemaining(e -> alphas.put(e.getKey(), e.getValue().asDouble()));
        LoraConfig lora = new LoraConfig(config.path("r").asInt(), config.path("lora_alpha").asDouble(), config.path("lora_dropout").asDouble(),
                targets, config.path("use_rslora").asBoolean(false), initOf(config.path("init_lora_weights"), source), ranks, alphas,
                config.path("use_dora").asBoolean(false));
        List<String> heads = new ArrayList<>();
        config.path("modules_to_save").forEach(m -> heads.add(m.asText()));
        PeftAdapter empty = new PeftAdapter(task, lora, List.copyOf(heads), Map.of(), config.path("base_model_name_or_path").asText(null));
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsReader reader = SafetensorsReader.open(files.open(WEIGHTS), files.describe(WEIGHTS))) {
            for (String name : reader.tensors().keySet()) tensors.put(empty.ourName(name, c, files.describe(WEIGHTS)), reader.read(name));
        }
        return new PeftAdapter(task, lora, empty.modulesToSave(), tensors, empty.baseModel());
    }

    /**
     * How a read adapter's A and B started, which only matters when the adapter is not plain LoRA on the original base:
     * PEFT saves a PiSSA, OLoRA, CorDA, LoftQ or LoRA-GA adapter without conversion as an update to a changed base (W
     * less its starting part), which would be silently wrong on the original model.
     */
    private static LoraConfig.Init initOf(JsonNode init, String source) throws IOException {
        String value = init.isMissingNode() || init.isNull() ? "true" : init.asText();
        return switch (value.toLowerCase(java.util.Locale.ROOT)) {
            case "true", "false", "eva" -> LoraConfig.Init.KAIMING_UNIFORM;
            case "gaussian" -> LoraConfig.Init.GAUSSIAN;
            default -> throw new IOException(source + ": init_lora_weights '" + value + "' means the tensors update a base model that "
                    + "initialization changed, not the original; save it from PEFT with path_initial_model_for_weight_conversion "
                    + "to get plain LoRA on the original model");
        };
    }

    /** Refuses a folder whose writer did not finish: the marker is written after every other file. */
    public static void requireComplete(ModelFiles files) throws IOException {
        if (!files.exists(COMPLETE)) {
            throw new IOException(files.describe(COMPLETE) + ": missing — the adapter folder is incomplete (a writer stopped half-way?)");
        }
    }

    /**
     * Copies the adapter's tensors into a model built with the same LoRA settings: every trainable tensor must be
     * given with its shape, and every tensor given must be one of them (a tensor the settings do not describe means
     * the config and the weights disagree).
     */
    public void loadInto(TaskModel model, String source) throws IOException {
        java.util.Set<String> unused = new java.util.TreeSet<>(tensors.keySet());
        for (Param p : model.params().params()) {
            unused.remove(p.name());
            INDArray t = tensors.get(p.name());
            if (t == null) throw new IOException(source + ": has no tensor for " + p.name());
            if (!java.util.Arrays.equals(t.shape(), p.shape())) {
                throw new IOException(source + ": " + p.name() + " is " + java.util.Arrays.toString(t.shape()) + ", but adapter_config.json (r, rank_pattern) "
                        + "gives " + java.util.Arrays.toString(p.shape()));
            }
            p.value().assign(t.castTo(p.value().dataType()));
        }
        if (!unused.isEmpty()) {
            throw new IOException(source + ": holds tensors that adapter_config.json (target_modules, modules_to_save) does not describe for this model: "
                    + String.join(", ", unused));
        }
    }

    /**
     * Folds W ← W + s·B·A into pretrained weights (DoRA: W ← m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row), in their
     * Hugging Face layout ([out, in], or [in, out] for GPT-2's Conv1D): the result is a plain model with no adapter and
     * no extra inference cost.
     */
    public void mergeInto(ModelWeights weights, TransformerConfig c) {
        for (String name : tensors.keySet()) {
            if (name.endsWith(LoraDelta.A_SUFFIX) && weights.contains(moduleOf(name) + ModelWeights.SCALE_SUFFIX)) {
                throw new IllegalArgumentException(weights.source() + ": " + moduleOf(name) + " is int8, which cannot hold a merged adapter; merge onto "
                        + "the float model the int8 one was made from (the adapter applies to it as it is)");
            }
        }
        boolean inByOut = c.architecture().inByOutWeights();
        for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
            if (!e.getKey().endsWith(LoraDelta.A_SUFFIX)) continue;
            String module = moduleOf(e.getKey());
            INDArray stored = weights.asMap().get(module + ".weight");
            INDArray a = e.getValue().castTo(stored.dataType()), b = tensors.get(module + LoraDelta.B_SUFFIX).castTo(stored.dataType());
            INDArray adapted = (inByOut ? stored.transpose() : stored).dup('c');                 // [out, in]
            Nd4j.gemm(b, a, adapted, false, false, lora.scaleFor(module), 1.0);
            INDArray magnitude = tensors.get(module + DoraDelta.MAGNITUDE_SUFFIX);
            if (magnitude != null) {
                INDArray ratio = magnitude.castTo(stored.dataType()).div(DoraDelta.rowNorms(adapted));
                HeldOps.columns(HeldOps.Op.MUL, adapted, ratio, adapted);
            }
            stored.assign(inByOut ? adapted.transpose() : adapted);
        }
    }

    /** Our tensors of the head (modules_to_save), e.g. classifier.weight / classifier.bias. */
    public Map<String, INDArray> headTensors() {
        Map<String, INDArray> head = new LinkedHashMap<>();
        tensors.forEach((name, value) -> {
            if (!isLora(name)) head.put(name, value);
        });
        return head;
    }
}
