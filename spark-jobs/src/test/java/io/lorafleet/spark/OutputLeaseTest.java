package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One writer per output: a second job is refused naming the holder; a dead holder's lease is taken only when asked. */
class OutputLeaseTest {
    @TempDir
    java.nio.file.Path tmp;

    void leasesExcludeEachOther(String out, Configuration conf) throws IOException {
        FileSystem fs = new Path(out).getFileSystem(conf);
        Path file = OutputLease.leaseFile(fs.makeQualified(new Path(out)));
        try (OutputLease first = OutputLease.acquire("train", List.of(out, out + "/_checkpoints"), conf, false)) {
            assertTrue(fs.exists(file), "the lease sits beside the output: " + file);
            IOException second = assertThrows(IOException.class, () -> OutputLease.acquire("tokenize", List.of(out), conf, false));
            assertTrue(second.getMessage().contains("is being written by lorafleet train (user " + System.getProperty("user.name"))
                    && second.getMessage().contains("pid " + ProcessHandle.current().pid()), second.getMessage());
            assertThrows(IOException.class, () -> OutputLease.acquire("export", List.of(out), conf, true), "--take-over never takes a live lease");
        }
        assertFalse(fs.exists(file), "released when the job ends");
        OutputLease.acquire("train", List.of(out), conf, false).close();

        // a holder that died: its heartbeat stops; the lease is refused until --take-over, and the old holder cannot release the new lease
        OutputLease dead = OutputLease.acquire("train", List.of(out), conf, false);
        fs.setTimes(file, System.currentTimeMillis() - (OutputLease.STALE_AFTER_SECONDS + 30) * 1000, -1);
        IOException stale = assertThrows(IOException.class, () -> OutputLease.acquire("train", List.of(out), conf, false));
        assertTrue(stale.getMessage().contains("whose heartbeat stopped") && stale.getMessage().contains("--take-over"), stale.getMessage());
        try (OutputLease taken = OutputLease.acquire("train", List.of(out), conf, true)) {
            dead.close();
            assertTrue(fs.exists(file), "the dead holder's release leaves the new holder's lease alone");
        }
        assertFalse(fs.exists(file));
    }

    @Test
    void onLocalDisk() throws IOException {
        leasesExcludeEachOther(tmp.resolve("adapters").toUri().toString(), SparkJobs.hadoopConf());
    }

    @Test
    void onHdfs() throws IOException {
        try (MiniHdfs hdfs = new MiniHdfs(tmp.resolve("hdfs"))) {
            leasesExcludeEachOther(hdfs.uri() + "/runs/adapters", hdfs.conf());
        }
    }

