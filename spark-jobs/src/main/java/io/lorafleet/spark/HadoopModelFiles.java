package io.lorafleet.spark;

import io.lorafleet.io.ModelFiles;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;

/** A model folder on any Hadoop file system (file://, hdfs://, s3a://). */
public final class HadoopModelFiles implements ModelFiles {
    private final FileSystem fs;
    private final Path folder;

    public HadoopModelFiles(String uri, Configuration conf) throws IOException {
        this.folder = new Path(uri);
        this.fs = folder.getFileSystem(conf);
    }

    @Override
    public boolean exists(String name) throws IOException {
        try {
            return fs.getFileStatus(new Path(folder, name)).isFile();
        } catch (FileNotFoundException e) {
            return false;
        }
    }

    @Override
    public SeekableByteChannel open(String name) throws IOException {
        Path path = new Path(folder, name);
        return new PositionalChannel(fs.open(path), fs.getFileStatus(path).getLen());
    }

    @Override
    public byte[] readAll(String name) throws IOException {
        Path path = new Path(folder, name);
        long length = fs.getFileStatus(path).getLen();
        if (length > Integer.MAX_VALUE - 8) throw new IOException(describe(name) + ": too large to read at once (" + length + " bytes)");
        byte[] bytes = new byte[(int) length];
        try (FSDataInputStream in = fs.open(path)) {
            in.readFully(0, bytes);
        }
        return bytes;
    }

    @Override
    public String describe(String name) {
        return fs.makeQualified(new Path(folder, name)).toString();
    }

    /**
     * A read-only channel over positional reads, which every Hadoop stream supports (s3a streams do not
     * all read into ByteBuffers); off-heap destinations go through a bounded staging array.
     */
    private static final class PositionalChannel implements SeekableByteChannel {
        private static final int STAGING = 1 << 20;
        private final FSDataInputStream in;
        private final long size;
        private long position;
        private byte[] staging;
        private boolean open = true;

        PositionalChannel(FSDataInputStream in, long size) {
            this.in = in;
            this.size = size;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (position >= size) return -1;
            int want = (int) Math.min(dst.remaining(), size - position);
            int got;
            if (dst.hasArray()) {
                got = in.read(position, dst.array(), dst.arrayOffset() + dst.position(), want);
                if (got > 0) dst.position(dst.position() + got);
            } else {
                if (staging == null) staging = new byte[STAGING];
                got = in.read(position, staging, 0, Math.min(want, STAGING));
                if (got > 0) dst.put(staging, 0, got);
            }
            if (got > 0) position += got;
            return got;
        }

        @Override
        public int write(ByteBuffer src) {
            throw new NonWritableChannelException();
        }

        @Override
        public long position() {
            return position;
        }

        @Override
        public SeekableByteChannel position(long newPosition) {
            position = newPosition;
            return this;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public SeekableByteChannel truncate(long size) {
            throw new NonWritableChannelException();
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() throws IOException {
            open = false;
            in.close();
        }
    }
}
