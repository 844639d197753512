"""LoRAFleet on Airflow: tokenize -> train (one mapped task per adapter group) -> export -> eval.

Each task is one Spark application submitted with SparkSubmitOperator, with exactly the settings
`deploy/bin/lorafleet submit <command> --master URL ...` puts on its spark-submit line (one OpenMP thread
per task slot, the OpenBLAS kernel, the Vector API module). The pipeline is first a plain data structure
(`pipeline()`), which the DAG is built from and which `python3 lorafleet_dag.py --commands` prints as the
equivalent `lorafleet submit` command lines; the project's tests run every one of them with --dry-run.

Settings come from Airflow Variables when Airflow is present (lorafleet_master, lorafleet_app_jar, ...),
else from the environment, else the defaults below.
"""
import json
import os
import sys
from datetime import datetime

try:  # Airflow is optional: without it this file still describes (and prints) the pipeline
    from airflow import DAG
    from airflow.models import Variable
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
except ImportError:
    DAG = None


def setting(name, default):
    """An Airflow Variable lorafleet_<name>, else the environment's LORAFLEET_<NAME>, else the default."""
    env = os.environ.get("LORAFLEET_" + name.upper()) or default
    return Variable.get("lorafleet_" + name, default_var=env) if DAG is not None else env


MASTER = setting("master", "spark://127.0.0.1:7077")
APP_JAR = setting("app_jar", "spark-jobs/target/lorafleet-app.jar")
TOKENIZE_CONFIG = setting("tokenize_config", "conf/demo-tokenize.yaml")
TRAIN_CONFIG = setting("train_config", "conf/demo-train.yaml")
MODEL = setting("model", "runs/models/all-minilm-l6-v2")
SHARDS = setting("shards", "runs/demo/shards")
OUTPUT = setting("output", "runs/demo/adapters")
EXPORT_TO = setting("export_to", "runs/demo/published")  # where export writes the PEFT folders, e.g. s3a://bucket/adapters
# Adapters trained by one Spark application each; the adapters of one group train together (bulk).
ADAPTER_GROUPS = json.loads(setting("adapter_groups", '[["imdb", "brown"]]'))
EXECUTOR_CORES = int(setting("executor_cores", "1"))
EXECUTOR_MEMORY = setting("executor_memory", "2g")
def detected_coretype():
    """What `lorafleet` picks: LORAFLEET_OPENBLAS_CORETYPE, else SkylakeX with AVX-512, Haswell with AVX2 (of this
    machine). An inherited OPENBLAS_CORETYPE is not used: machine images set it for other programs' OpenBLAS."""
    if os.environ.get("LORAFLEET_OPENBLAS_CORETYPE"):
        return os.environ["LORAFLEET_OPENBLAS_CORETYPE"]
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read().split()
    except OSError:
        return ""
    if all(f in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl")):
        return "SkylakeX"
    return "Haswell" if "avx2" in flags and "fma" in flags else ""


# the OpenBLAS kernel for the executors' CPUs; set the Variable when they differ from the Airflow worker's
OPENBLAS_CORETYPE = setting("openblas_coretype", detected_coretype())
# where JavaCPP unpacks ND4J's native libraries on each node (lorafleet submit: $LORAFLEET_JAVACPP_CACHE)
JAVACPP_CACHE = setting("javacpp_cache", os.path.expanduser("~/.javacpp/cache"))

MAINS = {
    "tokenize": "io.lorafleet.spark.TokenizeJob",
    "train": "io.lorafleet.spark.TrainJob",
    "export": "io.lorafleet.spark.ExportJob",
    "eval": "io.lorafleet.spark.EvalAdapter",
}

# The Vector API module, and a small young generation: ND4J's arrays live off-heap, and a young generation sized from
# the heap commits hundreds of MB of RSS for garbage that 32 MB holds as well (README, "The engine": Memory).
JVM_OPTIONS = "--add-modules=jdk.incubator.vector -XX:+UseParallelGC -Xmn32m"

# What `lorafleet submit` adds to every spark-submit line besides cores and memory.
SPARK_CONF = {
    "spark.executorEnv.OMP_NUM_THREADS": "1",
    "spark.executorEnv.OMP_WAIT_POLICY": "PASSIVE",
    "spark.executor.extraJavaOptions": JVM_OPTIONS + " -Dorg.bytedeco.javacpp.cachedir=" + JAVACPP_CACHE
    + " -XX:ActiveProcessorCount=" + str(EXECUTOR_CORES),
    "spark.driver.extraJavaOptions": JVM_OPTIONS + " -Dorg.bytedeco.javacpp.cachedir=" + JAVACPP_CACHE,
}
# OpenBLAS detects the CPU itself when no kernel is named (a CPU without AVX2, or no /proc/cpuinfo)
if OPENBLAS_CORETYPE:
    SPARK_CONF["spark.executorEnv.OPENBLAS_CORETYPE"] = OPENBLAS_CORETYPE


def adapters_override(group):
    return "adapters=[" + ", ".join(group) + "]"


def pipeline():
    """The tasks in order: {task_id, command, args} or, for mapped tasks, {task_id, command, mapped_args}."""
    return [
        {"task_id": "tokenize", "command": "tokenize", "args": ["--config", TOKENIZE_CONFIG, "--overwrite"]},
        {"task_id": "train", "command": "train",
         # each group its own report folder: groups run in parallel, each leasing its adapters' folders and its report
         "mapped_args": [["--config", TRAIN_CONFIG, "--set", adapters_override(g), "--set", "report=" + OUTPUT + "/_runs/group-" + str(i),
                          "--resume"] for i, g in enumerate(ADAPTER_GROUPS)]},
        {"task_id": "export", "command": "export",
         "mapped_args": [["--config", TRAIN_CONFIG, "--set", adapters_override(g), "--to", EXPORT_TO, "--overwrite"]
                         for g in ADAPTER_GROUPS]},
        {"task_id": "eval", "command": "eval",
         "mapped_args": [["--model", MODEL, "--adapter", OUTPUT + "/" + a, "--data", SHARDS, "--split", "test"] for g in ADAPTER_GROUPS for a in g]},
    ]


def submit_command(command, args):
    """The `lorafleet submit` line equivalent to one task (what the tests run with --dry-run)."""
    line = ["deploy/bin/lorafleet", "submit", command, "--master", MASTER, "--executor-cores", str(EXECUTOR_CORES),
            "--executor-memory", EXECUTOR_MEMORY, "--javacpp-cache", JAVACPP_CACHE]
    return line + ["--"] + list(args)


def commands():
    out = []
    for task in pipeline():
        for args in task.get("mapped_args", [task.get("args")]):
            out.append({"task_id": task["task_id"], "main": MAINS[task["command"]], "spark_conf": SPARK_CONF,
                        "argv": submit_command(task["command"], args)})
    return out


def operator_kwargs(task):
    """SparkSubmitOperator arguments shared by the plain and the mapped form of a task."""
    return dict(task_id=task["task_id"], application=APP_JAR, java_class=MAINS[task["command"]], conf=SPARK_CONF,
                executor_cores=EXECUTOR_CORES, executor_memory=EXECUTOR_MEMORY, name="lorafleet-" + task["task_id"],
                conn_id="spark_default", verbose=False)


if DAG is not None:
    with DAG(dag_id="lorafleet", start_date=datetime(2026, 1, 1), schedule=None, catchup=False, max_active_tasks=len(ADAPTER_GROUPS) + 1,
             tags=["lora", "spark"], doc_md=__doc__) as dag:
        previous = None
        for task in pipeline():
            if "mapped_args" in task:
                step = SparkSubmitOperator.partial(**operator_kwargs(task)).expand(application_args=task["mapped_args"])
            else:
                step = SparkSubmitOperator(application_args=task["args"], **operator_kwargs(task))
            if previous is not None:
                previous >> step
            previous = step

if __name__ == "__main__":
    if sys.argv[1:] == ["--commands"]:
        json.dump(commands(), sys.stdout, indent=1)
        print()
    else:
        print("usage: python3 lorafleet_dag.py --commands", file=sys.stderr)
        sys.exit(2)