    @Test
    void onS3JobsStartingTogetherGetOneLeaseAndTheHeartbeatRewritesOnlyOurOwn() throws Exception {
        try (S3Proxy s3 = new S3Proxy(tmp.resolve("s3"), "leases")) {
            Configuration conf = s3.conf();
            String out = "s3a://leases/runs/adapters";
            FileSystem fs = new Path(out).getFileSystem(conf);
            Path file = OutputLease.leaseFile(fs.makeQualified(new Path(out)));

            // a look-then-write create lets several of these through; one conditional PUT lets exactly one
            int jobs = 8;
            java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(jobs);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(jobs);
            List<java.util.concurrent.Future<OutputLease>> tries = new java.util.ArrayList<>();
            for (int i = 0; i < jobs; i++) {
                tries.add(pool.submit(() -> {
                    start.await();
                    try {
                        return OutputLease.acquire("train", List.of(out), conf, false);
                    } catch (IOException refused) {
                        return null;
                    }
                }));
            }
            List<OutputLease> won = new java.util.ArrayList<>();
            for (var t : tries) if (t.get() != null) won.add(t.get());
            pool.shutdown();
            assertEquals(1, won.size(), "jobs that got the lease");
            won.get(0).close();
            assertFalse(fs.exists(file));

            // S3 cannot set a file's time: the heartbeat rewrites the lease, so a live job's lease does not look dead
            Process finished = new ProcessBuilder("true").start();
            finished.waitFor();
            OutputLease dead = OutputLease.acquire("train", List.of(out), conf, false);
            long created = fs.getFileStatus(file).getModificationTime();
            Thread.sleep(1_100); // S3 times are in whole seconds
            dead.beat();
            assertTrue(fs.getFileStatus(file).getModificationTime() > created, "the heartbeat moved the lease's time");

            // its process dies (a lease naming a finished pid); another job takes over; the dead job's late heartbeat, a
            // conditional rewrite of the object it wrote, leaves the new holder's lease alone
            String gone = "{\"job\": \"lorafleet train\", \"host\": \"" + java.net.InetAddress.getLocalHost().getHostName() + "\", \"pid\": "
                    + finished.pid() + ", \"token\": \"x\"}";
            try (var w = fs.create(file, true)) {
                w.write(gone.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            try (OutputLease taken = OutputLease.acquire("train", List.of(out), conf, true)) {
                String theirs = new String(SparkJobs.readFile(file.toString(), conf, 1 << 16, "lease"), java.nio.charset.StandardCharsets.UTF_8);
                dead.beat();
                assertEquals(theirs, new String(SparkJobs.readFile(file.toString(), conf, 1 << 16, "lease"), java.nio.charset.StandardCharsets.UTF_8));
                dead.close();
                assertTrue(fs.exists(file), "the dead holder's release leaves the new holder's lease alone");
            }
            assertFalse(fs.exists(file));
        }
    }

    /** Holds a lease on args[0] until killed: the job a test stops. */
    public static void main(String[] args) throws Exception {
        OutputLease.acquire("train", List.of(args[0]), SparkJobs.hadoopConf(), false);
        System.out.println("held");
        System.out.flush();
        Thread.sleep(120_000);
    }

    @Test
    void sigtermReleasesTheLeaseAndSigkillLeavesItForTakeOver() throws Exception {
        for (boolean kill : new boolean[] {false, true}) {
            String out = tmp.resolve(kill ? "killed" : "stopped").toUri().toString();
            Path file = OutputLease.leaseFile(new Path(out));
            Process job = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                    OutputLeaseTest.class.getName(), out).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String first = new java.io.BufferedReader(new java.io.InputStreamReader(job.getInputStream())).readLine();
            assertEquals("held", first);
            if (kill) job.destroyForcibly(); else job.destroy(); // SIGKILL, or SIGTERM as Airflow and Ctrl-C stop a task
            job.waitFor();
            java.nio.file.Path local = java.nio.file.Path.of(file.toUri());
            assertEquals(kill, java.nio.file.Files.exists(local), kill ? "SIGKILL runs no hook: the lease waits for --take-over" : "SIGTERM gives the lease back");
        }
    }

    @Test
    void allOrNone() throws IOException {
        String a = tmp.resolve("a").toUri().toString(), b = tmp.resolve("b").toUri().toString();
        Configuration conf = SparkJobs.hadoopConf();
        try (OutputLease held = OutputLease.acquire("train", List.of(b), conf, false)) {
            assertThrows(IOException.class, () -> OutputLease.acquire("train", List.of(a, b), conf, false));
            FileSystem fs = FileSystem.get(tmp.toUri(), conf);
            assertFalse(fs.exists(OutputLease.leaseFile(fs.makeQualified(new Path(a)))), "a's lease given back when b's was refused");
        }
    }

    @Test
    void aHolderWhoseProcessIsGoneFromThisHostIsDeadAtOnce() throws Exception {
        Process finished = new ProcessBuilder("true").start();
        finished.waitFor();
        String out = tmp.resolve("adapters").toUri().toString();
        Configuration conf = SparkJobs.hadoopConf();
        FileSystem fs = FileSystem.get(tmp.toUri(), conf);
        Path file = OutputLease.leaseFile(fs.makeQualified(new Path(out)));
        String lease = "{\"job\": \"lorafleet train\", \"host\": \"" + java.net.InetAddress.getLocalHost().getHostName() + "\", \"pid\": "
                + finished.pid() + ", \"token\": \"x\"}";
        java.nio.file.Files.writeString(java.nio.file.Path.of(file.toUri()), lease); // fresh heartbeat, dead process: a kill -9 a second ago
        IOException e = assertThrows(IOException.class, () -> OutputLease.acquire("train", List.of(out), conf, false));
        assertTrue(e.getMessage().contains("whose process is gone from this host") && e.getMessage().contains("--take-over"), e.getMessage());
        OutputLease.acquire("train", List.of(out), conf, true).close();
        assertFalse(fs.exists(file));
    }

    @Test
    void aLeaseCoversWhatIsInsideItsOutputAndLeasesSideBySideDoNotCollide() throws IOException {
        Configuration conf = SparkJobs.hadoopConf();
        String run = tmp.resolve("runs/demo").toUri().toString(), adapter = run + "/adapters/imdb", other = run + "/adapters/brown";
        try (OutputLease demo = OutputLease.acquire("demo", List.of(run), conf, true)) {
            IOException inner = assertThrows(IOException.class, () -> OutputLease.acquire("train", List.of(adapter), conf, false));
            assertTrue(inner.getMessage().contains("is being written by lorafleet demo") && inner.getMessage().contains("holds or is inside ours"),
                    inner.getMessage());
        }
        try (OutputLease imdb = OutputLease.acquire("train", List.of(adapter), conf, false);
             OutputLease brown = OutputLease.acquire("train", List.of(other), conf, false)) {
            IOException outer = assertThrows(IOException.class, () -> OutputLease.acquire("demo", List.of(run), conf, true),
                    "--take-over never takes a live lease inside ours");
            assertTrue(outer.getMessage().contains("is being written by lorafleet train"), outer.getMessage());
            FileSystem fs = FileSystem.get(tmp.toUri(), conf);
            assertFalse(fs.exists(OutputLease.leaseFile(fs.makeQualified(new Path(run)))), "the refused job gave its own lease back");
        }
    }
}
