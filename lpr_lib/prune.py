"""Network slimming (Liu et al. 2017, "Learning Efficient Convolutional Networks through
Network Slimming"): train with an L1 penalty on BatchNorm's gamma, drop the channels whose
gamma ended near zero, rebuild a genuinely narrower model and fine-tune it.

Sparsity training needs nothing here: it is ``model.bn_decay`` with ``bn_decay_type: l1``
(the penalty ``bn_decay * sum(|gamma|)`` on every BatchNorm). This module does the rest:

* :func:`channel_spaces` walks the functional graph and finds the *channel spaces*: sets of
  channels that must be kept or dropped together. A convolution starts a space; BatchNorm,
  activations, pooling, dropout and depthwise convolutions pass it on; an ``Add`` or a
  ``Multiply`` (residual connections, squeeze-excite) ties the spaces of its inputs into one;
  a grouped convolution asks that its input and output spaces keep the same number of
  channels in each group. A space can be pruned only when every convolution that writes into
  it is read by a BatchNorm alone (whose gamma scores the channels) and every layer that
  reads it is one this module knows how to slice; the others are kept whole (the input
  image, the heads' outputs, a pre-activation ResNet's residual stream, a squeeze-excite
  block's bottleneck and the channels it scales, whose scale is a convolution with no
  BatchNorm, whatever an unknown layer reads).
* :func:`select_channels` scores each channel of a prunable space by the largest |gamma|
  among the BatchNorms of the space, and removes the lowest-scored share ``ratio`` of all
  prunable channels under one global threshold, keeping at least ``min_channels`` channels
  in each space (and the same number in each group of a grouped space).
* :func:`prune_model` rebuilds the model from its config with the narrower convolutions and
  copies the surviving weights: convolution kernels cut along their input and output
  channels, BatchNorm's four vectors, depthwise kernels, and the dense heads' rows (the
  flatten head's rows are cut at every cell of the feature map).

A channel whose BatchNorm has gamma = 0 *and* beta = 0 writes zeros, so removing it does not
change the model's outputs (the tests check this for every backbone). Slimming's channels
have gamma near zero but not beta, so pruning moves the outputs a little: fine-tuning
recovers that (``lpr prune``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

__all__ = ["Space", "channel_spaces", "select_channels", "prune_model", "gamma_values"]

#: layers that pass their input's channels through unchanged
_PASS = (layers.BatchNormalization, layers.Activation, layers.ReLU, layers.MaxPooling2D,
         layers.AveragePooling2D, layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D,
         layers.Dropout, layers.SpatialDropout2D, layers.DepthwiseConv2D)
#: layers whose inputs share one channel space (element-wise joins)
_JOIN = (layers.Add, layers.Multiply, layers.Maximum, layers.Minimum, layers.Average,
         layers.Subtract)


@dataclass
class Space:
    """A set of channels kept or dropped together."""

    size: int
    #: |gamma| of each BatchNorm that reads a convolution writing into this space
    scores: list = field(default_factory=list)
    prunable: bool = True
    #: kept channels must be spread evenly over this many groups (grouped convolutions)
    groups: int = 1
    #: why the space is kept whole, when it is
    reason: str = ""
    #: the convolutions that write these channels, and the BatchNorms whose gamma scores them
    producers: list = field(default_factory=list)
    scored_by: list = field(default_factory=list)


class _Graph:
    """Union-find over channel spaces, and each layer's input/output space."""

    def __init__(self):
        self.parent: list[int] = []
        self.spaces: list[Space] = []
        self.out: dict[str, tuple[int, tuple | None]] = {}  # layer -> (space, flat layout)

    def new(self, size: int, **kw) -> int:
        self.parent.append(len(self.parent))
        self.spaces.append(Space(size, **kw))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        sa, sb = self.spaces[a], self.spaces[b]
        if sa.size != sb.size:
            raise ValueError(f"cannot tie channel spaces of {sa.size} and {sb.size} channels")
        self.parent[b] = a
        sa.scores += sb.scores
        sa.producers += sb.producers
        sa.scored_by += sb.scored_by
        sa.groups = math.lcm(sa.groups, sb.groups)
        if not sb.prunable:
            sa.prunable, sa.reason = False, sa.reason or sb.reason
        return a

    def space(self, i: int) -> Space:
        return self.spaces[self.find(i)]

    def freeze(self, i: int, reason: str) -> None:
        s = self.space(i)
        if s.prunable:
            s.prunable, s.reason = False, reason


