package io.lorafleet.spark;

import io.lorafleet.datasets.SourceFile;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.InputFile;

import java.io.IOException;
import java.io.InputStream;

/** An input file on any Hadoop file system; .gz, .bz2, .zst and the other Hadoop codecs are decompressed by suffix. */
public record HadoopSourceFile(String name, Configuration conf) implements SourceFile {
    @Override
    public InputStream open() throws IOException {
        Path path = new Path(name);
        InputStream in = path.getFileSystem(conf).open(path);
        CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(path);
        return codec == null ? in : codec.createInputStream(in);
    }

    @Override
    public InputStream open(long offset) throws IOException {
        Path path = new Path(name);
        FSDataInputStream in = path.getFileSystem(conf).open(path);
        in.seek(offset);
        return in;
    }

    @Override
    public long length() throws IOException {
        Path path = new Path(name);
        return path.getFileSystem(conf).getFileStatus(path).getLen();
    }

    /** Whether byte ranges of this file can be read on their own (no compression codec applies). */
    public boolean seekable() {
        return new CompressionCodecFactory(conf).getCodec(new Path(name)) == null;
    }

    @Override
    public InputFile parquet() throws IOException {
        return HadoopInputFile.fromPath(new Path(name), conf);
    }
}
