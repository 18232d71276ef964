"""Export a saved emotion-hub model (ours, or a stock folder the recipes write) to ONNX through `torch.export`, and
check the graph against onnxruntime and the model's own pipeline.

    python export_onnx.py --model_dir out/text-cnn --output text-cnn.onnx [--opset 18]

The ONNX graph takes the model's inputs (`input_ids` + `attention_mask` [+ `token_type_ids`], `input_features`
[+ `attention_mask`], `input_values` [+ `attention_mask`] or `pixel_values`) and returns `logits`. The batch axis is
dynamic, and so is the time / sequence axis where the model allows it (text CNN and stock text classifiers; MFCC CNN
with mean pooling; the timm spectrogram backbone; the waveform speech encoders). Whisper keeps its window's frames (the
feature extractor pads every clip to it) and takes the `attention_mask` of the clip's mel frames, so a clip shorter
than the window is pooled over its own frames as in the pipeline. Fixed-size models (waveform MLP, FER CNN,
from-scratch spectrogram ViT, MFCC CNN with `global_pool="flatten"`, timm image classifiers) keep that axis static:
their processor pads, crops or resizes every input to it.

Stock folders the recipes write export too: `TimmWrapperForImageClassification` (`fer_timm` with `export_stock`),
`WhisperForAudioClassification` and the wav2vec2-family `*ForSequenceClassification` (`speech_emotion` /
`wav2vec2_emotion` with `export_stock`), and any `AutoModelForSequenceClassification` text folder
(`auto_sequence_classification`).

The check (skipped with `--no_check`), every difference beyond `--atol` (1e-4) raising an error:
1. onnxruntime's logits against PyTorch's on the example inputs and at another batch size (and length);
2. real-shaped inputs made by the folder's processor (tokenizer, feature extractor, image processor; a default
   Whisper / wav2vec2 feature extractor where a speech model has none): one-word and longer texts, clips shorter than
   the model's window, photos larger than the processor's size. Each one alone goes through the model's pipeline and
   through onnxruntime (the pipeline's own preprocessing and postprocessing around the graph): the same scores and the
   same top label. Together, as the processor pads them into one batch of mixed lengths, onnxruntime gives PyTorch's
   logits.

Needs the `onnx` extra: `pip install -e .[onnx]` (onnx, onnxruntime, onnxscript).
"""

import argparse
import importlib
import math
import os
from typing import Callable, Mapping, Optional

import numpy as np
import torch
from torch import nn
from torch.export import Dim


EXAMPLE_BATCH = 2
WAVEFORM_ENCODERS = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
TASKS = {"text": "text-classification", "audio": "audio-classification", "image": "image-classification"}
ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
               "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


