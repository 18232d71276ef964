"""Models of the package. Importing this registers every class with the transformers Auto classes.

`AutoConfig` / `AutoModel*` then load our checkpoints locally, and `register_for_auto_class` makes
`save_pretrained` write `auto_map` and copy the model's code, so a saved folder loads with
`trust_remote_code=True` in a Python that has only transformers installed.
"""

from transformers import (AutoConfig, AutoModel, AutoModelForAudioClassification, AutoModelForImageClassification,
                          AutoModelForSequenceClassification)
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_erc_fusion import ERC_TASK, ERCFusionConfig
from .configuration_fer_cnn import FERCNNConfig
from .configuration_fer_timm import FERTimmConfig
from .configuration_mfcc_cnn import MFCCCNNConfig
from .configuration_spectrogram_vit import SpectrogramViTConfig
from .configuration_text_cnn import TextCNNConfig
from .configuration_speech_emotion import SpeechEmotionConfig
from .configuration_wav2vec2_emotion import Wav2Vec2EmotionConfig
from .configuration_waveform_mlp import WaveformMLPConfig
from .losses import DiceLoss, FocalLoss, TripletLoss, build_loss, class_weights_from_counts
from .modeling_erc_fusion import ERCFusionForEmotionRecognition, ERCFusionModel
from .modeling_fer_cnn import FERCNNForImageClassification, FERCNNModel
from .modeling_fer_timm import FERTimmForImageClassification
from .modeling_mfcc_cnn import MFCCCNNForAudioClassification, MFCCCNNModel
from .modeling_spectrogram_vit import SpectrogramViTForAudioClassification, SpectrogramViTModel
from .modeling_text_cnn import TextCNNForSequenceClassification, TextCNNModel, read_word_vectors
from .modeling_speech_emotion import SpeechEmotionForAudioClassification, SpeechEmotionPreTrainedModel
from .modeling_wav2vec2_emotion import Wav2Vec2EmotionForAudioClassification, Wav2Vec2EmotionPreTrainedModel
from .modeling_waveform_mlp import WaveformMLPForAudioClassification
from .pipeline_audio_classification import AUDIO_TASK, EmotionAudioClassificationPipeline
from .pipeline_erc import EmotionRecognitionInConversationPipeline
from .pipeline_image_classification import IMAGE_TASK, EmotionImageClassificationPipeline
from .windowed_audio import classify_windows


def _register(config_class, auto_models: dict):
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    config_class.register_for_auto_class()
    for auto_class, model_class in auto_models.items():
        auto_class.register(config_class, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_class.__name__)


_register(TextCNNConfig, {AutoModel: TextCNNModel, AutoModelForSequenceClassification: TextCNNForSequenceClassification})
# Conversations: no Auto class fits a dialogue + audio + frames classifier better than sequence classification.
_register(ERCFusionConfig, {AutoModel: ERCFusionModel, AutoModelForSequenceClassification: ERCFusionForEmotionRecognition})
PIPELINE_REGISTRY.register_pipeline(ERC_TASK, pipeline_class=EmotionRecognitionInConversationPipeline,
                                    pt_model=AutoModelForSequenceClassification, type="multimodal")
_register(FERCNNConfig, {AutoModel: FERCNNModel, AutoModelForImageClassification: FERCNNForImageClassification})
# Faces on any timm backbone: the config saves `custom_pipelines` for "image-classification"
# (EmotionImageClassificationPipeline: photos, `detect_faces`); `save_stock_pretrained` writes a stock timm folder.
_register(FERTimmConfig, {AutoModelForImageClassification: FERTimmForImageClassification})
# Voice: each config saves `custom_pipelines` for "audio-classification" (EmotionAudioClassificationPipeline), so
# `pipeline("audio-classification", model=folder, trust_remote_code=True)` takes datasets rows and stereo audio.
_register(SpectrogramViTConfig, {AutoModel: SpectrogramViTModel,
                                 AutoModelForAudioClassification: SpectrogramViTForAudioClassification})
_register(MFCCCNNConfig, {AutoModel: MFCCCNNModel, AutoModelForAudioClassification: MFCCCNNForAudioClassification})
_register(WaveformMLPConfig, {AutoModelForAudioClassification: WaveformMLPForAudioClassification})
# No separate base model (the stock Wav2Vec2ForSequenceClassification has none either): AutoModel gives the classifier
# locally; the saved auto_map names AutoModelForAudioClassification, registered last.
_register(Wav2Vec2EmotionConfig, {AutoModel: Wav2Vec2EmotionForAudioClassification,
                                  AutoModelForAudioClassification: Wav2Vec2EmotionForAudioClassification})
_register(SpeechEmotionConfig, {AutoModel: SpeechEmotionForAudioClassification,
                                AutoModelForAudioClassification: SpeechEmotionForAudioClassification})


__all__ = [
    "AUDIO_TASK",
    "ERC_TASK",
    "DiceLoss",
    "EmotionAudioClassificationPipeline",
    "ERCFusionConfig",
    "ERCFusionForEmotionRecognition",
    "ERCFusionModel",
    "EmotionRecognitionInConversationPipeline",
    "FERCNNConfig",
    "FERCNNForImageClassification",
    "FERCNNModel",
    "FERTimmConfig",
    "FERTimmForImageClassification",
    "EmotionImageClassificationPipeline",
    "IMAGE_TASK",
    "FocalLoss",
    "MFCCCNNConfig",
    "MFCCCNNForAudioClassification",
    "MFCCCNNModel",
    "SpectrogramViTConfig",
    "SpectrogramViTForAudioClassification",
    "SpectrogramViTModel",
    "TextCNNConfig",
    "TextCNNForSequenceClassification",
    "TextCNNModel",
    "SpeechEmotionConfig",
    "SpeechEmotionForAudioClassification",
    "SpeechEmotionPreTrainedModel",
    "TripletLoss",
    "Wav2Vec2EmotionConfig",
    "Wav2Vec2EmotionForAudioClassification",
    "Wav2Vec2EmotionPreTrainedModel",
    "WaveformMLPConfig",
    "WaveformMLPForAudioClassification",
    "build_loss",
    "class_weights_from_counts",
    "classify_windows",
    "read_word_vectors",
]
