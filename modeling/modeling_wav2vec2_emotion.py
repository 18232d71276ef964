"""Wav2Vec2Emotion: [`SpeechEmotionForAudioClassification`] under its first name, with the encoder's weights under
`wav2vec2.*` as in `Wav2Vec2ForSequenceClassification` (and in folders saved before other encoders were supported).

It loads such folders, plain wav2vec2 checkpoints (`Wav2Vec2EmotionForAudioClassification.from_pretrained(
"facebook/wav2vec2-base", num_labels=8)`, as the stock class does) and, like its parent, any supported encoder.
"""

from .configuration_wav2vec2_emotion import Wav2Vec2EmotionConfig
from .modeling_speech_emotion import (SpeechEmotionForAudioClassification, SpeechEmotionPooling,
                                      SpeechEmotionPreTrainedModel, SpeechEmotionWeightedLayerSum)


# Former names of the shared building blocks.
Wav2Vec2EmotionPooling = SpeechEmotionPooling
Wav2Vec2EmotionWeightedLayerSum = SpeechEmotionWeightedLayerSum
Wav2Vec2EmotionPreTrainedModel = SpeechEmotionPreTrainedModel


class Wav2Vec2EmotionForAudioClassification(SpeechEmotionForAudioClassification):
    """[`SpeechEmotionForAudioClassification`] with `model_type: "wav2vec2_emotion"` and the encoder at `self.wav2vec2`."""

    config_class = Wav2Vec2EmotionConfig
    config: Wav2Vec2EmotionConfig
    base_model_prefix = "wav2vec2"


__all__ = [
    "Wav2Vec2EmotionForAudioClassification",
    "Wav2Vec2EmotionPooling",
    "Wav2Vec2EmotionPreTrainedModel",
    "Wav2Vec2EmotionWeightedLayerSum",
]
