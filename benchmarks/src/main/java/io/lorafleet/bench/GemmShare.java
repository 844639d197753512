package io.lorafleet.bench;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The share of a thread's time spent in matrix products, sampled by JDK Flight Recorder: every 10 ms the
 * thread's stack, whether it runs Java code or native code (OpenBLAS, ND4J's ops). A sample counts as
 * gemm when its stack passes through {@code Nd4j.gemm} or {@code Nd4j.matmul}, the only two ways the
 * engine multiplies matrices.
 */
final class GemmShare {
    private GemmShare() { }

    /** Runs {@code work} under the recorder and returns the fraction of the calling thread's samples inside gemm. */
    static double of(Runnable work) throws IOException {
        Path file = Files.createTempFile("lorafleet-engine", ".jfr");
        try {
            try (Recording recording = new Recording()) {
                recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
                recording.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(10));
                recording.start();
                work.run();
                recording.stop();
                recording.dump(file);
            }
            long thread = Thread.currentThread().getId(), samples = 0, gemm = 0;
            for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
                // another recording running in the JVM (-XX:StartFlightRecording) adds its events to this file
                if (!e.hasField("sampledThread")) continue;
                RecordedThread sampled = e.getThread("sampledThread");
                if (sampled == null || sampled.getJavaThreadId() != thread || e.getStackTrace() == null) continue;
                samples++;
                if (inGemm(e.getStackTrace())) gemm++;
            }
            if (samples == 0) throw new IllegalStateException("the flight recorder took no samples of the benchmark thread");
            return (double) gemm / samples;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static boolean inGemm(RecordedStackTrace stack) {
        for (RecordedFrame f : stack.getFrames()) {
            if (f.getMethod().getType().getName().equals("org.nd4j.linalg.factory.Nd4j")
                    && (f.getMethod().getName().equals("gemm") || f.getMethod().getName().equals("matmul"))) {
                return true;
            }
        }
        return false;
    }
}
