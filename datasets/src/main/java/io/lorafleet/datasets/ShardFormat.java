package io.lorafleet.datasets;

import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

import java.io.IOException;
import java.security.MessageDigest;
import java.util.List;
import java.util.function.Consumer;

/**
 * The shard file: one Parquet file of {@link ShardRow}s. Spark reads it as
 * {@code adapter_id string, split string, row_id bigint, input_ids array<int>, token_type_ids array<int>,
 * label int, source string, line bigint, loss_spans array<int>}; the adapter id is a column, not only a folder name.
 */
public final class ShardFormat {
    public static final MessageType SCHEMA = MessageTypeParser.parseMessageType("""
            message shard_row {
              required binary adapter_id (STRING);
              required binary split (STRING);
              required int64 row_id;
              required group input_ids (LIST) { repeated group list { required int32 element; } }
              required group token_type_ids (LIST) { repeated group list { required int32 element; } }
              required int32 label;
              required binary source (STRING);
              required int64 line;
              optional group loss_spans (LIST) { repeated group list { required int32 element; } }
            }""");
    /** Shards written before instruction rows had no loss_spans column; they read as every token learned. */
    private static final MessageType WITHOUT_SPANS = new MessageType("shard_row", SCHEMA.getFields().subList(0, SCHEMA.getFieldCount() - 1));

    private ShardFormat() { }

    /**
     * Writes the rows in the given order; returns the SHA-256 of the file's bytes, which depend on the rows alone.
     * Data pages v2 without dictionaries give every column chunk exactly one encoding: parquet-java 1.16 lists a
     * chunk's encodings in a HashSet's order, which changes from JVM to JVM (apache/parquet-java#3215), so with
     * two or more the same rows gave different footers. Costs ~12% in size on token ids.
     */
    public static String write(OutputFile out, List<ShardRow> rows) throws IOException {
        HashingOutputFile hashing = new HashingOutputFile(out);
        SimpleGroupFactory groups = new SimpleGroupFactory(SCHEMA);
        try (ParquetWriter<Group> writer = ExampleParquetWriter.builder(hashing).withType(SCHEMA).withCompressionCodec(CompressionCodecName.ZSTD)
                .withWriterVersion(ParquetProperties.WriterVersion.PARQUET_2_0).withDictionaryEncoding(false).build()) {
            for (ShardRow r : rows) {
                Group g = groups.newGroup().append("adapter_id", r.adapterId()).append("split", r.split()).append("row_id", r.rowId());
                addList(g.addGroup("input_ids"), r.inputIds());
                addList(g.addGroup("token_type_ids"), r.tokenTypeIds());
                g.append("label", r.label()).append("source", r.source()).append("line", r.line());
                if (r.lossSpans() != null) addList(g.addGroup("loss_spans"), r.lossSpans());
                writer.write(g);
            }
        }
        return hashing.hex();
    }

    private static void addList(Group list, int[] values) {
        for (int v : values) list.addGroup("list").append("element", v);
    }

    /** Streams a shard file's rows in order. */
    public static void read(InputFile in, Consumer<ShardRow> out) throws IOException {
        try (ParquetFileReader reader = ParquetFileReader.open(in)) {
            MessageType schema = reader.getFooter().getFileMetaData().getSchema();
            if (!schema.equals(SCHEMA) && !schema.equals(WITHOUT_SPANS)) throw new IOException(in + ": not a shard file (schema " + schema + ")");
            boolean spans = schema.equals(SCHEMA);
            PageReadStore pages;
            while ((pages = reader.readNextRowGroup()) != null) {
                RecordReader<Group> records = new ColumnIOFactory().getColumnIO(schema).getRecordReader(pages, new GroupRecordConverter(schema));
                for (long i = 0; i < pages.getRowCount(); i++) {
                    Group g = records.read();
                    out.accept(new ShardRow(g.getString("adapter_id", 0), g.getString("split", 0), g.getLong("row_id", 0),
                            list(g.getGroup("input_ids", 0)), list(g.getGroup("token_type_ids", 0)), g.getInteger("label", 0),
                            g.getString("source", 0), g.getLong("line", 0),
                            spans && g.getFieldRepetitionCount("loss_spans") > 0 ? list(g.getGroup("loss_spans", 0)) : null));
                }
            }
        }
    }

    private static int[] list(Group list) {
        int n = list.getFieldRepetitionCount("list");
        int[] values = new int[n];
        for (int i = 0; i < n; i++) values[i] = list.getGroup("list", i).getInteger("element", 0);
        return values;
    }

    /** Computes the file's SHA-256 as Parquet writes it (it writes strictly front to back). */
    private static final class HashingOutputFile implements OutputFile {
        private final OutputFile delegate;
        private final MessageDigest digest;

        HashingOutputFile(OutputFile delegate) {
            this.delegate = delegate;
            this.digest = Sha256.digest();
        }

        String hex() {
            return Sha256.hex(digest);
        }

        @Override
        public PositionOutputStream create(long blockSizeHint) throws IOException {
            return wrap(delegate.create(blockSizeHint));
        }

        @Override
        public PositionOutputStream createOrOverwrite(long blockSizeHint) throws IOException {
            return wrap(delegate.createOrOverwrite(blockSizeHint));
        }

        private PositionOutputStream wrap(PositionOutputStream out) {
            return new PositionOutputStream() {
                @Override
                public long getPos() throws IOException {
                    return out.getPos();
                }

                @Override
                public void write(int b) throws IOException {
                    out.write(b);
                    digest.update((byte) b);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    digest.update(b, off, len);
                }

                @Override
                public void flush() throws IOException {
                    out.flush();
                }

                @Override
                public void close() throws IOException {
                    out.close();
                }
            };
        }

        @Override
        public boolean supportsBlockSize() {
            return delegate.supportsBlockSize();
        }

        @Override
        public long defaultBlockSize() {
            return delegate.defaultBlockSize();
        }

        @Override
        public String getPath() {
            return delegate.getPath();
        }
    }
}
