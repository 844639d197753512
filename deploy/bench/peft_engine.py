"""The peer in the engine and padding benchmarks: what a LoRAFleet user would run instead, Hugging Face
transformers + PEFT on PyTorch (deploy/hf/requirements.txt), on the same workloads as io.lorafleet.bench.EngineStep.

- minilm: transformers' BertModel in all-MiniLM-L6-v2's shape (random weights, sdpa attention, no pooler), mean
  pooling over the attention mask, a linear 2-class head; `lora` = PEFT's LoraConfig(r=8, lora_alpha=16,
  target_modules=["query", "value"]) with the head trained beside it, `full` = every weight trainable.
- gpt2-block: one transformers GPT2Block (d=768, 12 heads, causal) on random hidden states with loss sum(y * r),
  PEFT LoRA r=8 on its fused c_attn.
- llama-block: one transformers LlamaDecoderLayer in SmolLM2-135M's shape (d=576, 9 query heads sharing 3 key/value
  heads of 64, SwiGLU 1536, causal sdpa attention, rotary positions 0..T-1) on random hidden states with loss
  sum(y * r), PEFT LoRA r=8 on q_proj and v_proj.
Adam (lr 1e-4) on the trainable tensors only, fp32 (bf16 autocast is slower on this CPU, which has no AMX). No dropout
anywhere (the configs' 0.1 defaults set to 0): LoRAFleet's workloads have none, and both sides compute the same thing.

Usage: python peft_engine.py minilm|gpt2-block|llama-block lora|full WARMUP STEPS
   or: python peft_engine.py minilm lora WARMUP PASSES BATCHES_JSON longest|max_length
The second form trains on real batches (io.lorafleet.bench.RealBatches), each padded either to its longest
sequence (dynamic padding, as Hugging Face's DataCollatorWithPadding) or to the tokenizer's max_length
(padding="max_length"), with the attention mask passed to the model as a user would.
Threads come from OMP_NUM_THREADS, as for the Java side. Prints one JSON line.
"""
import json
import os
import resource
import sys
import time

import peft
import torch
import torch.nn.functional as F
import transformers
from torch import nn
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

ENGINE = f"peft {peft.__version__} / transformers {transformers.__version__} / torch {torch.__version__}"


class MeanPooledClassifier(nn.Module):
    """BertModel → mean over real tokens → linear head, as LoRAFleet's `head.pooling: mean`."""

    def __init__(self):
        super().__init__()
        config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                         intermediate_size=1536, max_position_embeddings=512, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
        self.body = transformers.BertModel(config, add_pooling_layer=False)
        self.head = nn.Linear(384, 2)

    def forward(self, ids, labels, mask):
        hidden = self.body(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return F.cross_entropy(self.head(pooled), labels)


def lora(model, targets):
    """PEFT's LoRA on `targets`; every other weight frozen except the classifier head (GPT-2's Conv1D stores W as in × out)."""
    classifier = isinstance(model, MeanPooledClassifier)
    config = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets,
                             modules_to_save=["head"] if classifier else None, fan_in_fan_out=isinstance(model, GPT2Block))
    return peft.get_peft_model(model, config)


def adam(model):
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)


# warm-up lasts at least this long as well as WARMUP steps, as for LoRAFleet (EngineStep.WARMUP_SECONDS, whose JIT needs it)
WARMUP_SECONDS = 10


