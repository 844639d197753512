"""One optimizer step in PEFT 0.21 on PyTorch, to compare with LoRAFleet's: loads the adapter as it was before the step
(a PEFT folder LoRAFleet wrote), computes the loss of the same batch, steps once with torch's SGD (momentum 0.9) in
PEFT's LoRA+ parameter groups (create_loraplus_optimizer), and compares each trainable tensor's update with the one
LoRAFleet made (the adapter folder written after its step).

    python peft_step.py --base MODEL --before DIR --after DIR --batch batch.json --lr 0.05 --ratio 4

Prints one JSON line: per kind of tensor (lora_A, lora_B, magnitude, head) the largest update and the largest
difference of the updates."""
import argparse
import json

import torch
from peft import PeftModel
from peft.optimizers import create_loraplus_optimizer
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification


def kind(name):
    for k in ("lora_A", "lora_B", "lora_magnitude_vector"):
        if k in name:
            return k
    return "head"


def main():
    p = argparse.ArgumentParser()
    for a in ("--base", "--before", "--after", "--batch"):
        p.add_argument(a, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--ratio", type=float, required=True)
    args = p.parse_args()
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(args.base, num_labels=2, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, args.before, is_trainable=True)
    model.eval()  # no dropout anywhere: LoRAFleet's encoder has none, and the adapter's is 0
    with open(args.batch) as f:
        batch = json.load(f)
    ids = torch.tensor(batch["input_ids"])
    mask = torch.tensor(batch["attention_mask"])
    labels = torch.tensor(batch["labels"])
    before = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    optimizer = create_loraplus_optimizer(model, optimizer_cls=torch.optim.SGD, lr=args.lr, loraplus_lr_ratio=args.ratio, momentum=0.9)
    optimizer.zero_grad()
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    optimizer.step()
    after = get_peft_model_state_dict(model)
    ours = load_file(f"{args.after}/adapter_model.safetensors")
    ours_before = load_file(f"{args.before}/adapter_model.safetensors")
    report = {"loss": loss.item(), "problems": []}
    for name, value in after.items():
        if name not in ours:
            report["problems"].append(f"LoRAFleet's adapter has no {name}")
            continue
        theirs_update = (value.detach() - before[name]).float()
        our_update = (ours[name] - ours_before[name]).float()
        entry = report.setdefault(kind(name), {"largest_update": 0.0, "max_abs_difference": 0.0, "tensors": 0})
        entry["largest_update"] = max(entry["largest_update"], theirs_update.abs().max().item())
        entry["max_abs_difference"] = max(entry["max_abs_difference"], (theirs_update - our_update).abs().max().item())
        entry["tensors"] += 1
    print(json.dumps(report))


if __name__ == "__main__":
    main()
