package io.lorafleet.spark;

import io.lorafleet.datasets.TextTokenizer;

import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;

/** Per-executor-JVM objects that are expensive to build and safe to share between tasks: built once, kept. */
final class ExecutorCache {
    private static final ConcurrentHashMap<String, TextTokenizer> TOKENIZERS = new ConcurrentHashMap<>();

    private ExecutorCache() { }

    static TextTokenizer tokenizer(byte[] json, int maxLength, String source) throws IOException {
        String key = TextTokenizer.sha256(json) + "/" + maxLength;
        TextTokenizer cached = TOKENIZERS.get(key);
        if (cached != null) return cached;
        synchronized (TOKENIZERS) {
            cached = TOKENIZERS.get(key);
            if (cached == null) {
                cached = TextTokenizer.fromJson(json, maxLength, source);
                TOKENIZERS.put(key, cached);
            }
            return cached;
        }
    }
}
