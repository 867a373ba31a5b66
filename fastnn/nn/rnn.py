"""fastnn.LSTM, GRU, RNN: the torch.nn recurrent layers on fastnn's whole-sequence
kernels (torch.ops.fastnn.rnn_layer: one call per layer and direction).

Each subclasses its torch.nn class (same constructor, parameters, initialisation,
state_dict, flatten_parameters) and overrides forward only; input handling and
error messages follow torch.nn exactly (torch's own check_forward_args is reused)."""
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence


def _run_stack(module, mode, input, batch_sizes, hx, cx, batch):
    """All layers and directions. input: [T, B, I] time-major or packed [rows, I];
    hx: [L*D, B, P] and cx: [L*D, B, H] (LSTM), or both None for zero states, made here per
    layer and direction ([batch, P] each: no [L*D, B, P] tensor to select from).
    Returns output, h_n, c_n (None unless LSTM)."""
    lstm = mode == "lstm"
    directions = 2 if module.bidirectional else 1
    per_direction = len(module._flat_weights) // (module.num_layers * directions)
    proj = getattr(module, "proj_size", 0) > 0
    hs, cs = [], []
    layer_input = input
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            idx = layer * directions + direction
            w = module._flat_weights[idx * per_direction:(idx + 1) * per_direction]
            b_ih, b_hh = (w[2], w[3]) if module.bias else (None, None)
            w_hr = w[-1] if proj else None
            if hx is None:
                h0 = input.new_zeros(batch, module.proj_size if proj else module.hidden_size)
                c0 = input.new_zeros(batch, module.hidden_size) if lstm else None
            else:
                h0, c0 = hx[idx], cx[idx] if lstm else None
            out, hy, cy, _ = torch.ops.fastnn.rnn_layer(
                mode, layer_input, batch_sizes, h0, c0, w[0], w[1], b_ih, b_hh, w_hr, direction == 1)
            outputs.append(out)
            hs.append(hy)
            cs.append(cy)
        layer_input = outputs[0] if directions == 1 else torch.cat(outputs, -1)
        if module.dropout > 0 and module.training and layer + 1 < module.num_layers:
            layer_input = F.dropout(layer_input, module.dropout, training=True)
    return layer_input, _stack(hs), _stack(cs) if lstm else None


def _stack(states):
    # one layer and direction (the common case): a view, cheaper than torch.stack's copy
    return states[0].unsqueeze(0) if len(states) == 1 else torch.stack(states)


def _refresh_flat_weights(module):
    """torch.nn.RNNBase._update_flat_weights without its per-call getattr and hasattr on every
    weight (nn.Module.__getattr__, ~4 us a layer): while each name still holds the same Parameter
    in _parameters, nothing changed. Otherwise (torch.func.functional_call, parametrize) torch's
    own check runs."""
    params = module._parameters
    for name, weight in zip(module._flat_weights_names, module._flat_weights):
        if params.get(name) is not weight:
            module._update_flat_weights()
            return


def _forward(module, name, mode, input, hx):
    """torch.nn.RNNBase.forward's input/state handling around _run_stack."""
    _refresh_flat_weights(module)
    lstm = mode == "lstm"
    packed = isinstance(input, PackedSequence)
    batched = True
    if packed:
        data, batch_sizes, sorted_indices, unsorted_indices = input
        max_batch = int(batch_sizes[0])
        x = data
    else:
        batch_sizes, sorted_indices, unsorted_indices = None, None, None
        if input.dim() not in (2, 3):
            what = "D tensor instead" if name == "RNN" else "D instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}{what}")
        batched = input.dim() == 3
        batch_dim = 0 if module.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            states = hx if lstm else (hx,)
            want = 3 if batched else 2
            if any(h.dim() != want for h in states):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if lstm:
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                       f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")
            if not batched:
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1)) if lstm else hx.unsqueeze(1)
        max_batch = input.size(0) if module.batch_first else input.size(1)
        x = input
    if hx is None:
        module.check_input(x, batch_sizes)  # zero states are made per layer in _run_stack
    else:
        hx = module.permute_hidden(hx, sorted_indices)
        module.check_forward_args(x, hx, batch_sizes)
    if not packed and module.batch_first:
        x = x.transpose(0, 1)
    if not packed and x.size(0) == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")  # as torch.nn
    h0, c0 = (None, None) if hx is None else (hx[0], hx[1]) if lstm else (hx, None)
    output, h_n, c_n = _run_stack(module, mode, x, batch_sizes, h0, c0, max_batch)
    hidden = (h_n, c_n) if lstm else h_n
    if packed:
        return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), \
            module.permute_hidden(hidden, unsorted_indices)
    if module.batch_first:
        output = output.transpose(0, 1)
    if not batched:
        output = output.squeeze(0 if module.batch_first else 1)
        hidden = (hidden[0].squeeze(1), hidden[1].squeeze(1)) if lstm else hidden.squeeze(1)
    return output, hidden


class LSTM(torch.nn.LSTM):
    """torch.nn.LSTM (every option incl. proj_size and PackedSequence) on fastnn's sequence kernels."""

    def forward(self, input, hx=None):
        return _forward(self, "LSTM", "lstm", input, hx)


class GRU(torch.nn.GRU):
    """torch.nn.GRU (every option incl. PackedSequence) on fastnn's sequence kernels."""

    def forward(self, input, hx=None):
        return _forward(self, "GRU", "gru", input, hx)


class RNN(torch.nn.RNN):
    """torch.nn.RNN (tanh or relu, every option incl. PackedSequence) on fastnn's sequence kernels."""

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        return _forward(self, "RNN", "rnn_" + self.nonlinearity, input, hx)
