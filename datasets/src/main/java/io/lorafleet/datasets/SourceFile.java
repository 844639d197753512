package io.lorafleet.datasets;

import org.apache.parquet.io.InputFile;

import java.io.IOException;
import java.io.InputStream;

/** An input file of a dataset, wherever it lives (the Spark job wraps Hadoop's FileSystem). */
public interface SourceFile {
    /** The file's full name, used in manifests, quarantine rows and error messages. */
    String name();

    InputStream open() throws IOException;

    /** The file's bytes from {@code offset} on (uncompressed files only). */
    InputStream open(long offset) throws IOException;

    long length() throws IOException;

    /** The same file for Parquet's reader. */
    InputFile parquet() throws IOException;
}
