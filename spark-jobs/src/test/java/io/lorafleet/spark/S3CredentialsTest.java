package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.security.alias.CredentialProvider;
import org.apache.hadoop.security.alias.CredentialProviderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * S3 credentials the way conf/s3-spark.conf says to keep them: in a Hadoop credential provider (a JCEKS
 * keystore), not in any configuration. An adapter folder goes to a real S3 API (s3proxy) through s3a with the
 * keys only in the keystore, and no file LoRAFleet writes holds them.
 */
class S3CredentialsTest {
    @Test
    void s3aFindsTheKeysInACredentialProviderAndNothingWeWriteHoldsThem(@TempDir java.nio.file.Path tmp) throws Exception {
        try (S3Proxy s3 = new S3Proxy(tmp.resolve("s3"), "adapters")) {
            Configuration conf = s3.conf();
            conf.unset("fs.s3a.access.key");
            conf.unset("fs.s3a.secret.key");
            conf.setBoolean("fs.s3a.impl.disable.cache", true);
            String keystore = "jceks://file" + tmp.resolve("s3.jceks").toAbsolutePath();

            // without a source of keys, s3a is refused
            assertThrows(Exception.class, () -> new Path("s3a://adapters/").getFileSystem(conf).listStatus(new Path("s3a://adapters/")));

            Configuration store = new Configuration(false);
            store.set(CredentialProviderFactory.CREDENTIAL_PROVIDER_PATH, keystore);
            CredentialProvider provider = CredentialProviderFactory.getProviders(store).get(0);
            provider.createCredentialEntry("fs.s3a.access.key", S3Proxy.ACCESS_KEY.toCharArray());
            provider.createCredentialEntry("fs.s3a.secret.key", S3Proxy.SECRET_KEY.toCharArray());
            provider.flush();
            conf.set(CredentialProviderFactory.CREDENTIAL_PROVIDER_PATH, keystore);

            Map<String, byte[]> files = Map.of("adapter_model.safetensors", new byte[] {1, 2, 3}, "adapter_config.json",
                    YamlConfig.json().writeValueAsBytes(Map.of("r", 8)));
            Path written = AdapterFolder.write("s3a://adapters/imdb", files, conf, false);
            FileSystem fs = written.getFileSystem(conf);
            assertTrue(fs.exists(new Path(written, "_COMPLETE")));
            assertArrayEquals(new byte[] {1, 2, 3}, SparkJobs.readFile(new Path(written, "adapter_model.safetensors").toString(), conf));

            byte[] secret = S3Proxy.SECRET_KEY.getBytes(StandardCharsets.UTF_8);
            assertFalse(contains(Files.readAllBytes(tmp.resolve("s3.jceks")), secret), "the keystore does not hold the key in plain text");
            for (java.nio.file.Path f : Files.walk(s3.bucketFolder("adapters")).filter(Files::isRegularFile).toList()) {
                assertFalse(contains(Files.readAllBytes(f), secret), f + " holds the secret key");
            }
            for (String file : List.of("conf/s3-train.yaml", "conf/s3-spark.conf")) {
                for (String line : Files.readAllLines(java.nio.file.Path.of("..").resolve(file))) {
                    boolean setting = !line.strip().startsWith("#");
                    assertFalse(setting && (line.contains("access.key") || line.contains("secret.key")), file + " sets a key: " + line);
                }
            }
        }
    }

    private static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) if (haystack[i + j] != needle[j]) continue outer;
            return true;
        }
        return false;
    }
}
