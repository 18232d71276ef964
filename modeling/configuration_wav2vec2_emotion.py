"""Wav2Vec2Emotion configuration: the speech-emotion classifier under its first name (`model_type: "wav2vec2_emotion"`),
kept so that saved folders and the wav2vec2 recipes load unchanged."""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .configuration_speech_emotion import POOLINGS, SAMPLING_RATE, SpeechEmotionConfig
from .speech_encoders import speech_encoder_config_from_dict


@strict
class Wav2Vec2EmotionConfig(SpeechEmotionConfig):
    r"""
    [`SpeechEmotionConfig`] under its first name, `model_type: "wav2vec2_emotion"`, which saved folders and the
    wav2vec2 recipes use; the encoder may be any supported one, wav2vec2 by default.

    Args:
        wav2vec2_config (`dict` or [`PretrainedConfig`], *optional*): the former name of `audio_config`, the key of
            folders saved before other encoders were supported. Read, not saved (`audio_config` is).
    """

    model_type = "wav2vec2_emotion"
    sub_configs_defaults = {"audio_config": SubConfigSpec(AutoConfig, model_type="wav2vec2")}

    def __post_init__(self, wav2vec2_config: dict | PretrainedConfig | None = None, **kwargs):
        if wav2vec2_config is not None:
            if self.audio_config is not None:
                raise ValueError("give the encoder once: `audio_config` (or its former name `wav2vec2_config`)")
            self.audio_config = speech_encoder_config_from_dict(wav2vec2_config, "wav2vec2_config")
        super().__post_init__(**kwargs)

    @property
    def wav2vec2_config(self):
        """The encoder config under its former name."""
        return self.audio_config


__all__ = ["POOLINGS", "SAMPLING_RATE", "Wav2Vec2EmotionConfig"]
