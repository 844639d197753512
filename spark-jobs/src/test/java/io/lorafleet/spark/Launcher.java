package io.lorafleet.spark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** deploy/bin/lorafleet run as a user runs it, from a checkout: exit code, stdout and stderr apart, wall time. */
final class Launcher {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    record Result(int exitCode, String stdout, String stderr, double seconds) {
        String both() {
            return stdout + stderr;
        }

        @Override
        public String toString() {
            return "exit " + exitCode + " after " + seconds + " s\n--- stdout\n" + stdout + "--- stderr\n" + stderr;
        }
    }

    private Launcher() { }

    /** @param env variables to set (a null value removes the variable) */
    static Result run(Path checkout, Path logs, Map<String, String> env, long timeoutMinutes, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(checkout.resolve("deploy/bin/lorafleet").toString()));
        command.addAll(List.of(args));
        Files.createDirectories(logs);
        Path out = Files.createTempFile(logs, "stdout-", ".log"), err = Files.createTempFile(logs, "stderr-", ".log");
        ProcessBuilder pb = new ProcessBuilder(command).directory(checkout.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        env.forEach((k, v) -> {
            if (v == null) pb.environment().remove(k);
            else pb.environment().put(k, v);
        });
        long started = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(timeoutMinutes, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError("lorafleet " + String.join(" ", args) + " did not finish in " + timeoutMinutes + " min; stderr:\n"
                    + Files.readString(err, StandardCharsets.UTF_8));
        }
        double seconds = Math.round((System.nanoTime() - started) / 1e7) / 100.0;
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8), seconds);
    }
}
