"""PyTorch reference for the engine benchmark: the same workloads as io.lorafleet.bench.EngineStep.

Written from the model definitions (BERT post-LN encoder, GPT-2 pre-LN block, LoRA as in Hu et al. 2021),
not from any library's model code, so that both sides compute exactly the same thing:
frozen weights, LoRA A/B on the attention projections, Adam on the trainable tensors only.

Usage: /usr/bin/python3 torch_engine.py minilm|gpt2-block lora|full WARMUP STEPS
   or: /usr/bin/python3 torch_engine.py minilm lora WARMUP PASSES BATCHES_JSON longest|max_length
The second form trains on real batches (io.lorafleet.bench.RealBatches), each padded either to its longest
sequence (dynamic padding, as Hugging Face's DataCollatorWithPadding) or to the tokenizer's max_length
(padding="max_length"), with the attention mask applied to keys and to the mean pooling.
Threads come from OMP_NUM_THREADS, as for the Java side. Prints one JSON line.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class LoraLinear(nn.Module):
    """y = x W^T + b + s (x A^T) B^T with W, b frozen."""

    def __init__(self, d_in, d_out, rank, alpha):
        super().__init__()
        self.base = nn.Linear(d_in, d_out)
        self.base.weight.requires_grad_(False)
        self.base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, d_in).uniform_(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in)))
        self.lora_B = nn.Parameter(torch.zeros(d_out, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)


def linear(d_in, d_out, lora, rank):
    return LoraLinear(d_in, d_out, rank, 2 * rank) if lora else nn.Linear(d_in, d_out)


def attention(q, k, v, batch, seq, heads, causal, key_bias=None):
    d = q.shape[-1]
    split = lambda t: t.view(batch, seq, heads, d // heads).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads)
    if key_bias is not None:
        scores = scores + key_bias
    if causal:
        scores = scores.masked_fill(torch.ones(seq, seq, dtype=torch.bool).triu(1), -1e9)
    ctx = scores.softmax(-1) @ split(v)
    return ctx.transpose(1, 2).reshape(batch * seq, d)


class EncoderLayer(nn.Module):
    def __init__(self, d, ffn, heads, lora, rank):
        super().__init__()
        self.heads = heads
        self.query, self.value = linear(d, d, lora, rank), linear(d, d, lora, rank)
        self.key, self.out = nn.Linear(d, d), nn.Linear(d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.ffn_in, self.ffn_out = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x, batch, seq, key_bias=None):
        a = self.out(attention(self.query(x), self.key(x), self.value(x), batch, seq, self.heads, False, key_bias))
        h = self.norm1(x + a)
        return self.norm2(h + self.ffn_out(F.gelu(self.ffn_in(h))))


class Classifier(nn.Module):
    """all-MiniLM-L6-v2's shape: embeddings + LayerNorm, 6 post-LN layers, mean pooling, linear head."""

    def __init__(self, lora, rank):
        super().__init__()
        d = 384
        self.words, self.positions, self.types = nn.Embedding(30522, d), nn.Embedding(512, d), nn.Embedding(2, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(d, 1536, 12, lora, rank) for _ in range(6))
        self.head = nn.Linear(d, 2)

    def forward(self, ids, labels, mask=None):
        batch, seq = ids.shape
        pos = torch.arange(seq).repeat(batch)
        x = self.norm(self.words(ids.reshape(-1)) + self.positions(pos) + self.types(torch.zeros_like(pos)))
        key_bias = None if mask is None else ((1.0 - mask) * -1e9).view(batch, 1, 1, seq)
        for layer in self.layers:
            x = layer(x, batch, seq, key_bias)
        x = x.view(batch, seq, -1)
        pooled = x.mean(1) if mask is None else (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return F.cross_entropy(self.head(pooled), labels)


class DecoderBlock(nn.Module):
    """One GPT-2 block (pre-LN, fused c_attn with LoRA, tanh GELU, causal attention)."""

    def __init__(self, lora, rank):
        super().__init__()
        d = 768
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = linear(d, 3 * d, lora, rank)
        self.c_proj, self.c_fc, self.mlp_proj = nn.Linear(d, d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, batch, seq):
        q, k, v = self.c_attn(self.ln_1(x)).split(768, dim=1)
        h = x + self.c_proj(attention(q, k, v, batch, seq, 12, True))
        return h + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))


def timed_ms(fn, warmup, runs):
    """Runs fn warmup times, then times it runs times: (median, fastest) milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2], times[0]


def lora_only(model):
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name or name.startswith("head."))
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)


def real_batches(warmup, passes, path, padding):
    """One training step per real batch, in order; the median pass over all batches."""
    with open(path) as f:
        data = json.load(f)
    model = Classifier(True, 8)
    adam = lora_only(model)
    batches, computed = [], 0
    for b in data["batches"]:
        seqs = b["sequences"]
        seq = data["maxLength"] if padding == "max_length" else max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), seq, dtype=torch.long)
        mask = torch.zeros(len(seqs), seq)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        batches.append((ids, torch.tensor(b["labels"]), mask))
        computed += len(seqs) * seq

    def one_pass():
        for ids, labels, mask in batches:
            adam.zero_grad(set_to_none=False)
            model(ids, labels, mask).backward()
            adam.step()

    median = timed_ms(one_pass, warmup, passes)[0]
    real = sum(len(s) for b in data["batches"] for s in b["sequences"])
    import resource
    print(json.dumps({
        "engine": "pytorch " + torch.__version__, "dataset": data["name"], "padding": padding,
        "threads": os.environ.get("OMP_NUM_THREADS", "?"), "ms_per_batch": round(median / len(batches), 1),
        "real_tokens_per_s": round(real / (median / 1e3)), "computed_tokens": computed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))


def main():
    if len(sys.argv) == 7:
        real_batches(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
        return
    shape, mode, warmup, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(1)
    lora = mode == "lora"
    if shape == "minilm":
        batch, seq = 16, 128
        model = Classifier(lora, 8)
        ids, labels = torch.randint(1000, 30522, (batch, seq)), torch.randint(0, 2, (batch,))
        loss_fn = lambda: model(ids, labels)
    else:
        batch, seq = 4, 128
        model = DecoderBlock(lora, 8)
        x, r = torch.rand(batch * seq, 768), torch.rand(batch * seq, 768)
        loss_fn = lambda: (model(x, batch, seq) * r).sum()
    adam = lora_only(model) if lora else torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        adam.zero_grad(set_to_none=False)
        loss_fn().backward()
        adam.step()

    median, fastest = timed_ms(step, warmup, steps)
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # before profiling, which adds its own memory
    print(json.dumps({
        "engine": "pytorch " + torch.__version__, "shape": shape, "mode": mode,
        "threads": os.environ.get("OMP_NUM_THREADS", "?"), "ms_per_step": round(median, 1), "min_ms": round(fastest, 1),
        "tokens_per_s": round(batch * seq / (median / 1e3)), "gemm_share": round(gemm_share(step, steps), 3),
        "peak_rss_mb": rss,
    }))


GEMM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def gemm_share(step, steps):
    """Self time of the matrix-product ops over the wall time of `steps` profiled steps."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall_us = (time.perf_counter() - t0) * 1e6
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in GEMM_OPS) / wall_us


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    main()
