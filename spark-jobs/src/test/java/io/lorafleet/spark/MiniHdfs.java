package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import java.io.IOException;
import java.nio.file.Path;

/** A real in-process HDFS (one NameNode, one DataNode) on 127.0.0.1 for a test class. */
final class MiniHdfs implements AutoCloseable {
    private final MiniDFSCluster cluster;

    MiniHdfs(Path baseDir) throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, baseDir.toAbsolutePath().toString());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
    }

    /** hdfs://127.0.0.1:port */
    String uri() {
        return "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    }

    /** A client configuration for this cluster. */
    Configuration conf() {
        Configuration conf = new Configuration(cluster.getConfiguration(0));
        conf.set("fs.defaultFS", uri());
        return conf;
    }

    @Override
    public void close() {
        cluster.shutdown(true);
    }
}
