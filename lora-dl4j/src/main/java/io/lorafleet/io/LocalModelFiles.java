package io.lorafleet.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/** A model folder on the local file system. */
public record LocalModelFiles(Path folder) implements ModelFiles {
    @Override
    public boolean exists(String name) {
        return Files.isRegularFile(folder.resolve(name));
    }

    @Override
    public SeekableByteChannel open(String name) throws IOException {
        return FileChannel.open(folder.resolve(name));
    }

    @Override
    public byte[] readAll(String name) throws IOException {
        return Files.readAllBytes(folder.resolve(name));
    }

    @Override
    public String describe(String name) {
        return folder.resolve(name).toString();
    }
}
