"""export_onnx.py on real-shaped inputs (issue 26 item 3, issue 27): the ONNX graph between the pipeline's own
preprocessing and postprocessing gives the pipeline's answer on a clip shorter than Whisper's window, a padded batch of
mixed lengths and a one-word text; the export's own check compares with the pipeline and fails when they differ; the
stock folders the recipes write (Whisper, wav2vec2, timm, BERT-style text) export with the same check."""

import json

import numpy as np
import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, Wav2Vec2FeatureExtractor,
                          WhisperFeatureExtractor, pipeline)

from emotion_hub.modeling import (SpeechEmotionConfig, SpeechEmotionForAudioClassification, TextCNNConfig,
                                  TextCNNForSequenceClassification)
from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer
from export_onnx import check_pipeline, export_onnx, main
from tests.erc_utils import tiny_bert_tokenizer


onnxruntime = pytest.importorskip("onnxruntime", reason="the `onnx` extra (onnx, onnxruntime, onnxscript)")

LABELS = ["angry", "happy", "neutral"]
SR = 16000
# 8 mel bins, a 2 s window (100 positions, 200 mel frames).
WHISPER = dict(model_type="whisper", d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
               num_mel_bins=8, max_source_positions=100, decoder_layers=1, decoder_attention_heads=2,
               decoder_ffn_dim=16, vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
               decoder_start_token_id=1)
WAV2VEC2 = dict(model_type="wav2vec2", feat_extract_norm="layer", do_stable_layer_norm=True, hidden_size=32,
                num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=(16, 16),
                conv_kernel=(10, 3), conv_stride=(5, 2), num_feat_extract_layers=2, num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=2)
TEXTS = ["i am so happy today", "this makes me angry and sad", "what a sad day", "joy"]


def labels():
    return dict(id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})


def speech_model(audio_config, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(audio_config=dict(audio_config), projector_size=8,
                                                                    **labels(), **kwargs)).eval()
    with torch.no_grad():  # logits of O(1): a graph that pools the window's padding shows in the scores
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.normal_(0.0, 0.1)
    return model


def clip(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def session_for(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(session, inputs):
    """The graph on a processor's / pipeline's output: every graph input by name, in the dtype the graph declares."""
    types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}
    feed = {spec.name: np.asarray(inputs[spec.name]).astype(types[spec.type]) for spec in session.get_inputs()}
    return session.run(None, feed)[0]


def pipeline_scores(classifier, item):
    return np.array([{r["label"]: r["score"] for r in classifier(item, top_k=None)}[label] for label in LABELS])


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whisper")
    speech_model(WHISPER).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=8, chunk_length=2).save_pretrained(folder)
    return folder


def test_whisper_onnx_gives_the_pipeline_answer_on_a_clip_shorter_than_the_window(whisper_folder, tmp_path):
    report = export_onnx(str(whisper_folder), str(tmp_path / "whisper.onnx"))
    session = session_for(tmp_path / "whisper.onnx")
    classifier = pipeline("audio-classification", model=str(whisper_folder), trust_remote_code=True)
    one_second = clip(1.0)  # half the 2 s window: padded, and pooled over its own frames only
    expected = pipeline_scores(classifier, one_second)
    got = softmax(run(session, classifier.preprocess(one_second))[0])
    assert np.abs(got - expected).max() < 1e-4
    assert got.argmax() == expected.argmax()
    # A padded batch of mixed lengths: every row the pipeline's answer for that clip alone.
    clips = [clip(0.4, 1), one_second, clip(2.0, 2)]
    batch = WhisperFeatureExtractor(feature_size=8, chunk_length=2)(clips, sampling_rate=SR, return_attention_mask=True,
                                                                    return_tensors="np")
    rows = softmax(run(session, batch))
    for row, c in zip(rows, clips):
        assert np.abs(row - pipeline_scores(classifier, c)).max() < 1e-4
    # The mask of the clip's mel frames is an input of the graph, not a constant folded into it: the same frames
    # pooled over the whole window give another answer.
    assert [i.name for i in session.get_inputs()] == ["input_features", "attention_mask"] == report["inputs"]
    full = dict(batch, attention_mask=np.ones_like(batch["attention_mask"]))
    assert np.abs(softmax(run(session, full))[0] - rows[0]).max() > 1e-3
    # The export's own check ran the pipeline on such clips too.
    assert report["pipeline_max_abs_diff"] < 1e-4 and report["max_abs_diff"] < 1e-4


