package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A real S3 API server (s3proxy over a local folder) in a child JVM on 127.0.0.1, reached through s3a.
 * A child JVM because s3proxy's dependencies clash with Spark's; its jar is copied by the build.
 */
final class S3Proxy implements AutoCloseable {
    static final String ACCESS_KEY = "lorafleet-test", SECRET_KEY = "lorafleet-test-secret";
    private final Process process;
    private final int port;
    private final Path root;

    S3Proxy(Path dir, String... buckets) throws IOException, InterruptedException {
        this("aws-v2-or-v4", dir, buckets);
    }

    /** @param authorization s3proxy's check of request signatures: aws-v2-or-v4, or none */
    S3Proxy(String authorization, Path dir, String... buckets) throws IOException, InterruptedException {
        root = Files.createDirectories(dir.resolve("buckets"));
        for (String bucket : buckets) Files.createDirectories(root.resolve(bucket));
        port = freePort();
        Path props = dir.resolve("s3proxy.properties");
        Files.write(props, List.of(
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=" + authorization,
                "s3proxy.identity=" + ACCESS_KEY,
                "s3proxy.credential=" + SECRET_KEY,
                "jclouds.provider=filesystem-nio2",
                "jclouds.filesystem.basedir=" + root.toAbsolutePath()));
        String jar = System.getProperty("s3proxy.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("s3proxy jar not found (system property s3proxy.jar = " + jar + "); run through Maven");
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        process = new ProcessBuilder(java.toString(), "-Xmx256m", "-jar", jar, "--properties", props.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("s3proxy.log").toFile()).start();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!listening(port)) {
            if (!process.isAlive()) throw new IOException("s3proxy exited; see " + dir.resolve("s3proxy.log"));
            if (System.nanoTime() > deadline) throw new IOException("s3proxy did not start in 60 s");
            Thread.sleep(100);
        }
        Thread.sleep(500);
        // the port may have been taken by another server between freePort() and s3proxy's bind: then ours exits and the
        // answering one is not ours
        if (!process.isAlive()) throw new IOException("s3proxy exited after start (port " + port + " taken?); see " + dir.resolve("s3proxy.log"));
    }

    /** s3a settings for this server, as a user would put them in core-site.xml. */
    Configuration conf() {
        Configuration conf = new Configuration();
        conf.set("fs.s3a.endpoint", "http://127.0.0.1:" + port);
        conf.set("fs.s3a.endpoint.region", "us-east-1");
        conf.set("fs.s3a.path.style.access", "true");
        conf.set("fs.s3a.connection.ssl.enabled", "false");
        conf.set("fs.s3a.access.key", ACCESS_KEY);
        conf.set("fs.s3a.secret.key", SECRET_KEY);
        conf.set("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        return conf;
    }

    /** Where a bucket's objects lie on the local disk. */
    Path bucketFolder(String bucket) {
        return root.resolve(bucket);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
