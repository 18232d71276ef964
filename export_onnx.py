"""Export a saved emotion-hub model to ONNX through `torch.export`, and check it against onnxruntime.

    python export_onnx.py --model_dir out/text-cnn --output text-cnn.onnx [--opset 18]

The ONNX graph takes the model's inputs (`input_ids` + `attention_mask`, `input_features` [+ `attention_mask`],
`input_values` or `pixel_values`) and returns `logits`; the batch axis is dynamic, and so is the time / sequence
axis where the model allows it (text CNN; MFCC CNN with mean pooling; the timm spectrogram backbone). Fixed-size
models (waveform MLP, FER CNN, from-scratch spectrogram ViT, MFCC CNN with `global_pool="flatten"`) keep that axis
static: their feature extractor pads or crops every input to it. Scores from the logits follow `config.problem_type`:
softmax (single-label), sigmoid per label (multi-label), the values themselves (regression).

Needs the `onnx` extra: `pip install -e .[onnx]` (onnx, onnxruntime, onnxscript).
"""

import argparse
import math
import os
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.export import Dim


EXAMPLE_BATCH = 2


class LogitsOnly(nn.Module):
    """The model with positional tensor inputs (in `names` order) and the logits as its only output."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors):
        return self.model(**dict(zip(self.names, tensors)), return_dict=True).logits


def _text_cnn(config):
    length = max(16, max(config.kernel_sizes) + 1)
    ids = torch.randint(1, config.vocab_size, (EXAMPLE_BATCH, length))
    ids[-1, length // 2:] = config.pad_token_id  # one padded text
    # Texts shorter than the widest kernel are padded inside forward (a Python branch on the length), and a single
    # window would be a size-1 axis the export specialises: the graph takes from the widest kernel + 1 tokens to
    # `max_sequence_length`. Pad shorter texts with the pad id (masked: the logits do not change).
    seq = Dim("sequence", min=max(config.kernel_sizes) + 1, max=config.max_sequence_length)
    return {"input_ids": ids, "attention_mask": ids.ne(config.pad_token_id).long()}, {"input_ids": {1: seq},
                                                                                       "attention_mask": {1: seq}}


def _fer_cnn(config):
    return {"pixel_values": torch.randn(EXAMPLE_BATCH, config.num_channels, config.image_size, config.image_size)}, {}


def _mfcc_cnn(config):
    if config.global_pool == "flatten":  # the flattened map fixes the number of frames
        return {"input_features": torch.randn(EXAMPLE_BATCH, config.input_height, config.input_width)}, {}
    frames = max(config.input_width, 2 ** (len(config.conv_channels) + 1) + 1)
    mask = torch.ones(EXAMPLE_BATCH, frames, dtype=torch.long)
    mask[-1, frames // 2:] = 0
    # Clips shorter than the poolings are padded inside forward (a Python branch on the length), and a single pooled
    # column would be a size-1 axis the export specialises: the graph takes from twice the pooling factor.
    time = Dim("frames", min=2 ** (len(config.conv_channels) + 1), max=100_000)
    inputs = {"input_features": torch.randn(EXAMPLE_BATCH, config.input_height, frames), "attention_mask": mask}
    return inputs, {"input_features": {2: time}, "attention_mask": {1: time}}


def _waveform_mlp(config):
    return {"input_values": torch.randn(EXAMPLE_BATCH, config.input_length).clamp(-1, 1)}, {}


def _spectrogram_vit(config):
    if config.backbone == "timm":  # resized to a fixed square image inside forward: any number of frames
        time = Dim("frames", min=2, max=100_000)
        return {"input_features": torch.randn(EXAMPLE_BATCH, config.num_mel_bins, config.max_frames)}, {
            "input_features": {2: time}}
    mask = torch.ones(EXAMPLE_BATCH, config.max_frames, dtype=torch.long)
    mask[-1, config.max_frames // 2:] = 0
    return {"input_features": torch.randn(EXAMPLE_BATCH, config.num_mel_bins, config.max_frames),
            "attention_mask": mask}, {}


def _fer_timm(config):
    return {"pixel_values": torch.randn(EXAMPLE_BATCH, config.in_chans, config.image_size, config.image_size)}, {}


def _speech_encoder(config):
    if getattr(config, "input_name", "input_values") == "input_features":  # Whisper: a fixed window of log-mel frames
        audio = config.audio_config
        return {"input_features": torch.randn(EXAMPLE_BATCH, audio.num_mel_bins, 2 * audio.max_source_positions)}, {}
    # The convolutional feature encoder's frame count is a floor division the export cannot bound for every length:
    # the graph takes lengths that are a multiple of its total stride (pad the audio with masked zeros up to one).
    audio = getattr(config, "audio_config", None) or getattr(config, "wav2vec2_config", None)
    stride = math.prod(getattr(audio, "conv_stride", None) or (1,))
    samples = 4000 // stride * stride  # about 0.25 s at 16 kHz
    mask = torch.ones(EXAMPLE_BATCH, samples, dtype=torch.long)
    mask[-1, samples // 2:] = 0
    smallest = 2 * max(getattr(config, "receptive_field", 400), 400)
    time = stride * Dim("frames", min=-(-smallest // stride), max=16000 * 600 // stride)
    return {"input_values": torch.randn(EXAMPLE_BATCH, samples) * 0.1, "attention_mask": mask}, {
        "input_values": {1: time}, "attention_mask": {1: time}}


# model_type -> config -> (example inputs, per-input dynamic axes other than the batch). Add a model family here.
EXAMPLE_INPUTS: dict[str, Callable] = {
    "text_cnn": _text_cnn,
    "fer_cnn": _fer_cnn,
    "fer_timm": _fer_timm,
    "mfcc_cnn": _mfcc_cnn,
    "waveform_mlp": _waveform_mlp,
    "spectrogram_vit": _spectrogram_vit,
    "speech_emotion": _speech_encoder,
    "wav2vec2_emotion": _speech_encoder,
}


def example_inputs(config) -> tuple[dict, dict]:
    """`(inputs, dynamic_shapes)` for `config`'s model: example tensors and, per input, `{axis: Dim}` with a dynamic
    batch axis on every input."""
    if config.model_type not in EXAMPLE_INPUTS:
        raise ValueError(f"no ONNX export recipe for model_type {config.model_type!r}; known: {sorted(EXAMPLE_INPUTS)}")
    inputs, dynamic = EXAMPLE_INPUTS[config.model_type](config)
    batch = Dim("batch", min=1, max=1024)
    return inputs, {name: {0: batch, **dynamic.get(name, {})} for name in inputs}


def load_model(model_dir: str):
    """The saved model in eval mode, through the Auto classes (our package registers them; otherwise the folder's
    own code with `trust_remote_code`)."""
    from transformers import (AutoConfig, AutoModelForAudioClassification, AutoModelForImageClassification,
                              AutoModelForSequenceClassification)

    try:
        from emotion_hub import modeling  # noqa: F401  (registers our classes with the Auto classes)
        remote = False
    except ImportError:
        remote = True
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=remote)
    auto_classes = (AutoModelForAudioClassification, AutoModelForImageClassification, AutoModelForSequenceClassification)
    for auto_class in auto_classes:
        if type(config) in auto_class._model_mapping or auto_class.__name__ in (getattr(config, "auto_map", None) or {}):
            return auto_class.from_pretrained(model_dir, trust_remote_code=remote).eval()
    raise ValueError(f"{model_dir}: no audio, image or sequence classifier is registered for {type(config).__name__}")


def export_onnx(model_or_dir, output: str, opset: int = 18, check: bool = True, atol: float = 1e-4,
                inputs: Optional[dict] = None, dynamic_shapes: Optional[dict] = None) -> dict:
    """Export a model (or a saved model folder) to `output` with `torch.onnx.export(..., dynamo=True)` and, when
    `check`, compare onnxruntime's logits with PyTorch's on the example inputs and on inputs of another batch size
    (and length, where that axis is dynamic).

    Returns `{"output", "inputs" (names), "dynamic_axes", "max_abs_diff"}`; raises `RuntimeError` when a difference
    exceeds `atol`.
    """
    model = load_model(model_or_dir) if isinstance(model_or_dir, (str, os.PathLike)) else model_or_dir.eval()
    if inputs is None:
        inputs, dynamic_shapes = example_inputs(model.config)
    names = list(inputs)
    wrapper = LogitsOnly(model, names).eval()
    args = tuple(inputs[name] for name in names)
    shapes = tuple(dynamic_shapes[name] for name in names) if dynamic_shapes else None
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with torch.no_grad():
        # torch.export first, so a model that does not export fails here instead of the ONNX exporter falling back to
        # other strategies. `forward(*tensors)` has one varargs parameter: the per-input shapes nest one level down.
        exported = torch.export.export(wrapper, args, dynamic_shapes=(shapes,) if shapes else None)
        program = torch.onnx.export(exported, dynamo=True, opset_version=opset, input_names=names,
                                    output_names=["logits"], external_data=False)
        program.save(output)
    report = {"output": output, "inputs": names,
              "dynamic_axes": {n: sorted(dynamic_shapes[n]) for n in names} if dynamic_shapes else {},
              "max_abs_diff": None}
    if check:
        report["max_abs_diff"] = check_onnx(wrapper, output, [args, _other_inputs(args, names, dynamic_shapes)], atol)
    return report


def _other_inputs(args: tuple, names: list[str], dynamic_shapes: Optional[dict]) -> tuple:
    """The example inputs at another batch size (3) and, on axes beyond the batch that are dynamic, another length:
    repeated along the axis (a 0/1 mask stays a mask)."""
    other = []
    for name, tensor in zip(names, args):
        tensor = torch.cat([tensor, tensor[:1]])  # batch + 1
        for axis in sorted((dynamic_shapes or {}).get(name, {})):
            if axis > 0:
                tensor = torch.cat([tensor, tensor.narrow(axis, 0, tensor.shape[axis] // 2 * 2)], dim=axis)
        other.append(tensor)
    return tuple(other)


def check_onnx(wrapper: nn.Module, path: str, input_sets: list[tuple], atol: float = 1e-4) -> float:
    """Largest |onnxruntime - PyTorch| logit difference over `input_sets`; `RuntimeError` beyond `atol`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed_names = [i.name for i in session.get_inputs()]
    worst = 0.0
    for args in input_sets:
        with torch.no_grad():
            expected = wrapper(*args).float().numpy()
        (logits,) = session.run(None, {name: tensor.numpy() for name, tensor in zip(feed_names, args)})
        diff = float(np.abs(logits - expected).max())
        worst = max(worst, diff)
        if not diff <= atol:
            shapes = [tuple(t.shape) for t in args]
            raise RuntimeError(f"{path}: onnxruntime logits differ from PyTorch's by {diff:.3g} (> {atol}) on inputs "
                               f"of shapes {shapes}")
    return worst


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a folder written by save_pretrained (train.py's output)")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest accepted |onnxruntime - PyTorch| logit")
    parser.add_argument("--no_check", action="store_true", help="skip the onnxruntime comparison")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = export_onnx(args.model_dir, args.output, opset=args.opset, check=not args.no_check, atol=args.atol)
    axes = ", ".join(f"{name}: {axes}" for name, axes in report["dynamic_axes"].items())
    print(f"wrote {report['output']} (inputs {report['inputs']}; dynamic axes {axes})")
    if report["max_abs_diff"] is not None:
        print(f"onnxruntime vs PyTorch: max abs logit difference {report['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
