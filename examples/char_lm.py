"""A character-level language model (Embedding -> LSTM -> Linear) on text that ships with Python:
the interactive help pages of pydoc_data.topics (about 460 000 characters of English and code).
Trained with torch.nn and again after fastnn.convert, from the same initial weights on the same
batches, alternating epoch by epoch; prints loss in bits per character and time per epoch, then
a sample from the fastnn model.

    python examples/char_lm.py              # 6 epochs of 50 steps
    python examples/char_lm.py --smoke      # a few steps
"""
import argparse
import copy
import math
import time

import torch

import fastnn
from digits_common import ProgressBar


def load_text(valid_fraction: float = 0.1):
    import pydoc_data.topics

    text = "\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    split = int(len(ids) * (1 - valid_fraction))
    return ids[:split], ids[split:], vocab


class CharLM(torch.nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 128):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def windows(data: torch.Tensor, batch: int, length: int, gen: torch.Generator):
    """A batch of random windows: inputs [batch, length] and the next characters as targets."""
    start = torch.randint(0, len(data) - length - 1, (batch,), generator=gen)
    idx = start[:, None] + torch.arange(length + 1)
    chunk = data[idx]
    return chunk[:, :-1], chunk[:, 1:]


def bits_per_char(model, ids_in, ids_out) -> float:
    logits, _ = model(ids_in)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids_out.flatten()).item() / math.log(2)


def sample(model, vocab, prompt: str, n: int, gen: torch.Generator) -> str:
    lookup = {c: i for i, c in enumerate(vocab)}
    model.eval()
    out = list(prompt)
    with torch.no_grad():
        logits, state = model(torch.tensor([[lookup[c] for c in prompt]]))
        for _ in range(n):
            probs = torch.softmax(logits[0, -1] / 0.8, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=gen).item()
            out.append(vocab[nxt])
            logits, state = model(torch.tensor([[nxt]]), state)
    model.train()
    return "".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--steps", type=int, default=50, help="training steps per epoch")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--length", type=int, default=64, help="characters per training window")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--smoke", action="store_true", help="1 epoch of 3 steps: checks that it runs")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.steps = 1, 3
    if args.threads:
        torch.set_num_threads(args.threads)

    train, valid, vocab = load_text()
    print(f"pydoc_data.topics: {len(train)} training and {len(valid)} validation characters, "
          f"{len(vocab)} symbols, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
          f"fastnn {fastnn.__version__}")
    torch.manual_seed(args.seed)
    initial = CharLM(len(vocab))
    fast = copy.deepcopy(initial)
    print(fastnn.convert(fast))
    runs = {"torch.nn": copy.deepcopy(initial), "fastnn": fast}
    opts = {k: torch.optim.Adam(m.parameters(), lr=args.lr) for k, m in runs.items()}
    gens = {k: torch.Generator().manual_seed(args.seed) for k in runs}  # same batches for both
    valid_batch = windows(valid, 64, args.length, torch.Generator().manual_seed(args.seed + 1))
    history = {k: {"bpc": [], "seconds": []} for k in runs}
    for epoch in range(1, args.epochs + 1):
        for name, model in runs.items():
            bar = ProgressBar(args.steps, f"{name:>8} epoch {epoch:>2}/{args.epochs}")
            total, start = 0.0, time.perf_counter()
            for step in range(args.steps):
                x, y = windows(train, args.batch_size, args.length, gens[name])
                logits, _ = model(x)
                loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
                opts[name].zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opts[name].step()
                total += loss.item()
                bar.update(step + 1, f"loss {total / (step + 1) / math.log(2):.3f} bits/char")
            seconds = time.perf_counter() - start
            with torch.no_grad():
                bpc = bits_per_char(model, *valid_batch)
            history[name]["bpc"].append(bpc)
            history[name]["seconds"].append(seconds)
            print(f"{name:>8} epoch {epoch:>2}/{args.epochs}: train {total / args.steps / math.log(2):.3f}  "
                  f"validation {bpc:.3f} bits/char  {seconds * 1e3:8.1f} ms/epoch", flush=True)

    def per_epoch(h):
        s = h["seconds"][1:] or h["seconds"]
        return sum(s) / len(s)

    ref, fst = history["torch.nn"], history["fastnn"]
    print(f"\nvalidation bits/char: torch.nn {ref['bpc'][-1]:.3f}, fastnn {fst['bpc'][-1]:.3f}; "
          f"fastnn speedup per epoch: {per_epoch(ref) / per_epoch(fst):.2f}x")
    print("fastnn model says:", repr(sample(runs["fastnn"], vocab, "The ", 160, torch.Generator().manual_seed(0))))
    return history


if __name__ == "__main__":
    main()
