package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.List;
import java.util.UUID;

/**
 * An output folder that is complete or absent: everything is written into a hidden temporary sibling,
 * which {@link #commit} renames into place. A folder that exists is replaced only when the user said
 * --overwrite, and only after the new one is complete. Where renames are copies (S3), callers also write a
 * marker file last (a manifest) that readers require. Closing a folder that was not committed deletes the
 * temporary one, so a failed job leaves nothing hidden behind.
 */
public final class OutputFolder implements AutoCloseable {
    private final FileSystem fs;
    private final Path target;
    private final Path temp;
    private final boolean overwrite;
    private boolean committed;

    private OutputFolder(FileSystem fs, Path target, Path temp, boolean overwrite) {
        this.fs = fs;
        this.target = target;
        this.temp = temp;
        this.overwrite = overwrite;
    }

    /** Fails when the target exists and {@code overwrite} is false: call it before the work that would fill the folder. */
    public static Path requireAbsent(String uri, Configuration conf, boolean overwrite) throws IOException {
        Path target = new Path(uri);
        FileSystem fs = target.getFileSystem(conf);
        target = fs.makeQualified(target);
        if (fs.exists(target) && !overwrite) throw new IOException(target + ": already exists (pass --overwrite to replace it)");
        return target;
    }

    /** Starts writing the folder; fails before any write when the target exists and {@code overwrite} is false. */
    public static OutputFolder begin(String uri, Configuration conf, boolean overwrite) throws IOException {
        Path target = requireAbsent(uri, conf, overwrite);
        FileSystem fs = target.getFileSystem(conf);
        Path temp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        if (!fs.mkdirs(temp)) throw new IOException(temp + ": cannot create");
        return new OutputFolder(fs, target, temp, overwrite);
    }

    /** Where to write now. */
    public Path temp() {
        return temp;
    }

    public Path target() {
        return target;
    }

    /** Moves the finished folder into place (replacing the old one only with --overwrite). */
    public void commit() throws IOException {
        Path old = null;
        if (fs.exists(target)) {
            if (!overwrite) throw new IOException(target + ": appeared while the job ran; not replaced (pass --overwrite)");
            old = new Path(target.getParent(), "." + target.getName() + ".old-" + UUID.randomUUID());
            if (!fs.rename(target, old)) throw new IOException("cannot move " + target + " aside to " + old);
        }
        if (!fs.rename(temp, target)) throw new IOException("cannot rename " + temp + " to " + target);
        committed = true;
        if (old != null) fs.delete(old, true);
    }

    /**
     * Gives up: the entries {@code keep} of the unfinished folder (what tells the user why it failed) move to the
     * visible sibling {@code <target>.failed}, replacing an earlier failure's, and the rest is deleted.
     *
     * @return that sibling
     */
    public Path abandonKeeping(List<String> keep) throws IOException {
        Path failed = failed();
        if (fs.exists(failed)) fs.delete(failed, true);
        if (!fs.mkdirs(failed)) throw new IOException(failed + ": cannot create");
        for (String name : keep) {
            Path from = new Path(temp, name);
            if (fs.exists(from) && !fs.rename(from, new Path(failed, name))) throw new IOException("cannot move " + from + " to " + failed);
        }
        close();
        return failed;
    }

    /** Where {@link #abandonKeeping} keeps what explains a failure: {@code <target>.failed}. */
    public Path failed() {
        return new Path(target.getParent(), target.getName() + ".failed");
    }

    /** Deletes the temporary folder unless it was committed. */
    @Override
    public void close() throws IOException {
        if (!committed && fs.exists(temp)) fs.delete(temp, true);
        committed = true;
    }

    /** Writes one file so that readers see all of it or none: a temporary name, then a rename. */
    public static void writeFile(FileSystem fs, Path file, byte[] bytes) throws IOException {
        Path part = new Path(file.getParent(), "." + file.getName() + ".tmp-" + UUID.randomUUID());
        try (FSDataOutputStream out = fs.create(part, false)) {
            out.write(bytes);
        }
        if (fs.exists(file)) fs.delete(file, false);
        if (!fs.rename(part, file)) throw new IOException("cannot rename " + part + " to " + file);
    }

    public FileSystem fileSystem() {
        return fs;
    }
}