@pytest.fixture(scope="module")
def text_cnn_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-cnn")
    tokenizer = build_word_level_tokenizer(TEXTS)
    torch.manual_seed(0)
    model = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=len(tokenizer), embedding_dim=8, num_filters=4,
                                                           kernel_sizes=[2, 3, 5], max_sequence_length=20,
                                                           **labels())).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_text_cnn_onnx_gives_the_pipeline_answer_on_a_one_word_text(text_cnn_folder, tmp_path, capsys):
    main(["--model_dir", str(text_cnn_folder), "--output", str(tmp_path / "text.onnx")])
    session = session_for(tmp_path / "text.onnx")
    classifier = pipeline("text-classification", model=str(text_cnn_folder), trust_remote_code=True)
    # One word (one token, shorter than the widest kernel), an unknown word, a sentence, and a text longer than the
    # model's 20 tokens (the model cuts it; the graph must too).
    texts = ["joy", "zzz", "this makes me angry and sad", " ".join(TEXTS * 2)]
    for text in texts:
        inputs = classifier.preprocess(text)
        expected = pipeline_scores(classifier, text)
        got = softmax(run(session, inputs)[0])
        assert np.abs(got - expected).max() < 1e-4, text
        assert got.argmax() == expected.argmax(), text
    assert classifier.preprocess("joy")["input_ids"].shape == (1, 1)
    # A padded batch of mixed lengths: every row the pipeline's answer for that text alone.
    batch = classifier.tokenizer(texts, padding=True, return_tensors="np")
    rows = softmax(run(session, batch))
    for row, text in zip(rows, texts):
        assert np.abs(row - pipeline_scores(classifier, text)).max() < 1e-4, text
    # The command's own check ran the pipeline on such texts too.
    assert "onnxruntime vs the pipeline on real-shaped inputs" in capsys.readouterr().out


def test_the_export_check_fails_when_the_graph_is_not_the_pipeline(whisper_folder, tmp_path):
    """The check is not a formality: a graph of another model (here one whose head differs) is refused by name."""
    export_onnx(str(whisper_folder), str(tmp_path / "whisper.onnx"), check=False)
    other = speech_model(WHISPER, seed=1)
    classifier = pipeline("audio-classification", model=other,
                          feature_extractor=WhisperFeatureExtractor(feature_size=8, chunk_length=2),
                          pipeline_class=type(pipeline("audio-classification", model=str(whisper_folder),
                                                       trust_remote_code=True)))
    with pytest.raises(RuntimeError, match=r"on real input #0 \(clip of 16000 samples\) onnxruntime's scores differ "
                                           r"from the pipeline's"):
        check_pipeline(classifier, str(tmp_path / "whisper.onnx"), ["input_features", "attention_mask"], [clip(1.0)])


def test_wav2vec2_graph_takes_clips_of_any_length(tmp_path):
    """The waveform encoders trace on multiples of their stride; the graph runs the real lengths the pipeline gets."""
    model = speech_model(WAV2VEC2)
    report = export_onnx(model, str(tmp_path / "w2v.onnx"))  # a default Wav2Vec2FeatureExtractor for the real inputs
    assert report["pipeline_max_abs_diff"] < 1e-4
    session = session_for(tmp_path / "w2v.onnx")
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    for samples in (4001, 7777, 16003):  # not multiples of the total stride (10)
        inputs = extractor(clip(samples / SR), sampling_rate=SR, return_tensors="pt")
        with torch.no_grad():
            expected = model(**inputs).logits.numpy()
        assert np.abs(run(session, {k: v.numpy() for k, v in inputs.items()}) - expected).max() < 1e-4


