package io.lorafleet.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.model.TokenBatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Training batches of real tokenized text, unpadded, as a JSON file that both the engine and the PyTorch
 * peer (deploy/bench/peft_engine.py) read, so that both train on exactly the same tokens.
 *
 * @param name      what the data is, e.g. "imdb, max_length 512"
 * @param maxLength the tokenizer's max_length (what padding="max_length" pads to)
 */
public record RealBatches(String name, int maxLength, List<Batch> batches) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One batch: each sequence's token ids (special tokens included, no padding) and its class label. */
    public record Batch(int[][] sequences, int[] labels) {
        public int longest() {
            int t = 0;
            for (int[] s : sequences) t = Math.max(t, s.length);
            return t;
        }

        /** The batch padded at the end of each sequence to {@code seqLen} tokens. */
        public TokenBatch padded(int seqLen) {
            int b = sequences.length;
            int[] ids = new int[b * seqLen], mask = new int[b * seqLen];
            for (int i = 0; i < b; i++) {
                System.arraycopy(sequences[i], 0, ids, i * seqLen, sequences[i].length);
                java.util.Arrays.fill(mask, i * seqLen, i * seqLen + sequences[i].length, 1);
            }
            return new TokenBatch(b, seqLen, ids, null, mask, labels);
        }
    }

    public long realTokens() {
        long n = 0;
        for (Batch b : batches) for (int[] s : b.sequences()) n += s.length;
        return n;
    }

    public static RealBatches read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), RealBatches.class);
    }

    public void write(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        JSON.writeValue(file.toFile(), this);
    }
}