class LogitsOnly(nn.Module):
    """The model with positional tensor inputs (in `names` order) and the logits as its only output."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors):
        return self.model(**dict(zip(self.names, tensors)), return_dict=True).logits


# ---------------------------------------------------------------------------------------------------------------------
# Example inputs: what torch.export traces, with the axes that stay dynamic
# ---------------------------------------------------------------------------------------------------------------------
def _text_cnn(config):
    ids = torch.randint(1, config.vocab_size, (EXAMPLE_BATCH, 16))
    ids[-1, 8:] = config.pad_token_id  # one padded text
    # The forward cuts at `max_sequence_length` and pads by the widest kernel whatever the length (no branch on it):
    # the graph takes every length the tokenizer gives, from one token (a one-word text) up.
    seq = Dim("sequence", min=1, max=100_000)
    return {"input_ids": ids, "attention_mask": ids.ne(config.pad_token_id).long()}, {"input_ids": {1: seq},
                                                                                       "attention_mask": {1: seq}}


def _sequence_classifier(config):
    """A stock transformers text classifier (`auto_sequence_classification`: BERT, RoBERTa, MiniLM...)."""
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    ids = torch.randint(3, config.vocab_size, (EXAMPLE_BATCH, 12))
    mask = torch.ones_like(ids)
    ids[-1, 6:], mask[-1, 6:] = pad, 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if getattr(config, "type_vocab_size", 0):  # BERT-style segment ids (dropped where the tokenizer gives none)
        inputs["token_type_ids"] = torch.zeros_like(ids)
    # Learned position embeddings bound the length (RoBERTa's start after the padding index: 2 fewer).
    seq = Dim("sequence", min=1, max=max(2, getattr(config, "max_position_embeddings", 514) - 2))
    return inputs, {name: {1: seq} for name in inputs}


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


def _timm_wrapper(config):
    """The stock `TimmWrapperForImageClassification`: the size its `pretrained_cfg` states (the stock image processor
    resizes and crops every photo to it)."""
    channels, height, width = (config.pretrained_cfg or {}).get("input_size", (3, 224, 224))
    return {"pixel_values": torch.randn(EXAMPLE_BATCH, channels, height, width)}, {}


def _whisper(config):
    """Our Whisper classifier (`audio_config`) or the stock `WhisperForAudioClassification`: a window of log-mel
    frames. Ours takes the mask of the clip's frames (the pooling reads only them); the stock class pools the whole
    window and takes no mask."""
    audio = getattr(config, "audio_config", None) or config
    frames = 2 * audio.max_source_positions
    inputs = {"input_features": torch.randn(EXAMPLE_BATCH, audio.num_mel_bins, frames)}
    if config.model_type != "whisper":
        mask = torch.ones(EXAMPLE_BATCH, frames, dtype=torch.int32)  # the dtype WhisperFeatureExtractor returns
        mask[-1, frames // 2:] = 0  # a clip of half the window
        inputs["attention_mask"] = mask
    return inputs, {}


def _speech_encoder(config):
    if getattr(config, "input_name", "input_values") == "input_features" or config.model_type == "whisper":
        return _whisper(config)
    # The convolutional feature encoder's frame count is a floor division torch.export cannot bound for every length:
    # it traces lengths that are a multiple of its total stride. The graph it gives computes any length (the check
    # below runs clips of other lengths through it).
    audio = getattr(config, "audio_config", None) or getattr(config, "wav2vec2_config", None) or config
    stride = math.prod(getattr(audio, "conv_stride", None) or (1,))
    samples = 4000 // stride * stride  # about 0.25 s at 16 kHz
    mask = torch.ones(EXAMPLE_BATCH, samples, dtype=torch.int32)  # the dtype Wav2Vec2FeatureExtractor returns
    mask[-1, samples // 2:] = 0
    smallest = 2 * max(getattr(config, "receptive_field", 400), 400)
    time = stride * Dim("frames", min=-(-smallest // stride), max=16000 * 600 // stride)
    return {"input_values": torch.randn(EXAMPLE_BATCH, samples) * 0.1, "attention_mask": mask}, {
        "input_values": {1: time}, "attention_mask": {1: time}}


# model_type -> config -> (example inputs, per-input dynamic axes other than the batch). Add a model family here;
# other stock text classifiers (any `AutoModelForSequenceClassification` model type) use `_sequence_classifier`.
EXAMPLE_INPUTS: dict[str, Callable] = {
    "text_cnn": _text_cnn,
    "fer_cnn": _fer_cnn,
    "fer_timm": _fer_timm,
    "mfcc_cnn": _mfcc_cnn,
    "waveform_mlp": _waveform_mlp,
    "spectrogram_vit": _spectrogram_vit,
    "speech_emotion": _speech_encoder,
    "wav2vec2_emotion": _speech_encoder,
    "whisper": _whisper,
    "timm_wrapper": _timm_wrapper,
    **{encoder: _speech_encoder for encoder in WAVEFORM_ENCODERS},
}


def _recipe(config) -> Callable:
    if config.model_type in EXAMPLE_INPUTS:
        return EXAMPLE_INPUTS[config.model_type]
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    if config.model_type in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        return _sequence_classifier
    raise ValueError(f"no ONNX export recipe for model_type {config.model_type!r}; known: {sorted(EXAMPLE_INPUTS)} "
                     f"and the stock text classifiers")


def example_inputs(config) -> tuple[dict, dict]:
    """`(inputs, dynamic_shapes)` for `config`'s model: example tensors and, per input, `{axis: Dim}` with a dynamic
    batch axis on every input."""
    inputs, dynamic = _recipe(config)(config)
    batch = Dim("batch", min=1, max=1024)
    return inputs, {name: {0: batch, **dynamic.get(name, {})} for name in inputs}


# ---------------------------------------------------------------------------------------------------------------------
# Loading a folder: the model and its processor
# ---------------------------------------------------------------------------------------------------------------------
def _remote() -> bool:
    try:
        from emotion_hub import modeling  # noqa: F401  (registers our classes with the Auto classes)
        return False
    except ImportError:
        return True


def load_model(model_dir: str):
    """The saved model in eval mode, through the Auto classes (our package registers them; otherwise the folder's
    own code with `trust_remote_code`). Stock folders load as their stock class."""
    from transformers import (AutoConfig, AutoModelForAudioClassification, AutoModelForImageClassification,
                              AutoModelForSequenceClassification)

    remote = _remote()
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=remote)
    auto_classes = (AutoModelForAudioClassification, AutoModelForImageClassification, AutoModelForSequenceClassification)
    for auto_class in auto_classes:
        if type(config) in auto_class._model_mapping or auto_class.__name__ in (getattr(config, "auto_map", None) or {}):
            return auto_class.from_pretrained(model_dir, trust_remote_code=remote).eval()
    raise ValueError(f"{model_dir}: no audio, image or sequence classifier is registered for {type(config).__name__}")


def modality(model) -> str:
    """`"text"`, `"audio"` or `"image"`, from the model's main input."""
    name = getattr(model, "main_input_name", None)
    if name == "input_ids":
        return "text"
    if name == "pixel_values":
        return "image"
    if name in ("input_values", "input_features"):
        return "audio"
    raise ValueError(f"{type(model).__name__}: cannot tell text, audio or image from its main input {name!r}")


