"""ERCFusion configuration: multimodal emotion recognition in conversation (text + audio + video frames)."""

import copy

from transformers import GPT2Config, PretrainedConfig, Wav2Vec2Config

from .losses import validate_loss_arguments, validate_triplet_arguments


TEXT_ENCODERS = ("gpt2", "mean_embedding", "none")
AUDIO_ENCODERS = ("wav2vec2", "waveform_mlp", "none")
VISION_ENCODERS = ("timm", "none")
FUSIONS = ("concat", "mha")
AUDIO_POOLINGS = ("mean", "mean_max")
FRAME_POOLINGS = ("mean", "mean_max")
ERC_TASK = "emotion-recognition-in-conversation"
# Saved in every config: `pipeline(ERC_TASK, model=repo, trust_remote_code=True)` then finds the pipeline class in the
# repository's `pipeline_erc.py`, which `save_pretrained` copies next to the model code.
CUSTOM_PIPELINES = {
    ERC_TASK: {"impl": "pipeline_erc.EmotionRecognitionInConversationPipeline",
               "pt": ["AutoModelForSequenceClassification"], "tf": [], "type": "multimodal"}
}
DEFAULT_VISION_CONFIG = {"model_name": "resnet50", "model_kwargs": {}}


class ERCFusionConfig(PretrainedConfig):
    r"""
    Configuration of [`ERCFusionForEmotionRecognition`]: one encoder per modality of an utterance in a dialogue, a
    projection of each to `fusion_out_features`, a fusion (concatenation or multi-head attention over the modality
    vectors), feed-forward layers, optional L2 normalisation and a linear classifier.

    A modality whose encoder is `"none"` is absent: any subset of text, audio and vision is a valid model (unimodal
    ablations included), but at least one must be present.

    Args:
        text_encoder (`str`, *optional*, defaults to `"gpt2"`): `"gpt2"` (the hidden state of a [`GPT2Model`] at the last
            token of the dialogue prompt), `"mean_embedding"` (mean word embedding of the target utterance, optionally
            concatenated with the mean over the context utterances: the GloVe-mean baseline) or `"none"`.
        audio_encoder (`str`, *optional*, defaults to `"wav2vec2"`): `"wav2vec2"` (a [`Wav2Vec2Model`] whose frame
            states are pooled over the unpadded frames), `"waveform_mlp"` (a 3-layer MLP applied to each
            `waveform_frame_length`-sample frame of the raw waveform, pooled with mean and max) or `"none"`.
        vision_encoder (`str`, *optional*, defaults to `"timm"`): `"timm"` (the timm backbone of `vision_config`, applied
            to each video frame, pooled over frames) or `"none"`.
        text_config (`dict` or [`GPT2Config`], *optional*): the GPT2 architecture of the `"gpt2"` text encoder; its
            `vocab_size` is also the vocabulary of the `"mean_embedding"` encoder.
        audio_config (`dict` or [`Wav2Vec2Config`], *optional*): the wav2vec2 architecture; its convolutional feature
            encoder also defines the receptive field shorter audio is padded to.
        vision_config (`dict`, *optional*, defaults to `{"model_name": "resnet50", "model_kwargs": {}}`): the timm
            backbone: `model_name` for `timm.create_model` and extra `model_kwargs` (e.g. `{"drop_path_rate": 0.05}`).
            The model is always created with `pretrained=False`; pretrained weights come from
            [`~ERCFusionForEmotionRecognition.from_pretrained_backbones`].
        mean_embedding_dim (`int`, *optional*, defaults to 300): width of the `"mean_embedding"` word embeddings (50 to
            start from GloVe 6B 50d vectors).
        mean_embedding_context (`bool`, *optional*, defaults to `True`): concatenate the mean embedding of the context
            utterances to that of the target utterance.
        freeze_text_encoder (`bool`, *optional*, defaults to `False`): keep the text encoder's weights fixed.
        freeze_audio_encoder (`bool`, *optional*, defaults to `False`): keep the whole audio encoder fixed.
        freeze_audio_feature_encoder (`bool`, *optional*, defaults to `True`): keep wav2vec2's convolutional feature
            encoder fixed (the customary fine-tuning setting).
        freeze_vision_encoder (`bool`, *optional*, defaults to `False`): keep the vision backbone fixed (its batch
            norm statistics too).
        audio_pooling (`str`, *optional*, defaults to `"mean_max"`): pooling of the wav2vec2 frame states, `"mean"`
            or `"mean_max"` (mean and max concatenated).
        waveform_frame_length (`int`, *optional*, defaults to 400): samples per frame of the `"waveform_mlp"` encoder
            (400 = 25 ms at 16 kHz); shorter audio is zero-padded to one frame.
        waveform_hidden_sizes (`list[int]`, *optional*, defaults to `[512, 256, 256]`): output sizes of the three
            layers of the `"waveform_mlp"` encoder.
        frame_pooling (`str`, *optional*, defaults to `"mean"`): pooling of the per-frame vision features over the
            frames of a clip, `"mean"` or `"mean_max"`.
        fusion (`str`, *optional*, defaults to `"concat"`): `"concat"` concatenates the projected modality vectors;
            `"mha"` runs multi-head self-attention over them (one token per modality) and averages the outputs.
        fusion_out_features (`int`, *optional*, defaults to 512): width of every modality's projection.
        fusion_num_heads (`int`, *optional*, defaults to 4): attention heads of the `"mha"` fusion.
        feed_forward_sizes (`list[int]`, *optional*, defaults to `[256]`): hidden sizes of the feed-forward layers
            after the fusion; the last one is the width of the fused representation (`[]`: no layer).
        l2_normalize (`bool`, *optional*, defaults to `False`): L2-normalise the fused representation before the
            classifier (and the triplet loss).
        dropout (`float`, *optional*, defaults to 0.1): dropout after the projections and every feed-forward layer.
        initializer_range (`float`, *optional*, defaults to 0.02): standard deviation of the normal initialisation of
            the projections, fusion, feed-forward and classifier weights and of the mean-embedding table.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order (required by
            `"weighted_ce"`; used by `"focal"` and `"dice"` when given).
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
        triplet_weight (`float`, *optional*, defaults to 0.0): weight of a triplet loss on the fused representation
            added to the classification loss (0: off); pair it with train.py's class-balanced batch sampler.
        triplet_margin (`float`, *optional*, defaults to 0.3): margin of the triplet loss.
        triplet_mining (`str`, *optional*, defaults to `"batch_hard"`): `"batch_hard"` or `"batch_all"`.
        word_vectors (`str`, *optional*): name of the word vectors the mean embeddings started from (for the card).
    """

    model_type = "erc_fusion"

    def __init__(
        self,
        text_encoder="gpt2",
        audio_encoder="wav2vec2",
        vision_encoder="timm",
        text_config=None,
        audio_config=None,
        vision_config=None,
        mean_embedding_dim=300,
        mean_embedding_context=True,
        freeze_text_encoder=False,
        freeze_audio_encoder=False,
        freeze_audio_feature_encoder=True,
        freeze_vision_encoder=False,
        audio_pooling="mean_max",
        waveform_frame_length=400,
        waveform_hidden_sizes=(512, 256, 256),
        frame_pooling="mean",
        fusion="concat",
        fusion_out_features=512,
        fusion_num_heads=4,
        feed_forward_sizes=(256,),
        l2_normalize=False,
        dropout=0.1,
        initializer_range=0.02,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        triplet_weight=0.0,
        triplet_margin=0.3,
        triplet_mining="batch_hard",
        word_vectors=None,
        **kwargs,
    ):
        for name, value, allowed in (("text_encoder", text_encoder, TEXT_ENCODERS),
                                     ("audio_encoder", audio_encoder, AUDIO_ENCODERS),
                                     ("vision_encoder", vision_encoder, VISION_ENCODERS),
                                     ("fusion", fusion, FUSIONS), ("audio_pooling", audio_pooling, AUDIO_POOLINGS),
                                     ("frame_pooling", frame_pooling, FRAME_POOLINGS)):
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}")
        if text_encoder == audio_encoder == vision_encoder == "none":
            raise ValueError("at least one of `text_encoder`, `audio_encoder`, `vision_encoder` must not be 'none'")
        waveform_hidden_sizes = [int(s) for s in waveform_hidden_sizes]
        feed_forward_sizes = [int(s) for s in feed_forward_sizes]
        if len(waveform_hidden_sizes) != 3 or min(waveform_hidden_sizes) < 1:
            raise ValueError(f"`waveform_hidden_sizes` must be three positive ints, got {waveform_hidden_sizes}")
        if feed_forward_sizes and min(feed_forward_sizes) < 1:
            raise ValueError(f"`feed_forward_sizes` must be positive ints, got {feed_forward_sizes}")
        for name, value in (("mean_embedding_dim", mean_embedding_dim), ("waveform_frame_length", waveform_frame_length),
                            ("fusion_out_features", fusion_out_features), ("fusion_num_heads", fusion_num_heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if fusion == "mha" and fusion_out_features % fusion_num_heads:
            raise ValueError(f"`fusion_out_features` ({fusion_out_features}) must be divisible by `fusion_num_heads` "
                             f"({fusion_num_heads}) for the 'mha' fusion")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}")

        if isinstance(text_config, dict):
            text_config = GPT2Config(**{k: v for k, v in text_config.items() if k != "model_type"})
        elif text_config is None:
            text_config = GPT2Config()
        elif not isinstance(text_config, GPT2Config):
            raise ValueError(f"`text_config` must be a dict or a GPT2Config, got {type(text_config).__name__}")
        if isinstance(audio_config, dict):
            audio_config = Wav2Vec2Config(**{k: v for k, v in audio_config.items() if k != "model_type"})
        elif audio_config is None:
            audio_config = Wav2Vec2Config()
        elif not isinstance(audio_config, Wav2Vec2Config):
            raise ValueError(f"`audio_config` must be a dict or a Wav2Vec2Config, got {type(audio_config).__name__}")
        vision_config = copy.deepcopy(vision_config if vision_config is not None else DEFAULT_VISION_CONFIG)
        if not isinstance(vision_config, dict) or not isinstance(vision_config.get("model_name"), str):
            raise ValueError(f"`vision_config` must be a dict with a timm `model_name`, got {vision_config!r}")
        unknown = set(vision_config) - {"model_name", "model_kwargs"}
        if unknown:
            raise ValueError(f"`vision_config` accepts the keys 'model_name' and 'model_kwargs', got {sorted(unknown)}")
        vision_config.setdefault("model_kwargs", {})

        kwargs.setdefault("custom_pipelines", copy.deepcopy(CUSTOM_PIPELINES))
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        validate_triplet_arguments(triplet_weight, triplet_margin, triplet_mining)
        self.text_encoder = text_encoder
        self.audio_encoder = audio_encoder
        self.vision_encoder = vision_encoder
        self.text_config = text_config
        self.audio_config = audio_config
        self.vision_config = vision_config
        self.mean_embedding_dim = mean_embedding_dim
        self.mean_embedding_context = mean_embedding_context
        self.freeze_text_encoder = freeze_text_encoder
        self.freeze_audio_encoder = freeze_audio_encoder
        self.freeze_audio_feature_encoder = freeze_audio_feature_encoder
        self.freeze_vision_encoder = freeze_vision_encoder
        self.audio_pooling = audio_pooling
        self.waveform_frame_length = waveform_frame_length
        self.waveform_hidden_sizes = waveform_hidden_sizes
        self.frame_pooling = frame_pooling
        self.fusion = fusion
        self.fusion_out_features = fusion_out_features
        self.fusion_num_heads = fusion_num_heads
        self.feed_forward_sizes = feed_forward_sizes
        self.l2_normalize = l2_normalize
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth
        self.triplet_weight = triplet_weight
        self.triplet_margin = triplet_margin
        self.triplet_mining = triplet_mining
        self.word_vectors = word_vectors

    @property
    def modalities(self) -> list[str]:
        """The modalities the model reads, in fusion order: a subset of `["text", "audio", "vision"]`."""
        encoders = {"text": self.text_encoder, "audio": self.audio_encoder, "vision": self.vision_encoder}
        return [name for name, encoder in encoders.items() if encoder != "none"]

    @property
    def audio_receptive_field(self) -> int:
        """Samples the audio encoder needs for one output frame (shorter audio is zero-padded to this length)."""
        if self.audio_encoder == "waveform_mlp":
            return self.waveform_frame_length
        field = 1
        for kernel, stride in reversed(list(zip(self.audio_config.conv_kernel, self.audio_config.conv_stride))):
            field = (field - 1) * stride + kernel
        return field


__all__ = ["AUDIO_ENCODERS", "ERC_TASK", "ERCFusionConfig", "FUSIONS", "TEXT_ENCODERS", "VISION_ENCODERS"]
