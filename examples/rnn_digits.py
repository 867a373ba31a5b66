"""A recurrent classifier on scikit-learn's bundled handwritten digits read row by row (a sequence
of 8 steps of 8 pixels), trained with torch.nn and again after fastnn.convert (same initial
weights, same batches). --cell picks LSTM (default), GRU or RNN.

    python examples/rnn_digits.py            # 15 epochs, LSTM
    python examples/rnn_digits.py --cell gru --smoke
"""
import sys

import torch

from digits_common import compare, parse_args


class RowReader(torch.nn.Module):
    def __init__(self, cell: str = "lstm", hidden: int = 128):
        super().__init__()
        rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        self.rnn = rnn_cls(8, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.rnn(x)        # [N, 8 rows, hidden]
        return self.head(out[:, -1])  # classify from the state after the last row


def to_input(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 8, 8)  # [N, 8 steps (rows), 8 features (pixels)]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cell = "lstm"
    if "--cell" in argv:
        i = argv.index("--cell")
        cell = argv[i + 1]
        if cell not in ("lstm", "gru", "rnn"):
            raise SystemExit(f"--cell must be lstm, gru or rnn, got {cell!r}")
        del argv[i:i + 2]
    args = parse_args(__doc__.split("\n\n")[0], epochs=15, lr=2e-3, argv=argv)
    return compare(lambda: RowReader(cell), to_input, args)


if __name__ == "__main__":
    main()
