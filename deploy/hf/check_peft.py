"""Loads a LoRAFleet adapter the way a Hugging Face user does and checks it against what LoRAFleet computed:

- PEFT's AutoPeftModelForSequenceClassification / AutoPeftModelForCausalLM give the logits (or, for a causal LM,
  the token log-probabilities) that `lorafleet eval --predictions FILE` wrote for the same token ids;
- with --merged (a `lorafleet merge` folder): PEFT's merge_and_unload() gives the same weights, and transformers'
  Auto class loads the folder with no missing or unexpected key and gives the same numbers (a classifier only when
  it has the Hugging Face head, head.pooling: hf).

    python deploy/hf/check_peft.py --adapter runs/demo/adapters/imdb --predictions imdb-test.jsonl [--merged DIR]

Prints one JSON line (rows, max differences, problems) and exits 1 on any problem or a difference over --tolerance."""
import argparse
import json
import logging
import sys
import warnings

import torch
from safetensors.torch import load_file


def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_adapter(adapter, causal_lm):
    """The documented calls: a classifier's labels.json holds num_labels, id2label and label2id for from_pretrained.
    In float32, as LoRAFleet computes: transformers 5 would load a bf16 checkpoint in bf16."""
    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification
    if causal_lm:
        model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32)
    else:
        model = AutoPeftModelForSequenceClassification.from_pretrained(adapter, dtype=torch.float32, **read_json(f"{adapter}/labels.json"))
    strict = model.load_adapter(adapter, adapter_name="strict-check")  # PEFT's own report of unused or missing keys
    model.delete_adapter("strict-check")
    return model.eval(), [f"missing adapter key {k}" for k in strict.missing_keys] + [f"unused adapter key {k}" for k in strict.unexpected_keys]


def classifier_logits(model, pooling, ids, mask):
    """The Hugging Face head (pooling HF) is the model's own; mean or first-token pooling read PEFT's body output."""
    if pooling == "HF":
        return model(input_ids=ids, attention_mask=mask).logits
    task = model.base_model.model  # the *ForSequenceClassification model with LoRA in its body
    hidden = task.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    if pooling == "CLS":
        return task.classifier(hidden[:, 0])
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return task.classifier((hidden * m).sum(1) / m.sum(1))


def token_logprobs(model, ids, mask):
    """log p(token t+1 | tokens ≤ t) for every position; padding is cut away by the caller."""
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits, dim=-1)
    return logp[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def compare(name, rows, key, compute, pad_id, report):
    worst, disagree = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            chunk = rows[i:i + 16]
            longest = max(len(r["input_ids"]) for r in chunk)
            ids = torch.full((len(chunk), longest), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for j, r in enumerate(chunk):
                ids[j, :len(r["input_ids"])] = torch.tensor(r["input_ids"])
                mask[j, :len(r["input_ids"])] = 1
            theirs = compute(ids, mask)
            for j, r in enumerate(chunk):
                ours = torch.tensor(r[key], dtype=theirs.dtype)
                mine = theirs[j, :len(ours)]
                worst = max(worst, (mine - ours).abs().max().item() if len(ours) else 0.0)
                if key == "logits":
                    disagree += int(mine.argmax() != ours.argmax())
    report[name] = {"max_abs_difference": worst, "disagreeing_predictions": disagree}
    return worst


def compare_generations(name, model, adapter, rows, report):
    """transformers' greedy generate() from each prompt's ids, as many new tokens as ours (ours stop at the same end-of-text)."""
    if model is None:  # merge_and_unload() changed the PEFT model in place: load the adapter afresh
        model, _ = load_adapter(adapter, True)
    different = []
    with torch.no_grad():
        for i, r in enumerate(rows):
            ids = torch.tensor([r["prompt_ids"]])
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=len(r["ids"]), do_sample=False,
                                 pad_token_id=model.config.pad_token_id if model.config.pad_token_id is not None else 0)
            theirs = out[0, ids.shape[1]:].tolist()
            if theirs != r["ids"]:
                different.append(f"{name} generate(), prompt {i}: {theirs} but lorafleet generated {r['ids']}")
    report[name + "_generate"] = {"prompts": len(rows), "different": len(different)}
    return different


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adapter", required=True)
    p.add_argument("--predictions", required=True, help="lorafleet eval --predictions output for this adapter")
    p.add_argument("--merged", help="the adapter's lorafleet merge output")
    p.add_argument("--generations", help="lorafleet generate output (greedy) for this adapter: PEFT's generate(), and the merged "
                   "model's, must give the same tokens")
    p.add_argument("--tolerance", type=float, default=1e-5)
    args = p.parse_args()
    with open(args.predictions) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    causal_lm = read_json(f"{args.adapter}/adapter_config.json")["task_type"] == "CAUSAL_LM"
    pooling = read_json(f"{args.adapter}/lorafleet.json")["pooling"]
    key = "token_logprobs" if causal_lm else "logits"
    report = {"rows": len(rows), "task": "CAUSAL_LM" if causal_lm else "SEQ_CLS", "pooling": pooling}

    caught = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: caught.append(record.getMessage())
    logging.getLogger("peft").addHandler(handler)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        model, problems = load_adapter(args.adapter, causal_lm)
    # transformers reports the base's missing head (the adapter brings it as modules_to_save); PEFT's warnings are the ones that matter
    problems += [str(w.message) for w in warned if "/peft/" in (w.filename or "")] + caught
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else model.config.vocab_size - 1
    model.config.pad_token_id = pad_id  # GPT-2 classifiers find each row's last token by it
    if causal_lm:
        worst = compare("peft", rows, key, lambda ids, mask: token_logprobs(model, ids, mask), pad_id, report)
    else:
        worst = compare("peft", rows, key, lambda ids, mask: classifier_logits(model, pooling, ids, mask), pad_id, report)

    if args.merged:
        # PEFT's own merge: every tensor of our merged folder, under its name or the task model's body prefix
        unloaded = model.merge_and_unload()
        peft_merged, body = unloaded.state_dict(), unloaded.base_model_prefix + "."
        ours = load_file(f"{args.merged}/model.safetensors")
        weights = 0.0
        for name, tensor in ours.items():
            theirs = peft_merged.get(name, peft_merged.get(body + name))
            if theirs is None:
                problems.append(f"merge_and_unload() has no {name}")
            else:
                weights = max(weights, (theirs.float() - tensor.float()).abs().max().item())
        report["merge_and_unload"] = {"tensors": len(ours), "max_abs_difference": weights}
        worst = max(worst, weights)

        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
        if causal_lm or pooling == "HF":
            auto = AutoModelForCausalLM if causal_lm else AutoModelForSequenceClassification
            merged, info = auto.from_pretrained(args.merged, dtype=torch.float32, output_loading_info=True)
            merged.eval()
            problems += [f"merged: {kind} {sorted(keys)}" for kind, keys in info.items() if keys]
            compute = (lambda ids, mask: token_logprobs(merged, ids, mask)) if causal_lm else (lambda ids, mask: merged(input_ids=ids, attention_mask=mask).logits)
            worst = max(worst, compare("merged", rows, key, compute, pad_id, report))

    if args.generations:
        with open(args.generations) as f:
            generations = [json.loads(line) for line in f if line.strip()]
        problems += compare_generations("peft", model if not args.merged else None, args.adapter, generations, report)
        if args.merged:
            from transformers import AutoModelForCausalLM
            problems += compare_generations("merged", AutoModelForCausalLM.from_pretrained(args.merged, dtype=torch.float32).eval(), None,
                                            generations, report)

    report["problems"] = problems
    print(json.dumps(report))
    sys.exit(0 if not problems and worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