def _inputs(layer) -> list:
    x = layer.input
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _producer(tensor) -> str:
    return tensor._keras_history.operation.name


def _consumers(model) -> dict[str, list]:
    users: dict[str, list] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for t in _inputs(layer):
            users.setdefault(_producer(t), []).append(layer)
    return users


def channel_spaces(model: keras.Model) -> tuple[_Graph, dict]:
    """Walk ``model``'s layers (a functional model whose layers are each called once) and
    return the channel-space graph and, for every layer, ``(input spaces, output space)``."""
    g = _Graph()
    users = _consumers(model)
    io: dict[str, tuple[list, int]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            s = g.new(layer.output.shape[-1], prunable=False, reason="the input image")
            g.out[layer.name] = (s, None)
            continue
        ins = [g.out[_producer(t)] for t in _inputs(layer)]
        in_spaces = [s for s, _ in ins]
        flat = ins[0][1]
        if isinstance(layer, layers.DepthwiseConv2D):
            if layer.depth_multiplier != 1:
                g.freeze(in_spaces[0], f"{layer.name}: depth multiplier {layer.depth_multiplier}")
            out = in_spaces[0]
        elif isinstance(layer, layers.Conv2D) and flat is None:
            readers = users.get(layer.name, [])
            bn_only = len(readers) == 1 and isinstance(readers[0], layers.BatchNormalization)
            out = g.new(layer.filters, groups=layer.groups, producers=[layer.name],
                        prunable=bn_only,
                        reason="" if bn_only else f"{layer.name} is not read by a BatchNorm alone")
            if layer.groups > 1:
                s = g.space(in_spaces[0])
                s.groups = math.lcm(s.groups, layer.groups)
        elif isinstance(layer, _PASS) and flat is None:
            out = in_spaces[0]
            if isinstance(layer, layers.BatchNormalization):
                src = model.get_layer(_producer(layer.input))
                if isinstance(src, (layers.Conv2D, layers.DepthwiseConv2D)):
                    g.space(out).scores.append(np.abs(np.asarray(layer.gamma)))
                    g.space(out).scored_by.append(layer.name)
        elif isinstance(layer, layers.Flatten) and flat is None:
            shape = tuple(layer.input.shape[1:-1])
            g.out[layer.name] = (in_spaces[0], shape)
            io[layer.name] = (in_spaces, in_spaces[0])
            continue
        elif isinstance(layer, layers.Dropout):  # on a flattened vector
            g.out[layer.name] = (in_spaces[0], flat)
            io[layer.name] = (in_spaces, in_spaces[0])
            continue
        elif isinstance(layer, _JOIN) and all(f is None for _, f in ins):
            out = in_spaces[0]
            for s in in_spaces[1:]:
                out = g.union(out, s)
        elif isinstance(layer, layers.Dense) and len(ins) == 1:
            out = g.new(layer.units, prunable=False, reason=f"{layer.name}'s outputs")
        else:  # a layer this module cannot slice: keep what it reads
            for s in in_spaces:
                g.freeze(s, f"read by {layer.name} ({type(layer).__name__})")
            out = g.new(layer.output.shape[-1] if hasattr(layer.output, "shape") else 0,
                        prunable=False, reason=f"{layer.name}'s outputs")
        g.out[layer.name] = (out, None)
        io[layer.name] = (in_spaces, out)
    for i in range(len(g.spaces)):
        s = g.space(i)
        if s.prunable and not s.scores:
            s.prunable, s.reason = False, "no BatchNorm scores its channels"
    return g, io


def gamma_values(model: keras.Model) -> dict[str, np.ndarray]:
    """|gamma| of every BatchNorm, by layer name (for histograms)."""
    return {layer.name: np.abs(np.asarray(layer.gamma)) for layer in model.layers
            if isinstance(layer, layers.BatchNormalization) and layer.scale}


def _roots(g: _Graph) -> list[int]:
    return sorted({g.find(i) for i in range(len(g.spaces))})


def select_channels(g: _Graph, ratio: float, min_channels: int = 1) -> dict[int, np.ndarray]:
    """The channels kept in each prunable space (root id -> sorted indices) when the
    lowest-scored share ``ratio`` of all prunable channels is removed under one threshold."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"the pruned ratio must be in [0, 1), not {ratio}")
    roots = [r for r in _roots(g) if g.spaces[r].prunable]
    scores = {r: np.max(np.stack(g.spaces[r].scores), axis=0) for r in roots}
    every = np.concatenate([scores[r] for r in roots]) if roots else np.zeros(0)
    n_drop = int(round(ratio * every.size))
    threshold = np.sort(every)[n_drop - 1] if n_drop else -np.inf
    keep = {}
    for r in roots:
        s, sc = g.spaces[r], scores[r]
        want = int(np.sum(sc > threshold))
        if s.groups == 1:
            k = min(s.size, max(want, min_channels, 1))
            idx = np.argsort(-sc, kind="stable")[:k]
        else:  # the same number in every group, each group's best
            per_group = s.size // s.groups
            k = min(per_group, max(math.ceil(want / s.groups),
                                   math.ceil(min_channels / s.groups), 1))
            idx = np.concatenate([q * per_group + np.argsort(
                -sc[q * per_group:(q + 1) * per_group], kind="stable")[:k]
                for q in range(s.groups)])
        keep[r] = np.sort(idx)
    return keep


def _slice_conv(kernel, in_keep, out_keep, groups):
    """Cut a (kh, kw, cin / groups, cout) kernel to the kept input and output channels."""
    if groups == 1:
        return kernel[:, :, in_keep][:, :, :, out_keep]
    cin = kernel.shape[2] * groups
    cout = kernel.shape[3]
    in_g, out_g = cin // groups, cout // groups
    parts = []
    for q in range(groups):
        ins = in_keep[(in_keep >= q * in_g) & (in_keep < (q + 1) * in_g)] - q * in_g
        outs = out_keep[(out_keep >= q * out_g) & (out_keep < (q + 1) * out_g)]
        parts.append(kernel[:, :, ins][:, :, :, outs])
    return np.concatenate(parts, axis=3)


def prune_model(model: keras.Model, ratio: float, min_channels: int = 1,
                keep: dict[int, np.ndarray] | None = None,
                drop_gamma_penalty: bool = False) -> tuple[keras.Model, dict]:
    """A narrower copy of ``model`` without the lowest-|gamma| share ``ratio`` of its
    prunable channels (or without the channels ``keep`` leaves out, root id -> kept indices,
    as :func:`select_channels` returns), and a report: channels and parameters before and
    after, and per space what was kept (or why the space was kept whole).
    ``drop_gamma_penalty`` removes the BatchNorms' gamma regularizer (the sparsity penalty)
    from the copy, for fine-tuning it."""
    g, io = channel_spaces(model)
    keep = select_channels(g, ratio, min_channels) if keep is None else keep
    full = {r: np.arange(g.spaces[r].size) for r in _roots(g)}

    def kept(space_id):
        r = g.find(space_id)
        return keep.get(r, full[r])

    config = copy.deepcopy(model.get_config())
    for entry in config["layers"]:
        entry.pop("build_config", None)
        name = entry["config"]["name"]
        layer = model.get_layer(name)
        if isinstance(layer, layers.Conv2D) and not isinstance(layer, layers.DepthwiseConv2D):
            entry["config"]["filters"] = int(len(kept(io[name][1])))
        if drop_gamma_penalty and isinstance(layer, layers.BatchNormalization):
            entry["config"]["gamma_regularizer"] = None
    new = model.__class__.from_config(config)

    for layer in new.layers:
        if not layer.weights:
            continue
        old = model.get_layer(layer.name)
        weights = old.get_weights()
        if layer.name in io:
            in_spaces, out_space = io[layer.name]
            if isinstance(old, layers.DepthwiseConv2D):
                k = kept(in_spaces[0])
                weights = [weights[0][:, :, k]] + [w[k] for w in weights[1:]]
            elif isinstance(old, layers.Conv2D):
                k_in, k_out = kept(in_spaces[0]), kept(out_space)
                weights = [_slice_conv(weights[0], k_in, k_out, old.groups)] + \
                          [w[k_out] for w in weights[1:]]
            elif isinstance(old, layers.BatchNormalization):
                k = kept(in_spaces[0])
                weights = [w[k] for w in weights]
            elif isinstance(old, layers.Dense):
                _, flat = g.out[_producer(old.input)]
                k = kept(in_spaces[0])
                w = weights[0]
                if flat is not None:
                    c = g.spaces[g.find(in_spaces[0])].size
                    w = w.reshape(*flat, c, -1)[..., k, :].reshape(-1, w.shape[-1])
                else:
                    w = w[k]
                weights = [w] + weights[1:]
        layer.set_weights(weights)

    spaces = []
    for r in _roots(g):
        s = g.spaces[r]
        if s.size and (s.prunable or s.producers):
            spaces.append({"producers": s.producers, "channels": s.size,
                           "kept": int(len(kept(r))), "groups": s.groups,
                           **({} if s.prunable else {"kept_whole": s.reason})})
    prunable = sum(g.spaces[r].size for r in _roots(g) if g.spaces[r].prunable)
    report = {"ratio": ratio, "prunable_channels": int(prunable),
              "removed_channels": int(sum(g.spaces[r].size - len(k) for r, k in keep.items())),
              "params_before": int(model.count_params()),
              "params_after": int(new.count_params()), "spaces": spaces}
    return new, report


# ------------------------------------------------------------------ prune a run, fine-tune


def prune_run(source, ratio: float, out_dir, epochs: int = 6, overrides=(),
              min_channels: int = 1, overwrite: bool = False) -> dict:
    """Prune the trained run ``source`` (a run folder: its best model and its config) at
    ``ratio``, then fine-tune the narrower model into ``out_dir`` with the run's own data and
    training settings (``epochs`` more epochs, no sparsity penalty; ``overrides`` as
    ``--set``). Resumable: after a kill, the same call rebuilds the same narrower model and
    continues the fine-tuning; a finished ``out_dir`` is refused, as ``lpr train`` refuses
    one, unless ``overwrite``. Returns the pruning report (also in ``out_dir/prune.json``)."""
    from pathlib import Path

    from lpr_lib.predict import load_model
    from lpr_lib.repro import write_result
    from lpr_lib.train import ConfigError, ExperimentConfig, train

    source = Path(source)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"the pruned ratio must be in [0, 1), not {ratio}")
    if not (source / "config.yaml").is_file():
        raise ConfigError(f"{source}: not a run folder (no config.yaml); lpr prune needs the "
                          "run that trained the model, for its data and training settings")
    cfg = ExperimentConfig.from_yaml(source / "config.yaml")
    cfg = cfg.override([f"name={cfg.name}_pruned{round(ratio * 100):02d}", f"epochs={epochs}",
                        "init_from=null", "model.bn_decay=0.0", *overrides], source="lpr prune")
    model = load_model(source)
    pruned, report = prune_model(model, ratio, min_channels, drop_gamma_penalty=True)
    report.update(source=str(source), source_model=getattr(model, "_lpr_name", str(source)))
    train(cfg, out_dir, model=pruned, overwrite=overwrite)
    write_result("prune", report, config=cfg.to_dict(), seed=cfg.seed, directory=Path(out_dir))
    return report


def cli_prune(args) -> int:
    """``lpr prune RUN --ratio R [--out DIR] [--epochs N] [--set KEY=VALUE ...]``."""
    from pathlib import Path

    out = Path(args.out) if args.out else Path(args.run).with_name(
        f"{Path(args.run).name}_pruned{round(args.ratio * 100):02d}")
    report = prune_run(args.run, args.ratio, out, epochs=args.epochs,
                       overrides=args.set or [], overwrite=args.overwrite)
    print(f"pruned {report['removed_channels']} of {report['prunable_channels']} prunable "
          f"channels: {report['params_before']:,} -> {report['params_after']:,} parameters; "
          f"fine-tuned into {out}/best.keras")
    return 0
