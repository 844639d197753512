"""Renders every chat template in a folder on every conversation of conversations.json with transformers' own
renderer (the one apply_chat_template calls), and writes what it gave, or the error it raised, as JSON for
ChatTemplateIT to compare with ours.

usage: render_chat_templates.py TEMPLATE_DIR OUT_JSON
"""
import json
import pathlib
import sys

from transformers.utils.chat_template_utils import render_jinja_template

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}  # what ChatTemplateIT passes too


def main(folder, out):
    folder = pathlib.Path(folder)
    cases = json.loads((folder / "conversations.json").read_text(encoding="utf-8"))
    results = {}
    for path in sorted(folder.glob("*.jinja")):
        template = path.read_text(encoding="utf-8")
        for i, case in enumerate(cases):
            try:
                rendered, _ = render_jinja_template(conversations=[case["messages"]], tools=case.get("tools"), chat_template=template,
                                                    add_generation_prompt=case["add_generation_prompt"], **SPECIAL_TOKENS)
                results[f"{path.name}#{i}"] = {"text": rendered[0]}
            except Exception as e:  # the template's raise_exception, or a type error Jinja reports
                results[f"{path.name}#{i}"] = {"error": f"{type(e).__name__}: {e}"}
    pathlib.Path(out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
