"""PEFT 0.21's own PiSSA and OLoRA starts (init_lora_weights "pissa", "olora"; r=4, lora_alpha=8) for layer 0's query and
value of a BERT model, saved as pissa.query.lora_A.weight, ... in one safetensors file, for LoRAFleet to compare with its own.

    python peft_init.py MODEL_FOLDER OUT.safetensors"""
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModel


def main():
    base, out = sys.argv[1], sys.argv[2]
    tensors = {}
    for init in ("pissa", "olora"):
        model = AutoModel.from_pretrained(base, dtype=torch.float32)
        peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=init))
        for name, p in peft.named_parameters():
            if "layer.0.attention.self." in name and ("lora_A" in name or "lora_B" in name):
                tensors[init + "." + name.split("layer.0.attention.self.")[1].replace(".default", "")] = p.detach().contiguous()
    save_file(tensors, out)
    print(len(tensors))


if __name__ == "__main__":
    main()
