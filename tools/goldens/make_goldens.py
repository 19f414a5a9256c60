#!/usr/bin/env python3
"""Tiny SPLARE model fixtures + golden outputs computed with Hugging Face transformers/torch.

Writes five model directories (see /work/main/models.md for the contract) under
tests/fixtures/:

    tiny-bert     BertModel,              layer 2/3, SAE layout splaredb    (TopK k=8, pre_bias), pooling content
    tiny-xlmr     XLMRobertaForMaskedLM,  layer 3/3, SAE layout sae_lens    (standard ReLU, apply_b_dec_to_input), pooling all
    tiny-llama    LlamaModel + PEFT LoRA, layer 2/3, SAE layout llama_scope (JumpReLU, dataset-wise norm, bf16), bidirectional
    tiny-gemma2   Gemma2Model,            layer 2/3, SAE layout gemma_scope (JumpReLU, per-latent threshold), bidirectional
    tiny-qwen2    Qwen2ForCausalLM,       layer 2/2, SAE layout splaredb    (ReLU), causal

Each directory holds config.json, model.safetensors, tokenizer.json, splare.json, the SAE
files and golden.json (hidden states, SAE latents and pooled vectors from transformers in
float32 on CPU with eager attention).  See tools/goldens/README.md.

Re-run (from the repository root; the venv lives outside the repo):

    python3 -m venv /work/venv-goldens
    /work/venv-goldens/bin/pip install -r tools/goldens/requirements.txt
    /work/venv-goldens/bin/python tools/goldens/make_goldens.py

Options: --out DIR (default tests/fixtures), --only NAME[,NAME...].
Deterministic (byte-identical re-runs): fixed seeds, single-threaded torch, WordPiece/Unigram vocabularies
built directly (their trainers are not reproducible), BPE trained without parallelism.
Every fixture is re-verified at the end from its files alone (AutoModel.from_pretrained, LoRA merged from the
adapter files, SAE read back per layout, tokenizer.json re-encoded): all golden values must reproduce to 1e-5.
Takes about 10 s on one CPU core (3 s of it importing torch).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import (  # noqa: E402
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

ROOT = Path(__file__).resolve().parents[2]
N_LATENTS = 256
MAX_LENGTH = 16
TOP_K = {"query": 8, "document": 32}
MAX_WEIGHT = 8.0
SEQ = 12  # id_case sequence length
ROW1_VALID = 9  # valid tokens in the right-padded second row
MARGIN = 1e-3  # min distance of any JumpReLU pre-activation from its threshold / any TopK boundary gap


# --------------------------------------------------------------------------------------
# corpus
# --------------------------------------------------------------------------------------

TEXT_CASES = [
    ("short-query", "query", "what is a sparse vector?"),
    ("long-query", "query",
     "how does the search engine rank long passages and short questions with sparse features from a transformer encoder?"),
    ("short-document", "document", "Sparse features are stored in the index."),
    ("long-document", "document",
     "Learned sparse retrieval maps text to weighted terms. The database stores long passages, the model "
     "encodes every token, and the index returns the final answer for each request without errors."),
    ("mixed-script-document", "document", "Café naïve — 東京 🚀 données ÜBER straße, привет мир! 😀"),
]


def make_corpus(n: int = 320, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    subjects = ["the database", "a sparse vector", "the encoder", "our index", "the query", "a document",
                "the model", "this paper", "the search engine", "a transformer", "the tokenizer",
                "every latent", "the autoencoder", "a user", "the server", "my laptop", "the cat",
                "an old library", "the river", "a small village", "the teacher", "students"]
    verbs = ["stores", "retrieves", "encodes", "ranks", "compresses", "reads", "writes", "explains",
             "finds", "learns", "describes", "ignores", "prefers", "returns", "builds", "checks",
             "visits", "follows", "remembers", "measures"]
    objects = ["long passages", "short questions", "sparse features", "dense embeddings", "inverted lists",
               "every token", "the hidden states", "many languages", "weather reports", "fresh bread",
               "the mountain trail", "an empty page", "quiet music", "the evening news", "old photographs",
               "large tables", "interpretable latents", "the final answer", "a red bicycle", "green tea"]
    tails = ["quickly", "with care", "every morning", "in the background", "without errors", "at night",
             "for each request", "on the disk", "in memory", "before lunch", "after a long day", ""]
    extra = [
        "What is the capital of France?",
        "How do sparse autoencoders help retrieval?",
        "Paris is the capital and largest city of France.",
        "Learned sparse retrieval maps text to weighted terms.",
        "The inverted index lists documents for every latent feature.",
        "A hidden state is a vector of floating point numbers.",
        "Transformers read tokens and produce contextual representations.",
        "Why does the model truncate long inputs to a fixed length?",
        "Queries are short while documents are usually much longer.",
        "The quick brown fox jumps over the lazy dog.",
    ]
    out = list(extra)
    # the text-case sentences (and E5-style prefixes) so that they tokenize into whole words
    out += [t for _, _, t in TEXT_CASES[:4]] + ["query: " + t for _, _, t in TEXT_CASES[:2]]
    out += ["passage: " + t for _, _, t in TEXT_CASES[2:4]]
    while len(out) < n:
        s = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)}".strip()
        s = s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?"])
        out.append(s)
    return out




# --------------------------------------------------------------------------------------
# tokenizers
# --------------------------------------------------------------------------------------

def _word_counts(corpus, normalizer, pre_tokenizer):
    from collections import Counter
    c = Counter()
    for line in corpus:
        for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            c[w] += 1
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))


SUFFIXES = ["s", "es", "ed", "ing", "er", "ly", "tion", "al", "ent", "ers", "ies", "est"]


def tok_bert(corpus):
    # The vocab is built here (not by WordPieceTrainer, whose ids are not reproducible run to run):
    # specials, every character, every '##'+character, suffixes, then the most frequent words.
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                      lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = _word_counts(corpus, norm, pre)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({ch for w, _ in words for ch in w})
    vocab += chars + ["##" + ch for ch in chars] + ["##" + sfx for sfx in SUFFIXES]
    for w, _ in words:
        if len(vocab) >= 400:
            break
        if len(w) > 1 and w not in vocab:
            vocab.append(w)
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                     max_input_chars_per_word=100))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok, dict(bos=cls, eos=sep, pad=tok.token_to_id("[PAD]"))


def tok_xlmr(corpus):
    # Unigram model built directly (UnigramTrainer is not reproducible run to run):
    # pieces = specials, '▁'+frequent words, suffixes, single characters; score = log relative frequency.
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    words = _word_counts(corpus, norm, pre)
    total = float(sum(c for _, c in words))
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    seen = {p for p, _ in pieces}
    for w, c in words[:200]:
        if w not in seen:
            pieces.append((w, math.log(c / total)))
            seen.add(w)
    for sfx in SUFFIXES:
        if sfx not in seen:
            pieces.append((sfx, math.log(0.5 / total)))
            seen.add(sfx)
    chars = sorted({ch for w, _ in words for ch in w})
    for ch in chars:
        if ch not in seen:
            pieces.append((ch, math.log(0.1 / total)))
            seen.add(ch)
    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    assert tok.token_to_id("<pad>") == 1
    return tok, dict(bos=bos, eos=eos, pad=1)


def _bytelevel_bpe(corpus, vocab_size, special_first=()):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                             special_tokens=list(special_first),
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, tr)
    return tok


def tok_llama(corpus):
    tok = _bytelevel_bpe(corpus, 512)
    tok.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>"])  # appended at the end, like Llama 3
    bos, eos = tok.token_to_id("<|begin_of_text|>"), tok.token_to_id("<|end_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok, dict(bos=bos, eos=eos, pad=eos)  # Llama 3 has no pad token; pad with <|end_of_text|>


def tok_gemma2(corpus):
    tok = _bytelevel_bpe(corpus, 512, special_first=["<pad>", "<eos>", "<bos>", "<unk>"])  # Gemma's id order
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B:1", special_tokens=[("<bos>", bos)])
    return tok, dict(bos=bos, eos=tok.token_to_id("<eos>"), pad=tok.token_to_id("<pad>"))


def tok_qwen2(corpus):
    # Like the real Qwen2 tokenizer: no BOS, nothing added by the post-processor.
    tok = _bytelevel_bpe(corpus, 512)
    tok.add_special_tokens(["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    eot = tok.token_to_id("<|endoftext|>")
    return tok, dict(bos=None, eos=eot, pad=eot)


def special_ids(tok: Tokenizer) -> list[int]:
    """Ids not pooled under `tokens: content`: added tokens marked special, except the model's unknown token
    (an unknown word is content: it carries the text's position and context)."""
    j = json.loads(tok.to_str())
    model = j["model"]
    unk = model.get("unk_id")
    if unk is None and model.get("unk_token") is not None:
        unk = tok.token_to_id(model["unk_token"])
    return sorted(t["id"] for t in j["added_tokens"] if t.get("special") and t["id"] != unk)


# --------------------------------------------------------------------------------------
# backbones
# --------------------------------------------------------------------------------------

def perturb(model, seed, kind, qk_gain=1.0):
    """Replace HF's tiny init by O(1) random weights so every feature visibly matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            lname = name.lower()
            is_norm = "norm" in lname
            if is_norm and name.endswith("weight"):
                if kind == "gemma2":  # Gemma RMSNorm scales by (1 + weight)
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed" in lname:
                std = 0.5 if ("position" in lname or "token_type" in lname) else 1.0
                if kind == "gemma2":  # Gemma multiplies embeddings by sqrt(hidden_size)
                    std = 1.0 / math.sqrt(p.shape[1])
                p.copy_(std * torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                std = 1.0 / math.sqrt(p.shape[1])
                if any(k in lname for k in ("q_proj", "k_proj", ".query.", ".key.")):
                    std *= qk_gain
                p.copy_(std * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def four_d_padding_mask(am: torch.Tensor) -> torch.Tensor:
    """(b,s) 0/1 -> (b,1,s,s) additive float mask: 0 where the key is a real token, finfo.min where padding."""
    b, s = am.shape
    m = torch.zeros(b, 1, s, s, dtype=torch.float32)
    m.masked_fill_((am == 0)[:, None, None, :].expand(b, 1, s, s), torch.finfo(torch.float32).min)
    return m


class Backbone:
    """Runs the HF model and returns hidden_states[layer] (raw residual stream)."""

    def __init__(self, fx, model):
        self.fx = fx
        self.model = model.eval()
        self.base = fx["base_of"](self.model)
        self.layer = fx["layer"]

    @torch.no_grad()
    def hidden(self, input_ids, attention_mask, bidirectional):
        ids = torch.tensor(input_ids, dtype=torch.long)
        am = torch.tensor(attention_mask, dtype=torch.long)
        if not self.fx["decoder"]:
            out = self.base(input_ids=ids, attention_mask=am, output_hidden_states=True)
            return out.hidden_states[self.layer].float()
        captured = {}

        def hook(_mod, _inp, out):
            captured["h"] = (out[0] if isinstance(out, (tuple, list)) else out).detach().clone()

        handle = self.base.layers[self.layer - 1].register_forward_hook(hook)
        try:
            mask = four_d_padding_mask(am) if bidirectional else am
            out = self.base(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        finally:
            handle.remove()
        h = captured["h"].float()
        if self.layer < self.base.config.num_hidden_layers:
            # intermediate hidden_states entries are the raw residual stream: must equal the hook
            assert torch.equal(h, out.hidden_states[self.layer]), "hook / hidden_states mismatch"
        return h


# --------------------------------------------------------------------------------------
# SAEs
# --------------------------------------------------------------------------------------

def bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


def place_off_threshold(p0: torch.Tensor, target: float, theta: float, round_fn=lambda v: v):
    """Pick a bias b near `target` so that every pre = p0 + b is at least MARGIN away from theta."""
    for k in range(0, 4000):
        for sgn in ((1,) if k == 0 else (1, -1)):
            b = round_fn(target + sgn * k * 2.5e-4)
            pre = p0 + torch.tensor(b, dtype=torch.float32)
            if float((pre - theta).abs().min()) >= MARGIN:
                return b
    raise RuntimeError("could not place bias off the threshold")


def place_threshold(p: torch.Tensor, target: float) -> float:
    for k in range(0, 4000):
        for sgn in ((1,) if k == 0 else (1, -1)):
            th = float(np.float32(target + sgn * k * 2.5e-4))
            if float((p - th).abs().min()) >= MARGIN:
                return th
    raise RuntimeError("could not place threshold")


def build_sae(fx, H: torch.Tensor, seed: int):
    """H: all token hidden rows [T, d] that goldens will touch.  Returns an SAE dict:
    encode(h)->z, write(dir), splare_sae (the splare.json 'sae' object)."""
    layout, d, N = fx["sae_layout"], H.shape[1], N_LATENTS
    g = torch.Generator().manual_seed(seed)
    mean = H.mean(0)
    if layout == "splaredb":
        act = fx["sae_activation"]
        use_pre_bias = fx.get("pre_bias", False)
        pre_bias = (mean + 0.3 * torch.randn(d, generator=g)) if use_pre_bias else torch.zeros(d)
        X = H - pre_bias
        W = torch.randn(N, d, generator=g)
        P = X @ W.T
        W = W / P.std()
        P = X @ W.T
        b = -P.mean(0) + 0.5 * torch.randn(N, generator=g)
        W, b, pre_bias = W.float().contiguous(), b.float().contiguous(), pre_bias.float().contiguous()

        def encode(h):
            x = h - pre_bias if use_pre_bias else h
            pre = x @ W.T + b
            if act["kind"] == "relu":
                return torch.relu(pre), pre
            if act["kind"] == "topk":
                top = torch.topk(pre, act["k"], dim=-1)
                z = torch.zeros_like(pre).scatter_(-1, top.indices, torch.relu(top.values))
                return z, pre
            raise ValueError(act)

        def write(dst: Path):
            t = {"encoder.weight": W, "encoder.bias": b}
            if use_pre_bias:
                t["pre_bias"] = pre_bias
            save_file(t, str(dst / "sae.safetensors"))

        return dict(encode=encode, write=write, kind=act["kind"], k=act.get("k"),
                    splare={"layout": "splaredb", "path": "sae.safetensors", "activation": act,
                            "input_norm": {"kind": "none"}})

    if layout == "sae_lens":
        b_dec = (mean + 0.3 * torch.randn(d, generator=g)).float()
        X = H - b_dec
        W_enc = torch.randn(d, N, generator=g)
        W_enc = W_enc / (X @ W_enc).std()
        P = X @ W_enc
        b_enc = -P.mean(0) + 0.5 * torch.randn(N, generator=g)
        W_dec = torch.randn(N, d, generator=g)
        W_dec = W_dec / W_dec.norm(dim=1, keepdim=True)
        W_enc, b_enc, W_dec = W_enc.float().contiguous(), b_enc.float().contiguous(), W_dec.float().contiguous()

        def encode(h):
            pre = (h - b_dec) @ W_enc + b_enc  # process_sae_in: x - b_dec * apply_b_dec_to_input
            return torch.relu(pre), pre

        def write(dst: Path):
            sd = dst / "sae"
            sd.mkdir()
            save_file({"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec},
                      str(sd / "sae_weights.safetensors"))
            hook_layer = fx["layer"] - 1
            cfg = {  # sae_lens 6.x SAE.save_model / cfg.to_dict() shape
                "d_in": d, "d_sae": N, "dtype": "float32", "device": "cpu",
                "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
                "meta": {"model_name": fx["name"], "hook_name": f"blocks.{hook_layer}.hook_resid_post",
                         "model_class_name": None, "hook_layer": hook_layer, "hook_head_index": None,
                         "model_from_pretrained_kwargs": None, "prepend_bos": True,
                         "exclude_special_tokens": None, "neuronpedia_id": None, "context_size": None,
                         "seqpos_slice": None, "dataset_path": None, "sae_lens_version": "6.12.1",
                         "sae_lens_training_version": "6.12.1"},
                "architecture": "standard",
            }
            (sd / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n")

        return dict(encode=encode, write=write, kind="relu",
                    splare={"layout": "sae_lens", "path": "sae", "activation": {"kind": "relu"},
                            "input_norm": {"kind": "none"}})

    if layout == "llama_scope":
        theta = 0.25  # exactly representable in bf16, like the released 0.75390625
        avg_norm = float(bf16(H.norm(dim=1).mean().reshape(1))[0])
        scale = math.sqrt(d) / avg_norm
        X = H * scale
        W = torch.randn(N, d, generator=g)
        W = bf16(W / (X @ W.T).std())
        P0 = X @ W.T  # float32 pre-activation without bias
        targets = -P0.mean(0) + theta + 0.5 * torch.randn(N, generator=g)
        b = torch.tensor([place_off_threshold(P0[:, j], float(targets[j]), theta,
                                              lambda v: float(bf16(torch.tensor([v]))[0]))
                          for j in range(N)], dtype=torch.float32)
        assert torch.equal(b, bf16(b))
        dec_w = torch.randn(d, N, generator=g)
        dec_w = bf16(dec_w / dec_w.norm(dim=0, keepdim=True))  # unit-norm decoder columns (up to bf16)
        dec_b = bf16(0.5 * torch.randn(d, generator=g))
        W, b = W.contiguous(), b.contiguous()

        def encode(h):
            pre = (h * scale) @ W.T + b  # norm_activation dataset-wise; decoder bias NOT subtracted
            return pre * (pre > theta).to(pre.dtype), pre

        def write(dst: Path):
            sd = dst / "sae"
            (sd / "checkpoints").mkdir(parents=True)
            save_file({"encoder.weight": W.to(torch.bfloat16), "encoder.bias": b.to(torch.bfloat16),
                       "decoder.weight": dec_w.to(torch.bfloat16).contiguous(),
                       "decoder.bias": dec_b.to(torch.bfloat16)},
                      str(sd / "checkpoints" / "final.safetensors"))
            block = fx["layer"] - 1
            hp = {  # field set of OpenMOSS Llama3_1-8B-Base-LXR-*x hyperparams.json
                "device": "cpu", "seed": 42, "dtype": "torch.bfloat16",
                "hook_point_in": f"blocks.{block}.hook_resid_post",
                "hook_point_out": f"blocks.{block}.hook_resid_post",
                "use_decoder_bias": True, "apply_decoder_bias_to_pre_encoder": False,
                "expansion_factor": N // d, "d_model": d, "d_sae": N, "bias_init_method": "all_zero",
                "act_fn": "jumprelu", "jump_relu_threshold": theta, "norm_activation": "dataset-wise",
                "dataset_average_activation_norm": {"in": avg_norm, "out": avg_norm},
                "decoder_exactly_fixed_norm": False, "sparsity_include_decoder_norm": True,
                "use_glu_encoder": False, "init_decoder_norm": 0.5, "init_encoder_norm": None,
                "init_encoder_with_decoder_transpose": True, "lp": 1, "l1_coefficient": 8e-05,
                "l1_coefficient_warmup_steps": 78125, "top_k": 50, "k_warmup_steps": 78125,
                "use_batch_norm_mse": True, "use_ghost_grads": False, "tp_size": 1, "ddp_size": 1,
            }
            (sd / "hyperparams.json").write_text(json.dumps(hp, indent=4) + "\n")

        return dict(encode=encode, write=write, kind="jumprelu", theta=theta,
                    splare={"layout": "llama_scope", "path": "sae",
                            "activation": {"kind": "jumprelu", "threshold": theta},
                            "input_norm": {"kind": "dataset_wise", "average_norm": avg_norm}})

    if layout == "gemma_scope":
        W_enc = torch.randn(d, N, generator=g)
        W_enc = W_enc / (H @ W_enc).std()
        P0 = H @ W_enc
        b_enc = -P0.mean(0) + 0.3 * torch.randn(N, generator=g)
        W_enc, b_enc = W_enc.float().contiguous(), b_enc.float().contiguous()
        P = H @ W_enc + b_enc
        th_target = 0.1 + 0.5 * torch.rand(N, generator=g)
        threshold = torch.tensor([place_threshold(P[:, j], float(th_target[j])) for j in range(N)],
                                 dtype=torch.float32)
        W_dec = torch.randn(N, d, generator=g)
        W_dec = (W_dec / W_dec.norm(dim=1, keepdim=True)).float().contiguous()
        b_dec = (0.5 * torch.randn(d, generator=g)).float()

        def encode(h):
            pre = h @ W_enc + b_enc  # Gemma Scope never subtracts b_dec
            return torch.relu(pre) * (pre > threshold).to(pre.dtype), pre

        def write(dst: Path):
            np.savez(dst / "params.npz", W_enc=W_enc.numpy(), W_dec=W_dec.numpy(), b_enc=b_enc.numpy(),
                     b_dec=b_dec.numpy(), threshold=threshold.numpy())

        return dict(encode=encode, write=write, kind="jumprelu", theta=threshold,
                    splare={"layout": "gemma_scope", "path": "params.npz",
                            "activation": {"kind": "jumprelu", "threshold": 0.0},
                            "input_norm": {"kind": "none"}})
    raise ValueError(layout)


# --------------------------------------------------------------------------------------
# pooling / pruning
# --------------------------------------------------------------------------------------

def pool(z: torch.Tensor, ids: list[int], am: list[int], specials: set[int], mode: str) -> torch.Tensor:
    """z [s, N] -> u [N], u_j = max over pooled tokens of log(1 + relu(z_ij)) (0 if none)."""
    keep = [i for i in range(len(ids)) if am[i] == 1 and (mode == "all" or ids[i] not in specials)]
    if not keep:
        return torch.zeros(z.shape[-1])
    w = torch.log1p(torch.relu(z[keep]))
    return w.max(dim=0).values


def prune(u: torch.Tensor, k: int):
    nz = [(float(u[j]), j) for j in range(u.shape[0]) if float(u[j]) > 0.0]
    nz.sort(key=lambda t: (-t[0], t[1]))
    if k > 0:
        nz = nz[:k]
    nz.sort(key=lambda t: t[1])
    return [j for _, j in nz], [min(v, MAX_WEIGHT) for v, _ in nz]


def prune_margin_ok(u: torch.Tensor, k: int) -> bool:
    vals = sorted((float(v) for v in u if float(v) > 0.0), reverse=True)
    if vals and vals[-1] < MARGIN:  # a tiny positive value could flip to 0
        return False
    if k > 0 and len(vals) > k and vals[k - 1] - vals[k] < MARGIN:
        return False
    return True


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

def cfg_bert(vocab, sp):
    return transformers.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                   intermediate_size=64, hidden_act="gelu", max_position_embeddings=64,
                                   type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=sp["pad"])


def cfg_xlmr(vocab, sp):
    return transformers.XLMRobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=3,
                                         num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
                                         max_position_embeddings=40, type_vocab_size=1, layer_norm_eps=1e-5,
                                         pad_token_id=1, bos_token_id=0, eos_token_id=2)


def cfg_llama(vocab, sp, rope_type="llama3"):
    rope = {"rope_type": "default", "rope_theta": 500000.0}
    if rope_type == "llama3":
        # original_max_position_embeddings is small so that all three llama3 regimes (kept / smoothed /
        # divided by factor) hit some frequency and change hidden states by >> 1e-4 at positions < 16.
        rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    return transformers.LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                                    num_attention_heads=4, num_key_value_heads=2, head_dim=16, hidden_act="silu",
                                    max_position_embeddings=512, rms_norm_eps=1e-5, rope_parameters=rope,
                                    bos_token_id=sp["bos"], eos_token_id=sp["eos"], tie_word_embeddings=False)


def cfg_gemma2(vocab, sp, **over):
    kw = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, hidden_activation="gelu_pytorch_tanh",
              max_position_embeddings=64, rms_norm_eps=1e-6, query_pre_attn_scalar=24,
              sliding_window=8, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
              attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
              pad_token_id=sp["pad"], bos_token_id=sp["bos"], eos_token_id=sp["eos"])
    kw.update(over)
    return transformers.Gemma2Config(**kw)


def cfg_qwen2(vocab, sp):
    return transformers.Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                                    max_position_embeddings=128, rms_norm_eps=1e-6,
                                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                                    use_sliding_window=False, tie_word_embeddings=True,
                                    bos_token_id=sp["eos"], eos_token_id=sp["eos"])


FIXTURES = [
    dict(name="tiny-bert", kind="bert", decoder=False, layer=2, bidirectional=True, seed=101,
         tokenizer=tok_bert, config=cfg_bert, cls=transformers.BertModel, base_of=lambda m: m,
         sae_layout="splaredb", sae_activation={"kind": "topk", "k": 8}, pre_bias=True, pooling="content",
         prefix={"query": "query: ", "document": "passage: "}),
    dict(name="tiny-xlmr", kind="xlm-roberta", decoder=False, layer=3, bidirectional=True, seed=202,
         tokenizer=tok_xlmr, config=cfg_xlmr, cls=transformers.XLMRobertaForMaskedLM, base_of=lambda m: m.roberta,
         sae_layout="sae_lens", pooling="all", prefix={"query": "", "document": ""}),
    dict(name="tiny-llama", kind="llama", decoder=True, layer=2, bidirectional=True, seed=303,
         tokenizer=tok_llama, config=cfg_llama, cls=transformers.LlamaModel, base_of=lambda m: m,
         sae_layout="llama_scope", pooling="content", prefix={"query": "", "document": ""},
         lora=dict(r=4, alpha=8, targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                          "down_proj"])),
    dict(name="tiny-gemma2", kind="gemma2", decoder=True, layer=2, bidirectional=True, seed=404, qk_gain=3.0,
         tokenizer=tok_gemma2, config=cfg_gemma2, cls=transformers.Gemma2Model, base_of=lambda m: m,
         sae_layout="gemma_scope", pooling="content", prefix={"query": "", "document": ""}),
    dict(name="tiny-qwen2", kind="qwen2", decoder=True, layer=2, bidirectional=False, seed=505,
         tokenizer=tok_qwen2, config=cfg_qwen2, cls=transformers.Qwen2ForCausalLM, base_of=lambda m: m.model,
         sae_layout="splaredb", sae_activation={"kind": "relu"}, pooling="content",
         prefix={"query": "", "document": ""}),
]


def make_model(fx, config, seed):
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = fx["cls"](config)
    model.set_attn_implementation("eager")
    perturb(model, seed, fx["kind"], qk_gain=fx.get("qk_gain", 1.0))
    return model.eval()


def lora_tensors(fx, model, seed):
    lo = fx["lora"]
    g = torch.Generator().manual_seed(seed + 1)
    out = {}
    base = fx["base_of"](model)
    for i, layer in enumerate(base.layers):
        for name, mod in sorted(layer.named_modules()):
            short = name.split(".")[-1]
            if short in lo["targets"] and isinstance(mod, torch.nn.Linear):
                fan_in, fan_out = mod.in_features, mod.out_features
                a = torch.randn(lo["r"], fan_in, generator=g) / math.sqrt(fan_in)
                b = 0.1 * torch.randn(fan_out, lo["r"], generator=g)
                key = f"base_model.model.layers.{i}.{name}"
                out[f"{key}.lora_A.weight"] = a.float().contiguous()
                out[f"{key}.lora_B.weight"] = b.float().contiguous()
    return out


def merge_lora(fx, model, tensors):
    lo = fx["lora"]
    scale = lo["alpha"] / lo["r"]
    merged = copy.deepcopy(model)
    sd = merged.state_dict()
    with torch.no_grad():
        for k, a in tensors.items():
            if not k.endswith(".lora_A.weight"):
                continue
            b = tensors[k.replace(".lora_A.", ".lora_B.")]
            target = k[len("base_model.model."):-len(".lora_A.weight")] + ".weight"
            sd[target].add_(scale * (b @ a))
    return merged.eval()


def id_rows(fx, sp, specials, vocab, seed):
    g = np.random.default_rng(seed)
    content = [i for i in range(vocab) if i not in specials]
    prefix = [sp["bos"]] if sp["bos"] is not None else []
    suffix = [sp["eos"]]
    n0 = SEQ - len(prefix) - len(suffix)
    n1 = ROW1_VALID - len(prefix) - len(suffix)
    r0 = prefix + [int(x) for x in g.choice(content, n0)] + suffix
    r1 = prefix + [int(x) for x in g.choice(content, n1)] + suffix
    r1 = r1 + [sp["pad"]] * (SEQ - len(r1))
    am = [[1] * SEQ, [1] * ROW1_VALID + [0] * (SEQ - ROW1_VALID)]
    return [r0, r1], am


def fmt(x):
    """Nested float lists with 8 significant digits; exact zeros as integer 0."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return fmt(float(x))
        return [fmt(v) for v in x]
    if isinstance(x, (list, tuple)):
        return [fmt(v) for v in x]
    v = float(x)
    return 0 if v == 0.0 else float(f"{v:.8g}")


def max_diff(a, b):
    return float((a - b).abs().max())


def sensitivity(fx, cfg_args, model_state, cases, ref_hidden):
    """How much each fixture feature changes hidden_states[layer] (must be >> 1e-4)."""
    res = {}
    vocab, sp = cfg_args

    def hidden_with(config=None, state=None, bidir=None, case=0, mutate=None):
        cfg = config if config is not None else fx["config"](vocab, sp)
        m = make_model(fx, cfg, fx["seed"])
        m.load_state_dict(state if state is not None else model_state)
        if mutate:
            mutate(m)
        bb = Backbone(fx, m)
        c = cases[case]
        return bb.hidden(c["input_ids"], c["attention_mask"], c["bidirectional"] if bidir is None else bidir)

    if fx["decoder"]:
        res["bidirectional_vs_causal"] = max_diff(ref_hidden[0], hidden_with(bidir=False, case=0))
    if fx["kind"] == "llama":
        res["llama3_rope_vs_default"] = max_diff(ref_hidden[0], hidden_with(config=cfg_llama(vocab, sp, "default")))
    if fx["kind"] == "gemma2":
        res["softcap50_vs_none"] = max_diff(
            ref_hidden[0], hidden_with(config=cfg_gemma2(vocab, sp, attn_logit_softcapping=None)))
        res["query_pre_attn_scalar_vs_head_dim"] = max_diff(
            ref_hidden[0], hidden_with(config=cfg_gemma2(vocab, sp, query_pre_attn_scalar=16)))
        causal_idx = 1
        res["sliding_window_in_causal_case"] = max_diff(
            ref_hidden[causal_idx],
            hidden_with(config=cfg_gemma2(vocab, sp, layer_types=["full_attention"] * 3), case=causal_idx))
    if fx["kind"] == "qwen2":
        def zero_qkv_bias(m):
            with torch.no_grad():
                for n, p in m.named_parameters():
                    if n.endswith("proj.bias"):
                        p.zero_()
        res["qkv_bias_vs_zero"] = max_diff(ref_hidden[0], hidden_with(mutate=zero_qkv_bias))
    if fx["kind"] == "xlm-roberta":
        def pos_from_zero(m):  # what a missing padding_idx+1 offset would give
            with torch.no_grad():
                e = m.roberta.embeddings.position_embeddings.weight
                e.copy_(torch.cat([e[2:], e[:2]], 0))
        res["position_offset_padding_idx_plus_1"] = max_diff(ref_hidden[0], hidden_with(mutate=pos_from_zero))
    return res


def build_fixture(fx, out_root: Path, corpus, versions):
    t0 = time.time()
    name = fx["name"]
    dst = out_root / name
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)

    tok, sp = fx["tokenizer"](corpus)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    specials = special_ids(tok)
    tok.save(str(dst / "tokenizer.json"))
    tok_trunc = Tokenizer.from_file(str(dst / "tokenizer.json"))
    tok_trunc.enable_truncation(max_length=MAX_LENGTH)  # keeps the post-processor's special tokens

    config = fx["config"](vocab, sp)
    model = make_model(fx, config, fx["seed"])
    model.save_pretrained(str(dst), safe_serialization=True)
    for extra in ("generation_config.json",):
        if (dst / extra).exists():
            (dst / extra).unlink()
    base_state = copy.deepcopy(model.state_dict())

    run_model = model
    lora_info = None
    if fx.get("lora"):
        lt = lora_tensors(fx, model, fx["seed"])
        ld = dst / "lora"
        ld.mkdir()
        save_file(lt, str(ld / "adapter_model.safetensors"))
        lo = fx["lora"]
        (ld / "adapter_config.json").write_text(json.dumps({
            "peft_type": "LORA", "task_type": "FEATURE_EXTRACTION", "base_model_name_or_path": name,
            "r": lo["r"], "lora_alpha": lo["alpha"], "lora_dropout": 0.0, "target_modules": lo["targets"],
            "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
            "init_lora_weights": True, "inference_mode": True, "modules_to_save": None,
            "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
        }, indent=2) + "\n")
        run_model = merge_lora(fx, model, lt)
        lora_info = {"dir": "lora", "scale": lo["alpha"] / lo["r"], "tensors": len(lt)}

    bb = Backbone(fx, run_model)

    # ---- id cases
    rows, am = id_rows(fx, sp, set(specials), vocab, fx["seed"] + 7)
    modes = [fx["bidirectional"]] if not fx["decoder"] else [True, False]
    id_cases = []
    for bidir in modes:
        h = bb.hidden(rows, am, bidir)
        id_cases.append(dict(name=("bidirectional" if bidir else "causal") if fx["decoder"] else "encoder",
                             bidirectional=bidir, input_ids=rows, attention_mask=am, hidden=h))
    # ---- text cases
    text_cases = []
    for cname, kind, text in TEXT_CASES:
        enc = tok_trunc.encode(fx["prefix"][kind] + text)
        ids = list(enc.ids)
        assert len(ids) <= MAX_LENGTH
        h = bb.hidden([ids], [[1] * len(ids)], fx["bidirectional"])[0]
        text_cases.append(dict(name=cname, kind=kind, text=text, input_ids=ids, hidden=h,
                               truncated=len(tok.encode(fx["prefix"][kind] + text).ids) > len(ids)))

    # ---- SAE (resampled until no decision lies within MARGIN of a boundary)
    H = torch.cat([c["hidden"].reshape(-1, c["hidden"].shape[-1]) for c in id_cases]
                  + [c["hidden"] for c in text_cases], 0).float()
    for attempt in range(100):
        sae = build_sae(fx, H, fx["seed"] * 1000 + attempt)
        ok = True
        z_all, pre_all = sae["encode"](H)
        if sae["kind"] == "topk":
            v = torch.sort(pre_all, dim=-1, descending=True).values
            gaps = v[:, sae["k"] - 1] - v[:, sae["k"]]
            ok &= bool((gaps >= MARGIN).all())
        if sae["kind"] == "jumprelu":
            ok &= bool(((pre_all - sae["theta"]).abs() >= MARGIN).all())
        for c in text_cases:
            z, _ = sae["encode"](c["hidden"])
            u = pool(z, c["input_ids"], [1] * len(c["input_ids"]), set(specials), fx["pooling"])
            ok &= prune_margin_ok(u, TOP_K[c["kind"]])
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no SAE sample passed the margin checks")
    sae["write"](dst)

    # ---- goldens
    stats = {"sae_attempts": attempt + 1}
    g_id = []
    for c in id_cases:
        z, _ = sae["encode"](c["hidden"])
        pooled = torch.stack([pool(z[b], c["input_ids"][b], c["attention_mask"][b], set(specials), fx["pooling"])
                              for b in range(len(c["input_ids"]))])
        act_frac = float((z[torch.tensor(c["attention_mask"]) == 1] > 0).float().mean())
        stats[f"active_fraction_{c['name']}"] = round(act_frac, 3)
        stats[f"pooled_range_{c['name']}"] = [round(float(pooled[pooled > 0].min()), 3),
                                              round(float(pooled.max()), 3)]
        g_id.append({"name": c["name"], "bidirectional": c["bidirectional"], "input_ids": c["input_ids"],
                     "attention_mask": c["attention_mask"], "hidden": fmt(c["hidden"]), "latents": fmt(z),
                     "pooled": fmt(pooled)})
    g_text = []
    for c in text_cases:
        z, _ = sae["encode"](c["hidden"])
        u = pool(z, c["input_ids"], [1] * len(c["input_ids"]), set(specials), fx["pooling"])
        idx, vals = prune(u, TOP_K[c["kind"]])
        g_text.append({"name": c["name"], "text": c["text"], "kind": c["kind"],
                       "prefixed_text": fx["prefix"][c["kind"]] + c["text"], "truncated": c["truncated"],
                       "input_ids": c["input_ids"], "indices": idx, "values": fmt(vals)})

    sens = sensitivity(fx, (vocab, sp), base_state if not fx.get("lora") else run_model.state_dict(),
                       id_cases, [c["hidden"] for c in id_cases])
    if fx.get("lora"):
        sens["lora_merged_vs_base"] = max_diff(id_cases[0]["hidden"],
                                               Backbone(fx, model).hidden(rows, am, id_cases[0]["bidirectional"]))
    for k, v in sens.items():
        assert v > 1e-3, f"{name}: feature {k} changes hidden states by only {v}"
    stats["sensitivity_max_abs_diff"] = {k: float(f"{v:.3g}") for k, v in sens.items()}

    golden = {
        "versions": versions,
        "model": name,
        "layer": fx["layer"],
        "bidirectional": fx["bidirectional"],
        "pooling": fx["pooling"],
        "special_ids": specials,
        "lora": lora_info,
        "id_cases": g_id,
        "text_cases": g_text,
    }
    with open(dst / "golden.json", "w") as f:
        f.write("{\n")
        items = list(golden.items())
        for i, (k, v) in enumerate(items):
            sep = "," if i + 1 < len(items) else ""
            if k in ("id_cases", "text_cases"):
                f.write(f' "{k}": [\n')
                for j, case in enumerate(v):
                    f.write("  " + json.dumps(case, separators=(",", ":"), ensure_ascii=False)
                            + ("," if j + 1 < len(v) else "") + "\n")
                f.write(f" ]{sep}\n")
            else:
                f.write(f' "{k}": {json.dumps(v, ensure_ascii=False)}{sep}\n')
        f.write("}\n")

    splare = {
        "format": 1,
        "name": name,
        "backbone": {"kind": fx["kind"], "layer": fx["layer"], "bidirectional": fx["bidirectional"]},
        "sae": sae["splare"],
        "pooling": {"tokens": fx["pooling"]},
        "top_k": dict(TOP_K),
        "max_length": MAX_LENGTH,
        "prefix": fx["prefix"],
        "max_weight": MAX_WEIGHT,
        "lora": "lora" if fx.get("lora") else None,
    }
    (dst / "splare.json").write_text(json.dumps(splare, indent=2, ensure_ascii=False) + "\n")
    stats["verify_max_abs_diff"] = verify(dst)
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    stats["bytes"] = size
    stats["seconds"] = round(time.time() - t0, 2)
    stats["vocab"] = vocab
    stats["special_ids"] = specials
    return stats