def timed_ms(fn, warmup, runs):
    """Runs fn warmup times and for at least WARMUP_SECONDS, then times it runs times: (median, fastest) milliseconds."""
    warm_until = time.perf_counter() + WARMUP_SECONDS
    done = 0
    while done < warmup or time.perf_counter() < warm_until:
        fn()
        done += 1
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2], times[0]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def real_batches(warmup, passes, path, padding):
    """One training step per real batch, in order; the median pass over all batches."""
    with open(path) as f:
        data = json.load(f)
    model = lora(MeanPooledClassifier(), ["query", "value"])
    optimizer = adam(model)
    batches, computed = [], 0
    for b in data["batches"]:
        seqs = b["sequences"]
        seq = data["maxLength"] if padding == "max_length" else max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), seq, dtype=torch.long)
        mask = torch.zeros(len(seqs), seq, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        batches.append((ids, torch.tensor(b["labels"]), mask))
        computed += len(seqs) * seq

    def one_pass():
        for ids, labels, mask in batches:
            optimizer.zero_grad(set_to_none=False)
            model(ids, labels, mask).backward()
            optimizer.step()

    median = timed_ms(one_pass, warmup, passes)[0]
    real = sum(len(s) for b in data["batches"] for s in b["sequences"])
    print(json.dumps({
        "engine": ENGINE, "dataset": data["name"], "padding": padding,
        "threads": os.environ.get("OMP_NUM_THREADS", "?"), "ms_per_batch": round(median / len(batches), 1),
        "real_tokens_per_s": round(real / (median / 1e3)), "computed_tokens": computed, "peak_rss_mb": peak_rss_mb(),
    }))


def main():
    if len(sys.argv) == 7:
        real_batches(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
        return
    shape, mode, warmup, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode not in ("lora", "full") or shape not in ("minilm", "gpt2-block", "llama-block") or (shape != "minilm" and mode == "full"):
        sys.exit(f"unknown workload {shape} {mode}; known: minilm lora|full, gpt2-block lora, llama-block lora")
    torch.manual_seed(1)
    if shape == "minilm":
        batch, seq = 16, 128
        model = MeanPooledClassifier()
        model = lora(model, ["query", "value"]) if mode == "lora" else model
        ids, labels = torch.randint(1000, 30522, (batch, seq)), torch.randint(0, 2, (batch,))
        mask = torch.ones(batch, seq, dtype=torch.long)
        loss_fn = lambda: model(ids, labels, mask)
    elif shape == "llama-block":
        batch, seq = 4, 128
        config = transformers.LlamaConfig(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, head_dim=64, intermediate_size=1536,
                                          num_hidden_layers=1, max_position_embeddings=8192, rms_norm_eps=1e-5,
                                          rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
        config._attn_implementation = "sdpa"
        layer = transformers.models.llama.modeling_llama.LlamaDecoderLayer(config, layer_idx=0)
        rotary = transformers.models.llama.modeling_llama.LlamaRotaryEmbedding(config)
        x, r = torch.rand(batch, seq, 576), torch.rand(batch, seq, 576)
        positions = torch.arange(seq).unsqueeze(0).expand(batch, seq)
        cos_sin = rotary(x, positions)
        model = lora(layer, ["q_proj", "v_proj"])
        loss_fn = lambda: (model(x, attention_mask=None, position_ids=positions, position_embeddings=cos_sin) * r).sum()
    else:
        batch, seq = 4, 128
        model = lora(GPT2Block(transformers.GPT2Config(n_embd=768, n_head=12, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0,
                                                       attn_implementation="sdpa")), ["c_attn"])
        x, r = torch.rand(batch, seq, 768), torch.rand(batch, seq, 768)
        loss_fn = lambda: (model(x) * r).sum()
    optimizer = adam(model)

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss_fn().backward()
        optimizer.step()

    median, fastest = timed_ms(step, warmup, steps)
    rss = peak_rss_mb()  # before profiling, which adds its own memory
    print(json.dumps({
        "engine": ENGINE, "shape": shape, "mode": mode,
        "threads": os.environ.get("OMP_NUM_THREADS", "?"), "ms_per_step": round(median, 1), "min_ms": round(fastest, 1),
        "tokens_per_s": round(batch * seq / (median / 1e3)), "gemm_gflops": round(projection_gemm_gflops(batch * seq, *WIDTHS[shape]), 1),
        "gemm_share": round(gemm_share(step, steps), 3),
        "peak_rss_mb": rss,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }))


GEMM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
# hidden and FFN width of each workload, for its projection shapes
WIDTHS = {"minilm": (384, 1536), "gpt2-block": (768, 3072), "llama-block": (576, 1536)}


def projection_gemm_gflops(n, d, f):
    """This process's matrix-product rate on the workload's projection shapes (x [n, inner] times W [outer, inner]
    transposed: d×d, d×FFN, FFN×d), as EngineStep measures LoRAFleet's: each BLAS's own speed on this CPU."""
    flops = seconds = 0.0
    for rows, inner, outer in ((n, d, d), (n, d, f), (n, f, d)):
        x, w, y = torch.rand(rows, inner), torch.rand(outer, inner), torch.empty(rows, outer)
        times = []
        for i in range(18):
            t0 = time.perf_counter()
            torch.mm(x, w.t(), out=y)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        times.sort()
        flops += 2.0 * rows * inner * outer
        seconds += times[len(times) // 2]
    return flops / seconds / 1e9


def gemm_share(step, steps):
    """Self time of the matrix-product ops over the wall time of `steps` profiled steps (sdpa's fused attention
    kernel, which does its own products and softmax, is not counted)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall_us = (time.perf_counter() - t0) * 1e6
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in GEMM_OPS) / wall_us


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    transformers.logging.set_verbosity_error()
    main()
