#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF model that llama.cpp's llama-server can load.

usage: tiny_model.py OUT.gguf

No model can be downloaded where Flint's real-server test runs, so it makes one: two
layers, 64 dimensions, a byte-level BPE vocabulary ("gpt2", as most current models
use) of about 300 tokens, a ChatML chat template, and weights chosen rather than
trained. Whatever the prompt, greedy decoding writes

    Hello from a tiny llama 🦙 model.

    It streams `tokens`, each in turn!

and then the end-of-turn token. The answer is built so that it exercises what a
client's stream handling must get right: the llama is four byte tokens (a UTF-8
character split across tokens and so across stream events), there is a blank line and
a Markdown code span, and the answer ends by the model's own end-of-turn token (or is
cut off by the server's token limit, when that is lower).

How it is made deterministic with margins no float rounding can flip: the next token
depends (almost) only on the current one. Each token of the answer has an embedding
dimension of its own, every other token shares dimension 0, and the output matrix maps
dimension k to the token that follows token k in the answer, so the winning logit is
about 28 while every other is near 0. The attention and feed-forward weights are small
seeded random numbers, so the layers really compute (and the server really runs them)
without moving the answer. The file is byte-for-byte the same on every run.
"""

import sys

import numpy as np
from gguf import GGUFWriter, TokenType

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2  # grouped-query attention, as in most current models
N_FF = 128
N_LAYER = 2
CONTEXT = 16384
SEED = 1234
LOGIT = 4.0  # output weight of the next token's dimension

# The answer, token by token (plain text; spaces are part of the token they lead).
ANSWER = [
    "Hello", " from", " a", " tiny", " llama", " ",
    b"\xf0", b"\x9f", b"\xa6", b"\x99",  # 🦙, one byte token each
    " model", ".", "\n\n", "It", " streams", " `", "tokens", "`,",
    " each", " in", " turn", "!",
]

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML, the template llama.cpp's own tools fall back to; Jinja, as the server renders.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def vocabulary():
    """Tokens, token types and merges: the 256 bytes, each answer word with the merges
    (and intermediate tokens) that build it from bytes, then the control tokens."""
    b2u = bytes_to_unicode()
    enc = lambda raw: "".join(b2u[b] for b in raw)  # noqa: E731
    tokens = [b2u[b] for b in range(256)]
    merges = []
    answer_ids = []
    for piece in ANSWER:
        raw = piece if isinstance(piece, bytes) else piece.encode("utf-8")
        text = enc(raw)
        # Merge left to right: "H e" -> "He", "He l" -> "Hel", ...
        for i in range(2, len(text) + 1):
            if text[:i] not in tokens:
                tokens.append(text[:i])
            merge = f"{text[:i - 1]} {text[i - 1]}"
            if merge not in merges:
                merges.append(merge)
        answer_ids.append(tokens.index(text))
    types = [TokenType.NORMAL] * len(tokens) + [TokenType.CONTROL] * len(SPECIALS)
    tokens += SPECIALS
    assert len(set(answer_ids)) == len(answer_ids), "each answer token must be distinct"
    return tokens, types, merges, answer_ids


def weights(n_vocab, answer_ids, eos_id):
    rng = np.random.RandomState(SEED)
    small = lambda *shape: (rng.standard_normal(shape) * 0.02).astype(np.float32)  # noqa: E731

    # Dimension 1 + k marks the k-th answer token; dimension 0 marks every other token.
    # Dimensions 32.. carry a little per-token noise so embeddings are not degenerate.
    embd = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    embd[:, 0] = 1.0
    for k, tid in enumerate(answer_ids):
        embd[tid, 0] = 0.0
        embd[tid, 1 + k] = 1.0
    embd[:, 32:] = (rng.standard_normal((n_vocab, N_EMBD - 32)) * 0.1).astype(np.float32)

    # Row t of the output matrix reads the dimension of the token that t follows. After
    # the final norm that dimension is about 7, so the winning logit is about 28: even
    # sampling at temperature 1 (a request may ask for it) picks it all but surely.
    out = small(n_vocab, N_EMBD) * 0.5
    out[answer_ids[0], 0] = LOGIT  # anything else (the prompt's end) -> "Hello"
    for k in range(len(answer_ids) - 1):
        out[answer_ids[k + 1], 1 + k] = LOGIT
    out[eos_id, len(answer_ids)] = LOGIT  # "!" -> end of turn

    head_dim = N_EMBD // N_HEAD
    tensors = {
        "token_embd.weight": embd,
        "output_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "output.weight": out,
    }
    for i in range(N_LAYER):
        p = f"blk.{i}."
        tensors[p + "attn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[p + "attn_q.weight"] = small(N_EMBD, N_EMBD)
        tensors[p + "attn_k.weight"] = small(N_HEAD_KV * head_dim, N_EMBD)
        tensors[p + "attn_v.weight"] = small(N_HEAD_KV * head_dim, N_EMBD)
        tensors[p + "attn_output.weight"] = small(N_EMBD, N_EMBD)
        tensors[p + "ffn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[p + "ffn_gate.weight"] = small(N_FF, N_EMBD)
        tensors[p + "ffn_up.weight"] = small(N_FF, N_EMBD)
        tensors[p + "ffn_down.weight"] = small(N_EMBD, N_FF)
    return tensors


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_model.py OUT.gguf")
    path = sys.argv[1]
    tokens, types, merges, answer_ids = vocabulary()
    bos_id, eos_id = tokens.index("<|endoftext|>"), tokens.index("<|im_end|>")

    w = GGUFWriter(path, "llama")
    w.add_name("tiny")
    w.add_file_type(0)  # all F32
    w.add_context_length(CONTEXT)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(bos_id)
    w.add_eos_token_id(eos_id)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    for name, data in weights(len(tokens), answer_ids, eos_id).items():
        w.add_tensor(name, data)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path}: {len(tokens)} tokens, {N_LAYER} layers, {N_EMBD} dims")


if __name__ == "__main__":
    main()
