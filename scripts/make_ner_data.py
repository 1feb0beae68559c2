"""Build tests/data/ner/ from WNUT-17 (CC-BY-4.0): a seeded sample of its training sentences as JSONL.

Usage: ``python scripts/make_ner_data.py wnut17train.conll tests/data/ner`` with the file from
github.com/leondz/emerging_entities_17 (see tests/data/ner/README.md for the commit). Each sentence's
tokens are joined by single spaces; a BIO entity becomes the character span of its tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

MAX_TOKENS = 40
POOL, TEST = 600, 300
SEED = 17


def sentences(path: Path) -> list[list[tuple[str, str]]]:
    """The CoNLL file's sentences as (token, tag) lists (a line of whitespace ends a sentence)."""
    out: list[list[tuple[str, str]]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if not line.strip():
            if out[-1]:
                out.append([])
            continue
        out[-1].append((parts[0], parts[1].strip()))
    return [s for s in out if s]


def to_record(sentence: list[tuple[str, str]]) -> dict:
    """``{"text", "spans"}``: tokens joined by spaces, each B-/I- run a span (an I- without B- starts one)."""
    text, spans, previous = "", [], "O"
    for token, tag in sentence:
        begin = len(text) + (1 if text else 0)
        text = f"{text} {token}" if text else token
        if tag.startswith("I-") and previous[2:] == tag[2:]:
            spans[-1]["end"] = len(text)
        elif tag != "O":
            spans.append({"start": begin, "end": len(text), "label": tag[2:]})
        previous = tag
    return {"text": text, "spans": spans}


def main(source: str, out: str) -> None:
    kept = [s for s in sentences(Path(source)) if len(s) <= MAX_TOKENS]
    order = np.random.default_rng(SEED).permutation(len(kept))
    records = [to_record(kept[i]) for i in order[: POOL + TEST]]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("pool.jsonl", records[:POOL]), ("test.jsonl", records[POOL:])):
        with open(folder / name, "w", encoding="utf-8") as fh:
            for record in part:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{len(kept)} sentences of at most {MAX_TOKENS} tokens; wrote {POOL} pool and {TEST} test")


if __name__ == "__main__":
    main(*sys.argv[1:3])