def load_processor(model_dir: str, model):
    """The folder's tokenizer / feature extractor / image processor, or None where it has none."""
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoTokenizer

    loader = {"text": AutoTokenizer, "audio": AutoFeatureExtractor, "image": AutoImageProcessor}[modality(model)]
    try:
        return loader.from_pretrained(model_dir, trust_remote_code=_remote())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_processor(model):
    """A processor for a speech model saved without one: the stock `WhisperFeatureExtractor` of its window (Whisper)
    or a `Wav2Vec2FeatureExtractor` at 16 kHz with attention masks (wav2vec2, HuBERT, WavLM, data2vec-audio); None
    for the others."""
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    config = model.config
    audio = getattr(config, "audio_config", None) or getattr(config, "wav2vec2_config", None) or config
    kind = getattr(audio, "model_type", None)
    if kind == "whisper":
        return WhisperFeatureExtractor(feature_size=audio.num_mel_bins,
                                       chunk_length=int(audio.max_source_positions // 50))
    if kind in WAVEFORM_ENCODERS:
        return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                        return_attention_mask=True)
    return None


def build_pipeline(model, processor):
    """The model's pipeline: the one its config names (`custom_pipelines`: ours, e.g.
    `EmotionAudioClassificationPipeline`), else the stock one of its task."""
    from transformers import pipeline

    kind = modality(model)
    task = TASKS[kind]
    impl = ((getattr(model.config, "custom_pipelines", None) or {}).get(task) or {}).get("impl")
    pipeline_class = None
    if impl:
        module_name, class_name = impl.rsplit(".", 1)
        package = type(model).__module__.rsplit(".", 1)[0]  # our modeling package, or the folder's remote module
        pipeline_class = getattr(importlib.import_module(f"{package}.{module_name}"), class_name)
    key = {"text": "tokenizer", "audio": "feature_extractor", "image": "image_processor"}[kind]
    return pipeline(task, model=model, pipeline_class=pipeline_class, **{key: processor})


# ---------------------------------------------------------------------------------------------------------------------
# Real-shaped inputs
# ---------------------------------------------------------------------------------------------------------------------
TEXTS = ["joy", "i feel so happy and calm today",
         "i cannot believe they cancelled the trip again after all the planning we did for months and now everyone "
         "is upset and tired of waiting for an answer that never comes"]


def _tone(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A gliding tone with noise: speech-like energy in every window, different between clips."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * (180 + 60 * seed) * t * (1 + 0.3 * t))
            + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def _windowed_audio(model):
    """`windowed_audio`: ours, or the copy beside a remote-code model's files (a Python without our package)."""
    try:
        from emotion_hub.modeling import windowed_audio
    except ImportError:
        windowed_audio = importlib.import_module(type(model).__module__.rsplit(".", 1)[0] + ".windowed_audio")
    return windowed_audio


def real_items(model, processor) -> list:
    """Inputs as users have them: texts (one word, a sentence, a long one), clips (shorter than the model's window,
    and as long as it; any-length models: 0.6 to 1.4 s), photos larger than any processor size (RGB and grey)."""
    kind = modality(model)
    if kind == "text":
        # Within the model's learned positions (a stock pipeline does not truncate): longer texts lose words.
        limit = max(2, getattr(model.config, "max_position_embeddings", 10 ** 9) - 2)
        texts = []
        for text in TEXTS:
            while len(processor(text)["input_ids"]) > limit:
                text = " ".join(text.split()[: len(text.split()) // 2])
            texts.append(text)
        return texts
    if kind == "image":
        from PIL import Image

        rng = np.random.default_rng(0)
        return [Image.fromarray(rng.integers(0, 256, (311, 257, 3), dtype=np.uint8)),
                Image.fromarray(rng.integers(0, 256, (240, 300), dtype=np.uint8), mode="L")]
    window = _windowed_audio(model).model_window_seconds(model, processor)
    seconds = [0.5 * window, 0.37 * window, window] if window else [0.6, 1.37, 1.0]
    return [_tone(s, processor.sampling_rate, seed) for seed, s in enumerate(seconds)]


def processor_batch(model, processor, items) -> Mapping:
    """`items` made into one padded batch by `processor`, as a user batches them."""
    kind = modality(model)
    if kind == "text":
        return processor(items, padding=True, truncation=True, return_tensors="pt")
    if kind == "image":
        if type(processor).__module__.startswith("transformers."):  # the stock pipeline hands it RGB images
            items = [item.convert("RGB") for item in items]
        return processor(items, return_tensors="pt")
    kwargs = {}
    if type(processor).__name__ == "WhisperFeatureExtractor":
        kwargs = {"padding": "max_length", **_windowed_audio(model).feature_extractor_kwargs(model, processor)}
    elif type(processor).__module__.startswith("transformers."):  # stock: pad to the longest clip, with its mask
        kwargs = {"padding": True, "return_attention_mask": True}
    return processor(items, sampling_rate=processor.sampling_rate, return_tensors="pt", **kwargs)


def _real_id_batches(config) -> list[tuple]:
    """Real-shaped token ids without a tokenizer: a one-token text, and a padded batch of 1, 5 and 23 tokens."""
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    generator = torch.Generator().manual_seed(0)
    lengths = [1, 5, 23]
    ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(pad + 1, config.vocab_size, (length,), generator=generator)
    mask = ids.ne(pad).long()
    return [{"input_ids": ids[:1, :1], "attention_mask": mask[:1, :1]}, {"input_ids": ids, "attention_mask": mask}]


def complete(inputs: Mapping, names: list[str]) -> tuple:
    """The graph's inputs (`names` order) from a processor's output: an `attention_mask` it does not give is all ones
    (every sample / token counts, as the model takes a missing mask), `token_type_ids` zeros; other inputs must be
    there."""
    tensors = {name: torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
               for name, value in inputs.items() if name in names}
    main = tensors.get(names[0])
    for name in names:
        if name in tensors:
            continue
        if name == "attention_mask" and main is not None:
            tensors[name] = torch.ones(main.shape[0], main.shape[-1], dtype=torch.long)
        elif name == "token_type_ids" and main is not None:
            tensors[name] = torch.zeros_like(main)
        else:
            raise RuntimeError(f"the processor gives no {name!r}, which the graph takes (it gives {sorted(inputs)})")
    return tuple(tensors[name] for name in names)


# ---------------------------------------------------------------------------------------------------------------------
# Export and check
# ---------------------------------------------------------------------------------------------------------------------
def export_onnx(model_or_dir, output: str, opset: int = 18, check: bool = True, atol: float = 1e-4,
                inputs: Optional[dict] = None, dynamic_shapes: Optional[dict] = None, processor=None) -> dict:
    """Export a model (or a saved folder, ours or stock) to `output` with `torch.onnx.export(..., dynamo=True)` and,
    when `check`, compare onnxruntime with PyTorch and with the model's pipeline (see the module docstring).

    Args:
        processor (*optional*): the model's tokenizer / feature extractor / image processor, for the real-shaped
            inputs (a folder's own is loaded; a speech model without one gets `default_processor`; without any, text
            models get real-shaped token ids and the others only the example inputs).

    Returns `{"output", "inputs" (names), "dynamic_axes", "max_abs_diff" (logits, against PyTorch),
    "pipeline_max_abs_diff" (scores, against the pipeline; None where there was no pipeline to run), "real_inputs"
    (what was compared)}`; raises `RuntimeError` when a difference exceeds `atol` or a top label differs.
    """
    if isinstance(model_or_dir, (str, os.PathLike)):
        model = load_model(model_or_dir)
        processor = processor if processor is not None else load_processor(model_or_dir, model)
    else:
        model = model_or_dir.eval()
    processor = processor if processor is not None else default_processor(model)
    if inputs is None:
        inputs, dynamic_shapes = example_inputs(model.config)
        names = getattr(processor, "model_input_names", None)
        if modality(model) == "text" and names:  # only what the tokenizer gives (e.g. no RoBERTa segment ids)
            inputs = {k: v for k, v in inputs.items() if k == "input_ids" or k in names}
    names = list(inputs)
    items = real_items(model, processor) if processor is not None else None
    batch = complete(processor_batch(model, processor, items), names) if items is not None else None
    if batch is not None:
        # The graph takes what the processor gives: its dtypes (a feature extractor's int32 mask...) and, on inputs of a
        # fixed size, its shape (FERImageProcessor's 3 channels for a grey model, which takes their luminance).
        fixed = {name for name in names if set((dynamic_shapes or {}).get(name, {})) <= {0}}
        inputs = {name: real[:EXAMPLE_BATCH].clone() if name in fixed and real.shape[0] >= EXAMPLE_BATCH
                  else inputs[name].to(real.dtype) for name, real in zip(names, batch)}
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
              "max_abs_diff": None, "pipeline_max_abs_diff": None, "real_inputs": []}
    if check:
        import onnxruntime

        session = onnxruntime.InferenceSession(output, providers=["CPUExecutionProvider"])
        input_sets = [args, _other_inputs(args, names, dynamic_shapes)]
        if processor is not None:
            input_sets.append(batch)
            report["real_inputs"].append(f"a padded batch of {len(items)} real-shaped inputs")
            report["pipeline_max_abs_diff"] = check_pipeline(build_pipeline(model, processor), session, names, items,
                                                             atol)
            report["real_inputs"].append(f"{len(items)} inputs alone through the pipeline")
        elif modality(model) == "text":
            input_sets += [complete(batch, names) for batch in _real_id_batches(model.config)]
            report["real_inputs"].append("a one-token text and a padded batch of 1, 5 and 23 tokens")
        report["max_abs_diff"] = check_onnx(wrapper, session, input_sets, atol)
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


def _session(path_or_session):
    if isinstance(path_or_session, (str, os.PathLike)):
        import onnxruntime

        return onnxruntime.InferenceSession(str(path_or_session), providers=["CPUExecutionProvider"])
    return path_or_session


def run_session(session, args: tuple) -> np.ndarray:
    """onnxruntime's logits for `args` (the graph's inputs in order), each cast to the type the graph declares (a
    feature extractor's int32 mask for a graph traced with int64, say)."""
    feed = {}
    for spec, tensor in zip(session.get_inputs(), args):
        array = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
        feed[spec.name] = array.astype(ONNX_DTYPES.get(spec.type, array.dtype), copy=False)
    return session.run(None, feed)[0]


def check_onnx(wrapper: nn.Module, path_or_session, input_sets: list[tuple], atol: float = 1e-4) -> float:
    """Largest |onnxruntime - PyTorch| logit difference over `input_sets`; `RuntimeError` beyond `atol`."""
    session = _session(path_or_session)
    worst = 0.0
    for args in input_sets:
        with torch.no_grad():
            expected = wrapper(*args).float().numpy()
        logits = run_session(session, args)
        diff = float(np.abs(logits - expected).max())
        worst = max(worst, diff)
        if not diff <= atol:
            shapes = [tuple(t.shape) for t in args]
            raise RuntimeError(f"{_name(path_or_session)}: onnxruntime logits differ from PyTorch's by {diff:.3g} (> "
                               f"{atol}) on inputs of shapes {shapes}")
    return worst


def _name(path_or_session) -> str:
    return str(path_or_session) if isinstance(path_or_session, (str, os.PathLike)) else "the ONNX graph"


def _label_scores(result) -> dict:
    """`{label: score}` of a pipeline's answer for one input (a list of `{"label", "score"}`, possibly nested)."""
    if isinstance(result, dict):
        result = [result]
    if result and isinstance(result[0], list):
        result = result[0]
    return {entry["label"]: float(entry["score"]) for entry in result}


def check_pipeline(pipe, path_or_session, names: list[str], items: list, atol: float = 1e-4) -> float:
    """Every item of `items` through the pipeline, and through onnxruntime between the pipeline's own preprocessing
    and postprocessing: the largest score difference; `RuntimeError` beyond `atol` or when the top labels differ."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    session = _session(path_or_session)
    top_k = pipe.model.config.num_labels
    preprocess, _, postprocess = pipe._sanitize_parameters(top_k=top_k)
    preprocess = {**pipe._preprocess_params, **preprocess}
    postprocess = {**pipe._postprocess_params, **postprocess}
    worst = 0.0
    for index, item in enumerate(items):
        expected = _label_scores(pipe(item, top_k=top_k))
        model_inputs = pipe.preprocess(item, **preprocess)
        logits = run_session(session, complete(model_inputs, names))
        got = _label_scores(pipe.postprocess(SequenceClassifierOutput(logits=torch.from_numpy(logits)), **postprocess))
        if set(got) != set(expected):
            raise RuntimeError(f"{_name(path_or_session)}: on real input #{index} onnxruntime's labels {sorted(got)} are "
                               f"not the pipeline's {sorted(expected)}")
        diff = max(abs(got[label] - expected[label]) for label in expected)
        worst = max(worst, diff)
        top_expected, top_got = max(expected, key=expected.get), max(got, key=got.get)
        if not diff <= atol or top_expected != top_got:
            raise RuntimeError(f"{_name(path_or_session)}: on real input #{index} ({_describe(item)}) onnxruntime's "
                               f"scores differ from the pipeline's by {diff:.3g} (atol {atol}); top label "
                               f"{top_got!r} against the pipeline's {top_expected!r}")
    return worst


def _describe(item) -> str:
    if isinstance(item, str):
        return f"text of {len(item.split())} word(s)"
    if isinstance(item, np.ndarray):
        return f"clip of {item.shape[0]} samples"
    return f"{getattr(item, 'mode', '')} image of {getattr(item, 'size', '?')}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a folder written by save_pretrained (train.py's output, "
                                                           "ours or a stock export)")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest accepted |onnxruntime - PyTorch| logit and "
                                                                 "|onnxruntime - pipeline| score")
    parser.add_argument("--no_check", action="store_true", help="skip the onnxruntime comparisons")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = export_onnx(args.model_dir, args.output, opset=args.opset, check=not args.no_check, atol=args.atol)
    axes = ", ".join(f"{name}: {axes}" for name, axes in report["dynamic_axes"].items())
    print(f"wrote {report['output']} (inputs {report['inputs']}; dynamic axes {axes})")
    if report["max_abs_diff"] is not None:
        print(f"onnxruntime vs PyTorch: max abs logit difference {report['max_abs_diff']:.2e}")
    if report["pipeline_max_abs_diff"] is not None:
        print(f"onnxruntime vs the pipeline on real-shaped inputs ({'; '.join(report['real_inputs'])}): max abs score "
              f"difference {report['pipeline_max_abs_diff']:.2e}, same top labels")


if __name__ == "__main__":
    main()
