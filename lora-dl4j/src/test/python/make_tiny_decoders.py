"""Makes tiny random Llama, Mistral and Qwen2 causal LMs with transformers itself, and their logits on a padded batch.

Each model is built from its config class, seeded, given weights large enough that a wrong layer shows in the
logits (transformers' own init, std 0.02, would hide it), and saved with save_pretrained: the Llama one in bfloat16
and in shards (model.safetensors.index.json), the others in float32. Each folder gets reference.json: the batch
(right-padded input_ids, attention_mask) and the float32 logits of the folder's model, reloaded as a user loads it;
the Llama one also long_reference.json: one 2,048-token sequence and the logits of its last rows.
The three configs between them cover GQA, head_dim ≠ hidden/heads, llama3 and linear rope scaling, every bias
setting, tied and untied LM heads, Mistral's sliding window and Qwen2's per-layer sliding windows.

    python make_tiny_decoders.py OUT_DIR        (run by DecoderParityIT with deploy/hf/venv.sh's Python)
"""
import json
import pathlib
import sys

import torch
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

VOCAB = 280  # the GPT-2 test fixture's byte-level BPE tokenizer, which the Spark tests use for these models too
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, max_position_embeddings=64,
              bos_token_id=279, eos_token_id=279, pad_token_id=None)
MODELS = {
    "llama": (LlamaForCausalLM, LlamaConfig(**{**COMMON, "max_position_embeddings": 4096}, num_attention_heads=4, num_key_value_heads=2, head_dim=12, rms_norm_eps=1e-6,
                                            attention_bias=True, mlp_bias=True, tie_word_embeddings=False,
                                            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                             "original_max_position_embeddings": 16})),
    "mistral": (MistralForCausalLM, MistralConfig(**COMMON, num_attention_heads=4, num_key_value_heads=1, rms_norm_eps=1e-5,
                                                  sliding_window=4, tie_word_embeddings=False,
                                                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(**COMMON, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                                            tie_word_embeddings=True, use_sliding_window=True, sliding_window=3, max_window_layers=1,
                                            rope_parameters={"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0})),
}
# three sequences of 12, 9 and 5 tokens, right-padded with id 0
LENGTHS = [12, 9, 5]
# and, for a model with the positions, one sequence of 2,048 tokens whose last 4 rows are compared
LONG, LONG_ROWS = 2048, 4


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        ids[i, :n] = torch.randint(0, VOCAB, (n,), generator=g)
        mask[i, :n] = 1
    return ids, mask


def make(name, out):
    cls, config = MODELS[name]
    config._attn_implementation = "eager"
    torch.manual_seed(len(name))
    model = cls(config)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    folder = out / name
    if name == "llama":
        model.to(torch.bfloat16).save_pretrained(folder, max_shard_size="40KB")
    else:
        model.save_pretrained(folder)
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    ids, mask = batch(7)
    with torch.no_grad():
        logits = reloaded(input_ids=ids, attention_mask=mask).logits
    (folder / "reference.json").write_text(json.dumps({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "logits": logits.tolist()}))
    if config.max_position_embeddings >= LONG:
        # one long sequence: rotary angles at positions near 2,000 are where float32 rounding shows; its last rows' logits
        g = torch.Generator().manual_seed(11)
        long_ids = torch.randint(0, VOCAB, (1, LONG), generator=g)
        with torch.no_grad():
            tail = reloaded(input_ids=long_ids).logits[0, -LONG_ROWS:]
        (folder / "long_reference.json").write_text(json.dumps({"input_ids": long_ids[0].tolist(), "last_logits": tail.tolist()}))


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        make(name, out)
        print(name, sorted(p.name for p in (out / name).iterdir()))


if __name__ == "__main__":
    main()
