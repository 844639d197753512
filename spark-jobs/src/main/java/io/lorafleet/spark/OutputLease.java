package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.EtagSource;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * An exclusive claim on an output location for the time a job writes it: a lease file beside the output
 * ({@code .<name>.lease}) created atomically — O_EXCL on local disk, the NameNode's create-if-absent on HDFS, a
 * conditional PUT ({@code If-None-Match: *}) on S3 — and holding who took it (job, user, host, pid, start). While the
 * job runs a heartbeat refreshes the file's modification time (on S3, which cannot set it, by rewriting the lease
 * only if it is still the object we wrote: {@code If-Match} on its ETag); a second job fails before any work, naming
 * the holder. A lease whose heartbeat is older than {@link #STALE_AFTER_SECONDS} belongs to a job that died; only an
 * explicit --take-over replaces it.
 */
public final class OutputLease implements AutoCloseable {
    static final long HEARTBEAT_SECONDS = 10, STALE_AFTER_SECONDS = 60;

    private final List<Held> held;
    private final ScheduledExecutorService heartbeat;
    private final Thread releaseOnExit;

    /** @param etag the S3 object's ETag, which the heartbeat's conditional rewrite requires; null elsewhere */
    private record Held(FileSystem fs, Path file, String token, byte[] content, String etag) { }

    /** Hadoop's createFile() options for S3 conditional writes (s3a, Hadoop 3.4.2+). */
    private static final String IF_NONE_MATCH = "fs.option.create.conditional.overwrite", IF_MATCH = "fs.option.create.conditional.overwrite.etag";

    private OutputLease(List<Held> held) {
        this.held = held;
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "lorafleet-lease-heartbeat");
            t.setDaemon(true);
            return t;
        });
        heartbeat.scheduleAtFixedRate(this::beat, HEARTBEAT_SECONDS, HEARTBEAT_SECONDS, TimeUnit.SECONDS);
        // Ctrl-C and SIGTERM (Airflow stopping a task) give the leases back too; only kill -9 leaves them to --take-over
        releaseOnExit = new Thread(() -> held.forEach(OutputLease::release), "lorafleet-lease-release");
        Runtime.getRuntime().addShutdownHook(releaseOnExit);
    }

    /**
     * Takes the leases of every output location of a job (all or none), before the job does any work; a location
     * inside another one is covered by the outer one's lease.
     */
    public static OutputLease acquire(String job, List<String> outputs, Configuration conf, boolean takeOver) throws IOException {
        List<Path> roots = new java.util.ArrayList<>();
        for (String output : outputs) {
            Path p = new Path(output);
            roots.add(p.getFileSystem(conf).makeQualified(p));
        }
        List<Path> outermost = roots.stream().distinct()
                .filter(p -> roots.stream().noneMatch(q -> !q.equals(p) && p.toString().startsWith(q.toString() + "/"))).toList();
        List<Held> held = new java.util.ArrayList<>();
        try {
            for (Path output : outermost) held.add(take(job, output.toString(), conf, takeOver));
        } catch (IOException | RuntimeException e) {
            for (Held h : held) release(h);
            throw e;
        }
        return new OutputLease(List.copyOf(held));
    }

    /** The lease file of an output location. */
    static Path leaseFile(Path output) {
        return new Path(output.getParent(), "." + output.getName() + ".lease");
    }

    private static Held take(String job, String output, Configuration conf, boolean takeOver) throws IOException {
        Path target = new Path(output);
        FileSystem fs = target.getFileSystem(conf);
        target = fs.makeQualified(target);
        Path file = leaseFile(target);
        String token = UUID.randomUUID().toString();
        byte[] content = describe(job, target, token);
        boolean created;
        try {
            if (!fs.mkdirs(file.getParent())) throw new IOException("cannot create the folder " + file.getParent());
            created = createExclusively(fs, file, content);
        } catch (IOException e) {
            throw new IOException(target + " cannot be written (its lease " + file + " could not be created: " + SparkJobs.cause(e) + ")");
        }
        if (created) return withoutNestedWriters(held(fs, file, token, content), target);
        JsonNode lease = read(fs, file);
        String holder = holder(lease, file);
        long age = heartbeatAge(fs, file);
        if (age < 0) return take(job, output, conf, takeOver); // released between our create and our look: try again
        if (holderGone(lease)) {
            if (!takeOver) {
                throw new IOException(target + " is leased by " + holder + ", whose process is gone from this host (killed?); pass --take-over "
                        + "to take the lease");
            }
        } else if (age < STALE_AFTER_SECONDS) {
            throw new IOException(target + " is being written by " + holder + " (heartbeat " + age + " s ago); not starting a second writer");
        }
        if (!takeOver) {
            throw new IOException(target + " is leased by " + holder + ", whose heartbeat stopped " + age + " s ago (the job died?); "
                    + "pass --take-over to take the lease, once you are sure it is not running");
        }
        SparkJobs.progress(job, "taking over the lease of %s from %s (heartbeat %d s ago)", target, holder, age);
        fs.delete(file, false);
        if (!createExclusively(fs, file, content)) throw new IOException(target + ": another job took the lease while we took it over; not starting");
        return withoutNestedWriters(held(fs, file, token, content), target);
    }

    /**
     * A lease covers everything below its output: a live lease on a folder around ours (the demo's runs/demo around a
     * train job's runs/demo/adapters) or inside it (up to two levels: an adapter's folder, its checkpoints) is another
     * writer of the same files. Checked after our own lease exists, so of two jobs starting together at least one sees
     * the other.
     */
    private static Held withoutNestedWriters(Held ours, Path target) throws IOException {
        List<Path> others = new java.util.ArrayList<>();
        for (Path p = target.getParent(); p != null && p.getParent() != null; p = p.getParent()) others.add(leaseFile(p));
        others.addAll(leasesBelow(ours.fs(), target, 2));
        for (Path other : others) {
            if (other.equals(ours.file()) || !ours.fs().exists(other)) continue;
            long age = heartbeatAge(ours.fs(), other);
            JsonNode lease = read(ours.fs(), other);
            if (age >= 0 && age < STALE_AFTER_SECONDS && !holderGone(lease)) {
                release(ours);
                throw new IOException(target + " is being written by " + holder(lease, other) + " (heartbeat " + age + " s ago), whose output "
                        + "holds or is inside ours; not starting a second writer");
            }
        }
        return ours;
    }

    private static List<Path> leasesBelow(FileSystem fs, Path dir, int depth) throws IOException {
        List<Path> found = new java.util.ArrayList<>();
        if (depth == 0 || !fs.isDirectory(dir)) return found;
        for (FileStatus s : fs.listStatus(dir)) {
            String name = s.getPath().getName();
            if (s.isFile() && name.startsWith(".") && name.endsWith(".lease")) found.add(s.getPath());
            else if (s.isDirectory() && !name.startsWith(".")) found.addAll(leasesBelow(fs, s.getPath(), depth - 1));
        }
        return found;
    }

    private static boolean createExclusively(FileSystem fs, Path file, byte[] content) throws IOException {
        if (fs.getUri().getScheme().equals("file")) {
            java.nio.file.Path local = java.nio.file.Path.of(file.toUri());
            try {
                Files.write(local, content, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE);
                return true;
            } catch (FileAlreadyExistsException e) {
                return false;
            }
        }
        var create = fs.createFile(file).overwrite(false);
        if (isS3(fs)) create.must(IF_NONE_MATCH, true);
        // s3a sends the PUT when the stream closes: a lost race surfaces from close(), inside this try
        try (FSDataOutputStream out = create.build()) {
            out.write(content);
            return true;
        } catch (org.apache.hadoop.fs.FileAlreadyExistsException | org.apache.hadoop.fs.s3a.RemoteFileChangedException e) {
            return false; // the second is S3's 412 Precondition Failed: the object appeared between s3a's look and our PUT
        }
    }

    private static Held held(FileSystem fs, Path file, String token, byte[] content) throws IOException {
        String etag = isS3(fs) && fs.getFileStatus(file) instanceof EtagSource e ? e.getEtag() : null;
        return new Held(fs, file, token, content, etag);
    }

    private static boolean isS3(FileSystem fs) {
        return fs.getUri().getScheme().equals("s3a");
    }

    private static byte[] describe(String job, Path target, String token) throws IOException {
        Map<String, Object> lease = new LinkedHashMap<>();
        lease.put("job", "lorafleet " + job);
        lease.put("output", target.toString());
        lease.put("user", System.getProperty("user.name"));
        lease.put("host", hostName());
        lease.put("pid", ProcessHandle.current().pid());
        lease.put("started", Instant.now().toString());
        lease.put("token", token);
        return YamlConfig.json().writeValueAsBytes(lease);
    }

    /** A lease file's content, or null when it cannot be read (gone, or being written). */
    private static JsonNode read(FileSystem fs, Path file) {
        try {
            return YamlConfig.json().readTree(SparkJobs.readFile(file.toString(), fs.getConf()));
        } catch (IOException e) {
            return null;
        }
    }

    private static String holder(JsonNode lease, Path file) {
        if (lease == null) return "another job (lease " + file + ")";
        return lease.path("job").asText() + " (user " + lease.path("user").asText() + ", host " + lease.path("host").asText() + ", pid "
                + lease.path("pid").asText() + ", since " + lease.path("started").asText() + "; lease " + file + ")";
    }

    /** Whether the holder ran on this host and its process no longer exists: dead for certain, whatever its heartbeat's age. */
    private static boolean holderGone(JsonNode lease) {
        return lease != null && lease.path("host").asText().equals(hostName())
                && ProcessHandle.of(lease.path("pid").asLong()).map(p -> !p.isAlive()).orElse(true);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return System.getenv().getOrDefault("HOSTNAME", "unknown-host");
        }
    }

    /** Seconds since the lease's last heartbeat, or -1 when it is gone. */
    private static long heartbeatAge(FileSystem fs, Path file) throws IOException {
        try {
            FileStatus status = fs.getFileStatus(file);
            return Math.max(0, (System.currentTimeMillis() - status.getModificationTime()) / 1000);
        } catch (FileNotFoundException e) {
            return -1;
        }
    }

    void beat() {
        for (Held h : held) {
            try {
                if (h.etag() == null) {
                    h.fs().setTimes(h.file(), System.currentTimeMillis(), -1);
                } else {
                    // the same bytes give the same ETag, so every beat's condition is the first one's
                    var rewrite = h.fs().createFile(h.file()).overwrite(true);
                    rewrite.must(IF_MATCH, h.etag());
                    try (FSDataOutputStream out = rewrite.build()) {
                        out.write(h.content());
                    }
                }
            } catch (IOException | RuntimeException e) {
                System.err.println("lorafleet: cannot refresh the lease " + h.file() + ": " + e.getMessage());
            }
        }
    }

    /** Gives the leases back (only those still ours: a lease taken over from us is the new holder's). */
    @Override
    public void close() {
        heartbeat.shutdownNow();
        for (Held h : held) release(h);
        try {
            Runtime.getRuntime().removeShutdownHook(releaseOnExit);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or ran: the leases are released either way
        }
    }

    private static void release(Held h) {
        JsonNode lease = read(h.fs(), h.file());
        try {
            if (lease != null && h.token().equals(lease.path("token").asText())) h.fs().delete(h.file(), false);
        } catch (IOException e) {
            System.err.println("lorafleet: could not release the lease " + h.file() + ": " + e.getMessage());
        }
    }
}
