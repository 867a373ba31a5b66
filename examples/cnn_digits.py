"""A small CNN on scikit-learn's bundled handwritten digits (8x8 images), trained with torch.nn and
again after fastnn.convert (same initial weights, same batches). fastnn.convert swaps the Conv2d
and Linear layers; pooling and activations stay torch's.

    python examples/cnn_digits.py            # 10 epochs
    python examples/cnn_digits.py --smoke    # a few batches
"""
import torch

from digits_common import compare, parse_args


def build_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),                      # 64 x 4 x 4
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 4 * 4, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def to_input(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 8, 8)  # [N, channels=1, 8, 8]


def main(argv=None):
    args = parse_args(__doc__.split("\n\n")[0], epochs=10, lr=1e-3, argv=argv)
    return compare(build_model, to_input, args)


if __name__ == "__main__":
    main()
