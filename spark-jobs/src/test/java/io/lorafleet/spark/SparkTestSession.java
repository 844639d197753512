package io.lorafleet.spark;

import org.apache.spark.sql.SparkSession;

/** One local[2] Spark session per test JVM (creating one costs seconds; Spark allows one per JVM anyway). */
final class SparkTestSession {
    private static SparkSession spark;

    private SparkTestSession() { }

    static synchronized SparkSession get() {
        if (spark == null) {
            spark = SparkSession.builder().master("local[2]").appName("lorafleet-tests")
                    .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
                    .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
                    .config("spark.hadoop." + SparkJobs.LOCAL_FILE_SYSTEM, LocalFileSystemWithoutCrc.class.getName())
                    .getOrCreate();
            Runtime.getRuntime().addShutdownHook(new Thread(spark::stop));
        }
        return spark;
    }
}
