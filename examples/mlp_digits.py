"""An MLP on scikit-learn's bundled handwritten digits, trained with torch.nn and again after
fastnn.convert (same initial weights, same batches).

    python examples/mlp_digits.py            # 20 epochs
    python examples/mlp_digits.py --smoke    # a few batches
"""
import torch

from digits_common import compare, parse_args


def build_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))


def to_input(x: torch.Tensor) -> torch.Tensor:
    return x  # [N, 64] pixels


def main(argv=None):
    args = parse_args(__doc__.split("\n\n")[0], epochs=20, lr=1e-3, argv=argv)
    return compare(build_model, to_input, args)


if __name__ == "__main__":
    main()