def test_grey_face_model_graph_takes_the_processor_pixels(tmp_path):
    """A grey FER CNN takes FERImageProcessor's 3 channels (their luminance inside the model): so does its graph, and a
    photo larger than the processor's size gives the pipeline's answer through it."""
    from PIL import Image

    from emotion_hub.modeling import FERCNNConfig, FERCNNForImageClassification
    from emotion_hub.processing import FERImageProcessor

    torch.manual_seed(0)
    model = FERCNNForImageClassification(FERCNNConfig(image_size=48, block_channels=[4, 8], fc_sizes=[8],
                                                      **labels())).eval()
    assert model.config.num_channels == 1
    model.save_pretrained(tmp_path / "fer")
    FERImageProcessor(size={"height": 48, "width": 48}).save_pretrained(tmp_path / "fer")
    report = export_onnx(str(tmp_path / "fer"), str(tmp_path / "fer.onnx"))
    session = session_for(tmp_path / "fer.onnx")
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 200), dtype=np.uint8))
    classifier = pipeline("image-classification", model=str(tmp_path / "fer"), trust_remote_code=True)
    got = softmax(run(session, classifier.preprocess(photo))[0])
    assert np.abs(got - pipeline_scores(classifier, photo)).max() < 1e-4
    assert report["pipeline_max_abs_diff"] < 1e-4


# -- stock folders (issue 27) ----------------------------------------------------------------------------------------
def test_stock_whisper_folder_exports_with_the_pipeline_check(tmp_path):
    model = speech_model(WHISPER)
    extractor = WhisperFeatureExtractor(feature_size=8, chunk_length=2)
    model.save_stock_pretrained(tmp_path / "stock", feature_extractor=extractor)
    assert json.load(open(tmp_path / "stock" / "config.json"))["architectures"] == ["WhisperForAudioClassification"]
    report = export_onnx(str(tmp_path / "stock"), str(tmp_path / "stock.onnx"))
    # The stock class pools the whole window and takes no mask: the graph neither; it gives the stock pipeline's answer.
    assert report["inputs"] == ["input_features"]
    assert report["pipeline_max_abs_diff"] < 1e-4
    stock = pipeline("audio-classification", model=str(tmp_path / "stock"))
    session = session_for(tmp_path / "stock.onnx")
    one_second = clip(1.0)
    assert np.abs(softmax(run(session, stock.preprocess(one_second))[0]) - pipeline_scores(stock, one_second)).max() < 1e-4


def test_stock_wav2vec2_folder_exports_with_the_pipeline_check(tmp_path):
    model = speech_model(WAV2VEC2)
    model.save_stock_pretrained(tmp_path / "stock",
                                feature_extractor=Wav2Vec2FeatureExtractor(return_attention_mask=True))
    report = export_onnx(str(tmp_path / "stock"), str(tmp_path / "stock.onnx"))
    assert report["inputs"] == ["input_values", "attention_mask"]
    assert report["pipeline_max_abs_diff"] < 1e-4 and report["max_abs_diff"] < 1e-4


def test_stock_timm_folder_exports_with_the_pipeline_check(tmp_path):
    from tests.test_modeling_fer_timm import make_model

    make_model().save_stock_pretrained(str(tmp_path / "stock"))
    report = export_onnx(str(tmp_path / "stock"), str(tmp_path / "stock.onnx"))
    assert report["inputs"] == ["pixel_values"]
    # Photos larger than the processor's size, RGB and grey, through the stock image pipeline and the graph.
    assert report["pipeline_max_abs_diff"] < 1e-4 and report["max_abs_diff"] < 1e-4


def test_stock_bert_folder_exports_with_the_pipeline_check(tmp_path):
    tokenizer = tiny_bert_tokenizer()
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=32,
                                                     max_position_embeddings=64, **labels())).eval()
    model.save_pretrained(tmp_path / "stock")
    tokenizer.save_pretrained(tmp_path / "stock")
    report = export_onnx(str(tmp_path / "stock"), str(tmp_path / "stock.onnx"))
    assert report["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert report["dynamic_axes"]["input_ids"] == [0, 1]
    assert report["pipeline_max_abs_diff"] < 1e-4
    classifier = pipeline("text-classification", model=str(tmp_path / "stock"))
    session = session_for(tmp_path / "stock.onnx")
    for text in ("joy", "i am so happy today"):  # [CLS] joy [SEP]: three tokens
        got = softmax(run(session, classifier.preprocess(text))[0])
        assert np.abs(got - pipeline_scores(classifier, text)).max() < 1e-4