# --------------------------------------------------------------------------------------
# verification: recompute everything from the files on disk only
# --------------------------------------------------------------------------------------

def _load_sae_from_disk(d: Path, sp: dict):
    """Returns f(h: np.float32 [T, dim]) -> z [T, N], written from the layout docs, not from build_sae."""
    from safetensors.torch import load_file
    lay, path = sp["sae"]["layout"], d / sp["sae"]["path"]
    act = sp["sae"]["activation"]
    if lay == "splaredb":
        t = {k: v.float().numpy() for k, v in load_file(str(path)).items()}
        W, b, pb = t["encoder.weight"], t["encoder.bias"], t.get("pre_bias")
        th = t.get("threshold")

        def f(h):
            x = h - pb if pb is not None else h
            pre = x @ W.T + b
            if act["kind"] == "relu":
                return np.maximum(pre, 0)
            if act["kind"] == "jumprelu":
                theta = th if th is not None else act["threshold"]
                return np.where(pre > theta, pre, 0)
            k = act["k"]
            idx = np.argsort(-pre, axis=-1, kind="stable")[:, :k]
            z = np.zeros_like(pre)
            np.put_along_axis(z, idx, np.maximum(np.take_along_axis(pre, idx, -1), 0), -1)
            return z
        return f
    if lay == "sae_lens":
        cfg = json.loads((path / "cfg.json").read_text())
        t = {k: v.float().numpy() for k, v in load_file(str(path / "sae_weights.safetensors")).items()}
        assert cfg["architecture"] == "standard" and cfg["normalize_activations"] == "none"

        def f(h):
            x = h - t["b_dec"] if cfg["apply_b_dec_to_input"] else h
            return np.maximum(x @ t["W_enc"] + t["b_enc"], 0)
        return f
    if lay == "llama_scope":
        hp = json.loads((path / "hyperparams.json").read_text())
        t = {k: v.float().numpy() for k, v in load_file(str(path / "checkpoints" / "final.safetensors")).items()}
        assert hp["act_fn"] == "jumprelu" and hp["norm_activation"] == "dataset-wise"
        assert not hp["apply_decoder_bias_to_pre_encoder"]
        s_in = np.float32(math.sqrt(hp["d_model"]) / hp["dataset_average_activation_norm"]["in"])

        def f(h):
            pre = (h * s_in) @ t["encoder.weight"].T + t["encoder.bias"]
            return np.where(pre > hp["jump_relu_threshold"], pre, 0)
        return f
    if lay == "gemma_scope":
        z = np.load(path)

        def f(h):
            pre = h @ z["W_enc"] + z["b_enc"]
            return np.where(pre > z["threshold"], np.maximum(pre, 0), 0)
        return f
    raise ValueError(lay)


