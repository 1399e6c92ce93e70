"""A tiny BERT sentence-embedding model, built here with random weights, in the layout of a
sentence-transformers folder (config.json, model.safetensors, tokenizer.json): what
`wikimem semantic fetch --from` converts and loads like the real all-MiniLM-L6-v2.

SYNONYMS share one word vector, so a sentence of one reads exactly like a sentence of the
other to the model (cosine 1), while no lexical search connects them.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("the a my i have we grew up with three sisters siblings brother how many do did you "
         "about reunion school high cache redis postgres database deploy build test lint "
         "notes page wiki search fix bug error timeout retry config").split()
SYNONYMS = [("siblings", "sisters")]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN, HEADS, LAYERS, INTERMEDIATE, POSITIONS = 32, 4, 2, 64, 64


def vocabulary() -> list[str]:
    return SPECIAL + list(dict.fromkeys(WORDS)) + [".", ",", "?", "!"]


def build(folder: Path, seed: int = 7) -> Path:
    """Write the model folder; returns it."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(vocabulary())}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]),
                                                 ("[SEP]", vocab["[SEP]"])])
    tokenizer.save(str(folder / "tokenizer.json"))
    rng = np.random.default_rng(seed)

    def rand(*shape: int):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    words = rand(len(vocab), HIDDEN)
    for a, b in SYNONYMS:
        words[vocab[b]] = words[vocab[a]]
    weights = {
        "embeddings.word_embeddings.weight": words,
        "embeddings.position_embeddings.weight": rand(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": rand(2, HIDDEN),
        "embeddings.LayerNorm.weight": 1 + rand(HIDDEN), "embeddings.LayerNorm.bias": rand(HIDDEN),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            weights[f"{p}attention.self.{name}.weight"] = rand(HIDDEN, HIDDEN)
            weights[f"{p}attention.self.{name}.bias"] = rand(HIDDEN)
        weights[f"{p}attention.output.dense.weight"] = rand(HIDDEN, HIDDEN)
        weights[f"{p}attention.output.dense.bias"] = rand(HIDDEN)
        weights[f"{p}intermediate.dense.weight"] = rand(INTERMEDIATE, HIDDEN)
        weights[f"{p}intermediate.dense.bias"] = rand(INTERMEDIATE)
        weights[f"{p}output.dense.weight"] = rand(HIDDEN, INTERMEDIATE)
        weights[f"{p}output.dense.bias"] = rand(HIDDEN)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{p}{norm}.weight"] = 1 + rand(HIDDEN)
            weights[f"{p}{norm}.bias"] = rand(HIDDEN)
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": HIDDEN,
        "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
        "intermediate_size": INTERMEDIATE, "max_position_embeddings": POSITIONS,
        "layer_norm_eps": 1e-12, "vocab_size": len(vocab), "type_vocab_size": 2}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    return folder


def reference(folder: Path, texts: list[str]):
    """The model's sentence vectors computed in plain numpy (mean pooling, unit length):
    what the ONNX graph must give."""
    from math import erf, sqrt

    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    w = load_file(str(folder / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    verf = np.vectorize(erf)
    out = []

    def norm(x, name):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]

    def dense(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    for text in texts:
        ids = tokenizer.encode(text).ids
        n, d = len(ids), HIDDEN // HEADS
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = norm(x, "embeddings.LayerNorm")
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            q, k, v = (dense(x, f"{p}attention.self.{s}").reshape(n, HEADS, d).transpose(1, 0, 2)
                       for s in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / sqrt(d)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            context = (probs @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
            x = norm(dense(context, f"{p}attention.output.dense") + x,
                     f"{p}attention.output.LayerNorm")
            h = dense(x, f"{p}intermediate.dense")
            h = h * 0.5 * (1 + verf(h / sqrt(2)))
            x = norm(dense(h, f"{p}output.dense") + x, f"{p}output.LayerNorm")
        v = x.mean(0)
        out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32)
