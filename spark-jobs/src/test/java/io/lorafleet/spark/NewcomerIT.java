package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a newcomer does first, as CI must prove it: in a clean copy of this checkout (its tracked and new files;
 * no runs/, no target/), with a terminal's TERM set, {@code deploy/bin/lorafleet demo --quick} builds the
 * distribution itself, imports the real all-MiniLM-L6-v2 from its Maven jar, and runs every stage of the demo.
 * Nothing of ours may be installed into ~/.m2 on the way, and the console carries only lines a user can act on.
 */
class NewcomerIT {
    @TempDir
    Path tmp;

    @Test
    void quickDemoRunsFromACleanCopyOfTheCheckout() throws Exception {
        Path checkout = tmp.resolve("checkout");
        copyCheckout(Launcher.ROOT, checkout);
        Path ourArtifacts = Path.of(System.getProperty("user.home"), ".m2/repository/io/lorafleet");
        FileTime started = FileTime.fromMillis(System.currentTimeMillis());

        Map<String, String> env = new HashMap<>();
        env.put("TERM", "xterm-256color");
        Launcher.Result r = Launcher.run(checkout, tmp.resolve("logs"), env, 30, "demo", "--quick");
        System.out.println(r);

        assertEquals(0, r.exitCode(), r.toString());
        assertFalse(r.both().contains("\u001b"), "no escape bytes with TERM set and no terminal\n" + r);
        for (String line : r.stderr().lines().toList()) {
            assertTrue(line.startsWith("lorafleet: "), "only the launcher's own lines on stderr (building, importing), not: " + line);
        }
        assertTrue(r.stderr().contains("lorafleet: building") && r.stderr().contains("lorafleet: importing"), r.toString());
        for (String line : r.stdout().lines().toList()) {
            assertTrue(line.startsWith("[") && line.contains(" lorafleet ") || line.startsWith("imported "), "one prefixed line per event: " + line);
        }

        Path demo = checkout.resolve("runs/demo");
        JsonNode test = YamlConfig.json().readTree(demo.resolve("test-metrics.json").toFile());
        for (String adapter : List.of("imdb", "brown")) {
            assertTrue(test.get(adapter).get("accuracy").isNumber(), adapter + " test accuracy in test-metrics.json");
            assertTrue(r.stdout().contains(adapter + ": test accuracy"), r.stdout());
            for (String f : List.of("adapter_model.safetensors", "adapter_config.json", "lorafleet.json", "_COMPLETE")) {
                assertTrue(Files.exists(demo.resolve("adapters").resolve(adapter).resolve(f)), adapter + "/" + f);
            }
        }
        double imdb = test.get("imdb").get("accuracy").asDouble();
        assertTrue(imdb > 0.6, "one epoch of the real IMDB sample learns (chance is 0.5): test accuracy " + imdb);
        double brown = test.get("brown").get("accuracy").asDouble();
        assertTrue(brown > 0.18, "a quarter epoch of Brown beats always answering the largest genre (0.18): " + brown);
        assertTrue(Files.exists(demo.resolve("report.html")) && Files.exists(demo.resolve("shards/manifest.json")));
        try (Stream<Path> files = Files.walk(checkout.resolve("runs"))) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().endsWith(".crc")).toList(), "no Hadoop .crc sidecars on local disk");
        }

        // a source newer than the distribution rebuilds it before the next command; an unchanged checkout does not
        Path source = checkout.resolve("spark-jobs/src/main/java/io/lorafleet/spark/Demo.java");
        Files.setLastModifiedTime(source, FileTime.fromMillis(System.currentTimeMillis() + 2000));
        Thread.sleep(2500);
        Launcher.Result stale = Launcher.run(checkout, tmp.resolve("logs"), env, 15, "demo", "--dry-run");
        assertEquals(0, stale.exitCode(), stale.toString());
        assertTrue(stale.stderr().contains("lorafleet: building"), "a changed source is built before it runs\n" + stale);
        Launcher.Result fresh = Launcher.run(checkout, tmp.resolve("logs"), env, 5, "demo", "--dry-run");
        assertEquals("", fresh.stderr(), "nothing changed, nothing built\n" + fresh);

        if (Files.exists(ourArtifacts)) {
            try (Stream<Path> files = Files.walk(ourArtifacts)) {
                assertEquals(List.of(), files.filter(f -> modifiedAfter(f, started)).toList(), "nothing of ours installed into ~/.m2");
            }
        }
    }

    /** The files git knows or would add (tracked, and new ones not ignored), as a fresh clone of this tree would have them. */
    static void copyCheckout(Path from, Path to) throws IOException, InterruptedException {
        Process git = new ProcessBuilder("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").directory(from.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String listing = new String(git.getInputStream().readAllBytes());
        assertEquals(0, git.waitFor(), "git ls-files in " + from);
        for (String name : listing.split("\0")) {
            Path source = from.resolve(name);
            if (name.isEmpty() || !Files.isRegularFile(source)) continue;
            Path target = to.resolve(name);
            Files.createDirectories(target.getParent());
            Files.copy(source, target, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    private static boolean modifiedAfter(Path f, FileTime t) {
        try {
            return Files.getLastModifiedTime(f).compareTo(t) > 0;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