def verify(d: Path) -> dict:
    sp = json.loads((d / "splare.json").read_text())
    golden = json.loads((d / "golden.json").read_text())
    layer = sp["backbone"]["layer"]
    model = transformers.AutoModel.from_pretrained(str(d), attn_implementation="eager", dtype=torch.float32)
    model.eval()
    if sp.get("lora"):
        from safetensors.torch import load_file
        ad = d / sp["lora"]
        acfg = json.loads((ad / "adapter_config.json").read_text())
        lt = load_file(str(ad / "adapter_model.safetensors"))
        scale = acfg["lora_alpha"] / acfg["r"]
        sd = model.state_dict()
        with torch.no_grad():
            for k, a in lt.items():
                if k.endswith(".lora_A.weight"):
                    tgt = k[len("base_model.model."):-len(".lora_A.weight")] + ".weight"
                    sd[tgt].add_(scale * (lt[k.replace(".lora_A.", ".lora_B.")] @ a))
    is_dec = sp["backbone"]["kind"] in ("llama", "gemma2", "qwen2")
    fx = dict(decoder=is_dec, layer=layer, base_of=lambda m: m)
    bb = Backbone(fx, model)
    sae = _load_sae_from_disk(d, sp)
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.enable_truncation(max_length=sp["max_length"])
    specials = set(golden["special_ids"])
    diffs = {"hidden": 0.0, "latents": 0.0, "pooled": 0.0, "text_values": 0.0}
    for c in golden["id_cases"]:
        h = bb.hidden(c["input_ids"], c["attention_mask"], c["bidirectional"]).numpy()
        diffs["hidden"] = max(diffs["hidden"], float(np.abs(h - np.array(c["hidden"], dtype=np.float64)).max()))
        zg = np.array(c["latents"], dtype=np.float64)
        for b in range(h.shape[0]):
            z = sae(h[b])
            diffs["latents"] = max(diffs["latents"], float(np.abs(z - zg[b]).max()))
            keep = [i for i, m in enumerate(c["attention_mask"][b])
                    if m == 1 and (sp["pooling"]["tokens"] == "all" or c["input_ids"][b][i] not in specials)]
            u = np.log1p(np.maximum(z[keep], 0)).max(0)
            diffs["pooled"] = max(diffs["pooled"], float(np.abs(u - np.array(c["pooled"][b])).max()))
    for c in golden["text_cases"]:
        ids = tok.encode(sp["prefix"][c["kind"]] + c["text"]).ids
        assert ids == c["input_ids"], (d.name, c["name"])
        h = bb.hidden([ids], [[1] * len(ids)], sp["backbone"]["bidirectional"])[0].numpy()
        z = sae(h)
        keep = [i for i in range(len(ids)) if sp["pooling"]["tokens"] == "all" or ids[i] not in specials]
        u = np.log1p(np.maximum(z[keep], 0)).max(0)
        order = [j for j in np.argsort(-u, kind="stable") if u[j] > 0]
        k = sp["top_k"][c["kind"]]
        sel = sorted(order[:k] if k > 0 else order)
        assert [int(j) for j in sel] == c["indices"], (d.name, c["name"])
        vals = np.minimum(u[sel], sp["max_weight"])
        diffs["text_values"] = max(diffs["text_values"], float(np.abs(vals - np.array(c["values"])).max()))
    for k, v in diffs.items():
        assert v <= 1e-5, f"{d.name}: verify {k} differs by {v}"
    return {k: float(f"{v:.2g}") for k, v in diffs.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = {s for s in args.only.split(",") if s}
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "safetensors": safetensors.__version__, "numpy": np.__version__}
    corpus = make_corpus()
    t0 = time.time()
    report = {}
    for fx in FIXTURES:
        if only and fx["name"] not in only:
            continue
        report[fx["name"]] = build_fixture(fx, out, corpus, versions)
        print(fx["name"], json.dumps(report[fx["name"]]), flush=True)
    total = sum(st["bytes"] for st in report.values())
    print(f"total bytes of the {len(report)} fixture directories: {total}  ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
