package io.lorafleet.datasets;

import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.LocalInputFile;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** A local input file for tests (the jobs use Hadoop's FileSystem). */
record LocalSourceFile(Path path) implements SourceFile {
    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public InputStream open() throws IOException {
        return Files.newInputStream(path);
    }

    @Override
    public InputStream open(long offset) throws IOException {
        var channel = java.nio.channels.FileChannel.open(path);
        channel.position(offset);
        return java.nio.channels.Channels.newInputStream(channel);
    }

    @Override
    public long length() throws IOException {
        return Files.size(path);
    }

    @Override
    public InputFile parquet() {
        return new LocalInputFile(path);
    }
}
