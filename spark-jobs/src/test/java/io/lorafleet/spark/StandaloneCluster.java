package io.lorafleet.spark;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A real Spark standalone cluster on 127.0.0.1: one Master and N Workers, each its own JVM, started from
 * Spark's jars (target/spark-home/jars, copied by the build), as STACK.md describes.
 */
final class StandaloneCluster implements AutoCloseable {
    private final List<Process> processes = new ArrayList<>();
    private final Path sparkHome;
    private final int port;

    StandaloneCluster(Path dir, int workers, int coresPerWorker, String memoryPerWorker) throws IOException, InterruptedException {
        sparkHome = Path.of(System.getProperty("lorafleet.spark.home", "../deploy/spark-dist/target/spark-home")).toAbsolutePath();
        Files.createDirectories(dir);
        if (!Files.isDirectory(sparkHome.resolve("jars"))) throw new IllegalStateException(sparkHome + "/jars missing: build deploy/spark-dist (mvn package)");
        port = freePort();
        processes.add(start(dir.resolve("master.log"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                Integer.toString(port), "--webui-port", Integer.toString(freePort())));
        waitForPort(port, dir.resolve("master.log"));
        for (int i = 0; i < workers; i++) {
            Path work = Files.createDirectories(dir.resolve("worker-" + i));
            processes.add(start(dir.resolve("worker-" + i + ".log"), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                    "--cores", Integer.toString(coresPerWorker), "--memory", memoryPerWorker, "--work-dir", work.toString(),
                    "--webui-port", Integer.toString(freePort()), masterUrl()));
        }
    }

    String masterUrl() {
        return "spark://127.0.0.1:" + port;
    }

    Path sparkHome() {
        return sparkHome;
    }

    /** A java command line with Spark's jars on the classpath and the JVM flags Spark needs on Java 17. */
    List<String> java(String... rest) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "@" + Path.of("../conf/spark-jvm.options").toAbsolutePath(), "-Xmx512m",
                "-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath(),
                "-cp", sparkHome.resolve("jars") + "/*"));
        cmd.addAll(List.of(rest));
        return cmd;
    }

    private Process start(Path log, String main, String... args) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(java(prepend(main, args))).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SPARK_HOME", sparkHome.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        return pb.start();
    }

    private static String[] prepend(String first, String[] rest) {
        String[] all = new String[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    @Override
    public void close() throws InterruptedException {
        for (int i = processes.size() - 1; i >= 0; i--) {
            Process p = processes.get(i);
            p.descendants().forEach(ProcessHandle::destroyForcibly); // executors the workers started
            p.destroy();
            p.waitFor();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void waitForPort(int port, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(100);
            }
        }
        throw new IOException("Spark master did not listen on " + port + " within 60 s; see " + log);
    }
}
