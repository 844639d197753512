package io.lorafleet.spark;

import org.apache.hadoop.fs.LocalFileSystem;

/**
 * {@code file://} without Hadoop's {@code .crc} sidecar files. What we write on local disk is what a person copies
 * or uploads (a PEFT folder to the Hub), where sidecars travel along and make a hand-edited file fail its next
 * read with "Checksum error". Shard integrity is the manifest's SHA-256s; a file that has a sidecar is still
 * verified when read. HDFS and S3 are not affected.
 */
public final class LocalFileSystemWithoutCrc extends LocalFileSystem {
    public LocalFileSystemWithoutCrc() {
        setWriteChecksum(false);
    }
}
