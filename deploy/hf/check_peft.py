"""Loads a LoRAFleet adapter the way a Hugging Face user does (PEFT's AutoPeftModelForSequenceClassification, and
its merged folder with transformers' AutoModelForSequenceClassification) and checks that both give the logits that
`lorafleet eval --predictions FILE` wrote for the same token ids.

    python deploy/hf/check_peft.py --adapter runs/demo/adapters/imdb --predictions imdb-test.jsonl [--merged DIR]

Prints one JSON line (rows, max |Δ logits|, disagreeing predictions, warnings) and exits 1 when a load warns or
misses keys, or a logit differs by more than --tolerance."""
import argparse
import json
import logging
import sys
import warnings

import torch


def load_adapter(adapter):
    """The documented call: labels.json holds num_labels, id2label and label2id for from_pretrained."""
    from peft import AutoPeftModelForSequenceClassification
    with open(f"{adapter}/labels.json") as f:
        labels = json.load(f)
    model = AutoPeftModelForSequenceClassification.from_pretrained(adapter, **labels).eval()
    strict = model.load_adapter(adapter, adapter_name="strict-check")  # PEFT's own report of unused or missing keys
    problems = [f"missing adapter key {k}" for k in strict.missing_keys] + [f"unused adapter key {k}" for k in strict.unexpected_keys]
    model.delete_adapter("strict-check")
    return model, problems


def pooled_logits(model, pooling, ids, mask):
    """The Hugging Face head (pooling HF) is the model's own; mean or first-token pooling read PEFT's body output."""
    if pooling == "HF":
        return model(input_ids=ids, attention_mask=mask).logits
    task = model.base_model.model  # the *ForSequenceClassification model with LoRA in its body
    hidden = task.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    if pooling == "CLS":
        return task.classifier(hidden[:, 0])
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return task.classifier((hidden * m).sum(1) / m.sum(1))


def batches(rows, pad_id, size=16):
    for i in range(0, len(rows), size):
        chunk = rows[i:i + size]
        longest = max(len(r["input_ids"]) for r in chunk)
        ids = torch.full((len(chunk), longest), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, r in enumerate(chunk):
            ids[j, :len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[j, :len(r["input_ids"])] = 1
        yield chunk, ids, mask


def compare(name, rows, logits_of, pad_id, report):
    worst, disagree = 0.0, 0
    with torch.no_grad():
        for chunk, ids, mask in batches(rows, pad_id):
            theirs = logits_of(ids, mask)
            ours = torch.tensor([r["logits"] for r in chunk])
            worst = max(worst, (theirs - ours).abs().max().item())
            disagree += int((theirs.argmax(-1) != ours.argmax(-1)).sum())
    report[name] = {"max_abs_logit_difference": worst, "disagreeing_predictions": disagree}
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adapter", required=True)
    p.add_argument("--predictions", required=True, help="lorafleet eval --predictions output for this adapter")
    p.add_argument("--merged", help="the adapter's lorafleet merge output (head.pooling: hf), loaded with AutoModelForSequenceClassification")
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args()
    with open(args.predictions) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(f"{args.adapter}/lorafleet.json") as f:
        pooling = json.load(f)["pooling"]

    caught = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: caught.append(record.getMessage())
    logging.getLogger("peft").addHandler(handler)
    report = {"rows": len(rows), "pooling": pooling}
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        model, problems = load_adapter(args.adapter)
    # transformers reports the base's missing head (it is the adapter's modules_to_save); PEFT's warnings are the ones that matter
    problems += [str(w.message) for w in warned if "/peft/" in (w.filename or "")] + caught
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else model.config.vocab_size - 1
    model.config.pad_token_id = pad_id  # GPT-2 finds each row's last token by it
    worst = compare("peft", rows, lambda ids, mask: pooled_logits(model, pooling, ids, mask), pad_id, report)

    if args.merged:
        from transformers import AutoModelForSequenceClassification
        merged, info = AutoModelForSequenceClassification.from_pretrained(args.merged, output_loading_info=True)
        merged.eval()
        problems += [f"merged: {kind} {sorted(keys)}" for kind, keys in info.items() if keys]
        worst = max(worst, compare("merged", rows, lambda ids, mask: merged(input_ids=ids, attention_mask=mask).logits, pad_id, report))

    report["problems"] = problems
    print(json.dumps(report))
    sys.exit(0 if not problems and worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
