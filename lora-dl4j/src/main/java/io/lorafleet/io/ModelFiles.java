package io.lorafleet.io;

import java.io.IOException;
import java.nio.channels.SeekableByteChannel;

/**
 * The files of one model folder (config.json, model.safetensors or its shards, tokenizer.json), wherever
 * they live: a local folder here, HDFS or S3 through Hadoop's FileSystem at the job's edge.
 */
public interface ModelFiles {
    boolean exists(String name) throws IOException;

    SeekableByteChannel open(String name) throws IOException;

    byte[] readAll(String name) throws IOException;

    /** How to name a file of this folder in an error message. */
    String describe(String name);
}
