"""Peer baseline: one ELECTRA-Small pretraining step with Hugging Face transformers on PyTorch CPU (eager).

What it measures: wall-clock time of a full replaced-token-detection train step -- generator
(ElectraForMaskedLM, 1/4-size) forward + MLM loss on a masked batch, Gumbel-max sampling of
replacements (no grad), discriminator (ElectraForPreTraining) forward + BCE loss over non-pad
tokens, total = mlm + 50 * disc, backward, clip_grad_norm_(1.0), AdamW step, zero_grad.
Models are randomly initialised from configs (no download); embeddings are shared between
generator and discriminator and the generator output layer is tied to the word embeddings.
Inputs are synthetic token ids prepared before timing. Prints one JSON line with the median.

Run (separate venv, CPU torch):
    python3 -m venv /tmp/venv_peer && /tmp/venv_peer/bin/pip install torch==2.13.0 transformers numpy
    HF_HUB_OFFLINE=1 /tmp/venv_peer/bin/python bench/peer_hf_electra.py --batch 16 --seq_len 128 --steps 10 --warmup 3
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining  # noqa: E402

CLS, SEP, MASK = 101, 102, 103


def electra_config(hidden, heads, intermediate):
    return ElectraConfig(vocab_size=30522, embedding_size=128, hidden_size=hidden, num_hidden_layers=12,
                         num_attention_heads=heads, intermediate_size=intermediate, max_position_embeddings=512,
                         type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12)


def make_batch(gen, batch, seq_len):
    """Synthetic [CLS] ... [SEP] sequences, 15% of non-special positions chosen, 85% of those -> [MASK]."""
    ids = torch.randint(1000, 30522, (batch, seq_len), generator=gen)
    ids[:, 0], ids[:, -1] = CLS, SEP
    attention_mask = torch.ones_like(ids)
    chosen = torch.rand(ids.shape, generator=gen) < 0.15
    chosen[:, 0] = chosen[:, -1] = False
    masked_ids = ids.clone()
    masked_ids[chosen & (torch.rand(ids.shape, generator=gen) < 0.85)] = MASK
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    return ids, masked_ids, attention_mask, chosen, labels


def train_step(generator, discriminator, params, opt, ids, masked_ids, attention_mask, chosen, labels):
    gen_out = generator(input_ids=masked_ids, attention_mask=attention_mask, labels=labels)
    with torch.no_grad():  # Gumbel-max sample at the chosen positions
        logits = gen_out.logits[chosen].float()
        u = torch.rand_like(logits).clamp_(1e-9, 1.0)
        sampled = torch.argmax(logits - torch.log(-torch.log(u)), dim=-1)
        fake_ids = ids.clone()
        fake_ids[chosen] = sampled
        disc_labels = (fake_ids != ids).float()
    disc_out = discriminator(input_ids=fake_ids, attention_mask=attention_mask)
    active = attention_mask.bool()
    disc_loss = torch.nn.functional.binary_cross_entropy_with_logits(disc_out.logits[active], disc_labels[active])
    loss = gen_out.loss + 50.0 * disc_loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq_len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    discriminator = ElectraForPreTraining(electra_config(256, 4, 1024))
    generator = ElectraForMaskedLM(electra_config(64, 1, 256))
    generator.electra.embeddings = discriminator.electra.embeddings  # word/pos/type embeddings + LayerNorm
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    generator.train()
    discriminator.train()

    params = list({id(p): p for m in (generator, discriminator) for p in m.parameters()}.values())
    no_decay = [p for p in params if p.ndim == 1]  # biases and LayerNorm
    decay = [p for p in params if p.ndim != 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.999), eps=1e-6)

    gen = torch.Generator().manual_seed(0)
    batches = [make_batch(gen, args.batch, args.seq_len) for _ in range(args.warmup + args.steps)]
    times = []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        loss = train_step(generator, discriminator, params, opt, *b)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({
        "framework": "transformers-pytorch-eager", "torch": torch.__version__,
        "transformers": transformers.__version__, "batch": args.batch, "seq_len": args.seq_len,
        "threads": args.threads, "steps": args.steps, "warmup": args.warmup,
        "params": sum(p.numel() for p in params), "final_loss": round(loss, 4),
        "step_seconds_median": round(med, 4), "tokens_per_second": round(args.batch * args.seq_len / med, 1),
    }))


if __name__ == "__main__":
    main()
