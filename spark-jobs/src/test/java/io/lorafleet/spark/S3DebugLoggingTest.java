package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With LORAFLEET_LOG_LEVEL=debug and the jobs' own logging config (conf/log4j2.properties), a job that writes an
 * adapter to a real S3 API (s3proxy) with temporary credentials (a session token) logs at debug level — and no
 * line holds the secret key, the session token or a request header carrying them.
 */
class S3DebugLoggingTest {
    static final String SESSION_TOKEN = "lorafleet-session-token-0123456789";

    /** The child JVM: writes an adapter folder to s3a as a job's driver does, with keys or with temporary credentials. */
    public static void main(String[] args) throws Exception {
        Configuration conf = new Configuration();
        conf.set("fs.s3a.endpoint", args[0]);
        conf.set("fs.s3a.endpoint.region", "us-east-1");
        conf.set("fs.s3a.path.style.access", "true");
        conf.set("fs.s3a.connection.ssl.enabled", "false");
        conf.set("fs.s3a.access.key", S3Proxy.ACCESS_KEY);
        conf.set("fs.s3a.secret.key", S3Proxy.SECRET_KEY);
        if (args[1].equals("session")) {
            conf.set("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider");
            conf.set("fs.s3a.session.token", SESSION_TOKEN);
        } else {
            conf.set("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        }
        AdapterFolder.write("s3a://adapters/imdb", Map.of("adapter_config.json", "{\"r\": 8}".getBytes()), conf, false);
        System.out.println("written: " + new String(SparkJobs.readFile("s3a://adapters/imdb/adapter_config.json", conf)));
    }

    String runJob(Path tmp, String endpoint, String credentials) throws Exception {
        Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = tmp.resolve(credentials + ".log");
        ProcessBuilder pb = new ProcessBuilder(javaBin.toString(), "@" + Path.of("../conf/spark-jvm.options").toAbsolutePath(),
                "-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath(), "-cp", System.getProperty("java.class.path"),
                S3DebugLoggingTest.class.getName(), endpoint, credentials).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("LORAFLEET_LOG_LEVEL", "debug");
        Process job = pb.start();
        assertTrue(job.waitFor(3, java.util.concurrent.TimeUnit.MINUTES));
        String out = Files.readString(log);
        assertTrue(out.lines().filter(l -> l.contains(" DEBUG ")).count() > 20 && out.contains("DEBUG S3AFileSystem"),
                "debug logging is on, s3a's included (else this test proves nothing)");
        for (String secret : List.of(S3Proxy.SECRET_KEY, SESSION_TOKEN, "Signature=")) {
            assertEquals(List.of(), out.lines().filter(l -> l.contains(secret)).limit(3).toList(), credentials + ": lines holding " + secret);
        }
        return out;
    }

    @Test
    void debugLoggingAgainstS3NeverPrintsCredentials(@TempDir Path tmp) throws Exception {
        try (S3Proxy s3 = new S3Proxy(tmp.resolve("s3"), "adapters")) {
            assertTrue(runJob(tmp, s3.conf().get("fs.s3a.endpoint"), "keys").contains("written: {\"r\": 8}"));
        }
        // s3proxy answers 501 to any request with a session token, after s3a has built, signed and sent it: what
        // is tested is everything logged up to the answer
        try (S3Proxy s3 = new S3Proxy(tmp.resolve("s3-session"), "adapters")) {
            String out = runJob(tmp, s3.conf().get("fs.s3a.endpoint"), "session");
            assertTrue(out.contains("Using credentials from TemporaryAWSCredentialsProvider") && out.contains("Status Code: 501"), out);
        }
    }
}
