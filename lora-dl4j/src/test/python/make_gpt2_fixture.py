"""Writes the GPT-2 parity fixture under src/test/resources/gpt2-tiny/.

A small random GPT-2 saved exactly as Hugging Face saves gpt2 checkpoints (config.json keys, tensor names
without a prefix, Conv1D weights stored [in, out], the attn.bias causal-mask buffers, no lm_head: it is tied
to wte), and the output of an independent GPT-2 forward written here in plain PyTorch (float64) on a padded
batch. No real GPT-2 weights are available offline, hence random ones.

Run with Debian's PyTorch:  /usr/bin/python3 lora-dl4j/src/test/python/make_gpt2_fixture.py
"""
import json
import math
import pathlib
import struct

import torch

OUT = pathlib.Path(__file__).resolve().parents[1] / "resources" / "gpt2-tiny"
CONFIG = {
    "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 280, "n_positions": 24, "n_ctx": 24,
    "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": None, "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-05, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1,
    "initializer_range": 0.02, "bos_token_id": 279, "eos_token_id": 279,
}
# A byte-level BPE tokenizer for it, shaped like GPT-2's tokenizer.json: GPT-2's byte-to-unicode alphabet
# (ids 0-255), a few merges, and <|endoftext|> as the last id.
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "e r", "a n", "o n", "Ġ a", "r e", "e n", "Ġ s", "o r", "Ġ w", "i s", "Ġ o",
          "a t", "e s", "Ġ b", "i t", "Ġ m", "l l", "o u"]


def random_weights(seed):
    g = torch.Generator().manual_seed(seed)
    d, layers, positions = CONFIG["n_embd"], CONFIG["n_layer"], CONFIG["n_positions"]

    def normal(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std

    w = {"wte.weight": normal(CONFIG["vocab_size"], d), "wpe.weight": normal(positions, d, std=0.1)}
    for i in range(layers):
        p = f"h.{i}."
        w[p + "ln_1.weight"] = 1 + normal(d, std=0.1)
        w[p + "ln_1.bias"] = normal(d, std=0.1)
        w[p + "attn.bias"] = torch.tril(torch.ones(positions, positions)).view(1, 1, positions, positions)
        w[p + "attn.c_attn.weight"] = normal(d, 3 * d)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = normal(3 * d, std=0.1)
        w[p + "attn.c_proj.weight"] = normal(d, d)
        w[p + "attn.c_proj.bias"] = normal(d, std=0.1)
        w[p + "ln_2.weight"] = 1 + normal(d, std=0.1)
        w[p + "ln_2.bias"] = normal(d, std=0.1)
        w[p + "mlp.c_fc.weight"] = normal(d, 4 * d)
        w[p + "mlp.c_fc.bias"] = normal(4 * d, std=0.1)
        w[p + "mlp.c_proj.weight"] = normal(4 * d, d)
        w[p + "mlp.c_proj.bias"] = normal(d, std=0.1)
    w["ln_f.weight"] = 1 + normal(d, std=0.1)
    w["ln_f.bias"] = normal(d, std=0.1)
    return {k: v.float().contiguous() for k, v in w.items()}


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(w, ids, mask):
    """GPT-2 on a right-padded batch: causal attention that also ignores padded keys; returns ln_f output and logits."""
    w = {k: v.double() for k, v in w.items()}
    batch, length = ids.shape
    d, heads = CONFIG["n_embd"], CONFIG["n_head"]
    eps = CONFIG["layer_norm_epsilon"]
    x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(length)]
    allowed = torch.tril(torch.ones(length, length, dtype=torch.bool)) & mask.bool()[:, None, None, :]
    for i in range(CONFIG["n_layer"]):
        p = f"h.{i}."
        a = torch.nn.functional.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        q, k, v = (a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]).split(d, dim=2)
        q, k, v = (t.view(batch, length, heads, d // heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // heads)
        scores = scores.masked_fill(~allowed, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, d)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = torch.nn.functional.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]) @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    hidden = torch.nn.functional.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
    return hidden, hidden @ w["wte.weight"].T


def write_safetensors(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors.items():
        size = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for t in tensors.values():
            f.write(t.numpy().astype("<f4").tobytes())


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def tokenizer_json():
    vocab = {c: i for i, c in enumerate(byte_alphabet())}
    for merge in MERGES:
        vocab[merge.replace(" ", "")] = len(vocab)
    eos = CONFIG["eos_token_id"]
    assert len(vocab) <= eos, "merges must leave room for <|endoftext|>"
    vocab["<|endoftext|>"] = eos
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eos, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": True, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "vocab": vocab, "merges": MERGES},
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    weights = random_weights(seed=20261128)
    lengths = [16, 11, 5]
    length = max(lengths)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, CONFIG["vocab_size"], (len(lengths), length), generator=g)
    mask = torch.zeros(len(lengths), length, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = CONFIG["eos_token_id"]
    hidden, logits = forward(weights, ids, mask)
    (OUT / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    (OUT / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False) + "\n")
    write_safetensors(OUT / "model.safetensors", weights)
    reference = {
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(),
        "last_hidden_state": hidden.tolist(), "logits": logits.tolist(),
        "made_by": "lora-dl4j/src/test/python/make_gpt2_fixture.py, torch " + torch.__version__,
    }
    (OUT / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"wrote {OUT}: {sum(t.numel() for t in weights.values())} values")


if __name__ == "__main__":
    main()
