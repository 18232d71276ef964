"""Models of the package. Importing this registers every family of `families.py` with the transformers Auto classes.

`AutoConfig` / `AutoModel*` then load our checkpoints locally, and `register_for_auto_class` makes
`save_pretrained` write `auto_map` and copy the model's code, so a saved folder loads with
`trust_remote_code=True` in a Python that has only transformers installed.
"""

from .configuration_erc_fusion import ERC_TASK, ERCFusionConfig
from .configuration_fer_cnn import FERCNNConfig
from .configuration_fer_timm import FERTimmConfig
from .configuration_mfcc_cnn import MFCCCNNConfig
from .configuration_spectrogram_vit import SpectrogramViTConfig
from .configuration_speech_emotion import SpeechEmotionConfig
from .configuration_text_cnn import TextCNNConfig
from .configuration_utils import EmotionClassifierConfig, EmotionConfig
from .configuration_wav2vec2_emotion import Wav2Vec2EmotionConfig
from .configuration_waveform_mlp import WaveformMLPConfig
from .families import FAMILIES, ModelCard, ModelFamily, family_of, register_family
from .losses import DiceLoss, FocalLoss, TripletLoss, build_loss, class_weights_from_counts
from .modeling_erc_fusion import ERCFusionForEmotionRecognition, ERCFusionModel
from .modeling_fer_cnn import FERCNNForImageClassification, FERCNNModel
from .modeling_fer_timm import FERTimmForImageClassification
from .modeling_mfcc_cnn import MFCCCNNForAudioClassification, MFCCCNNModel
from .modeling_spectrogram_vit import SpectrogramViTForAudioClassification, SpectrogramViTModel
from .modeling_speech_emotion import SpeechEmotionForAudioClassification, SpeechEmotionPreTrainedModel
from .modeling_text_cnn import TextCNNForSequenceClassification, TextCNNModel, read_word_vectors
from .modeling_wav2vec2_emotion import Wav2Vec2EmotionForAudioClassification, Wav2Vec2EmotionPreTrainedModel
from .modeling_waveform_mlp import WaveformMLPForAudioClassification
from .pipeline_audio_classification import AUDIO_TASK, EmotionAudioClassificationPipeline
from .pipeline_erc import EmotionRecognitionInConversationPipeline
from .pipeline_image_classification import IMAGE_TASK, EmotionImageClassificationPipeline
from .windowed_audio import classify_windows


for _family in list(FAMILIES.values()):
    _family.register_auto_classes()


__all__ = [
    "AUDIO_TASK",
    "ERC_TASK",
    "DiceLoss",
    "EmotionAudioClassificationPipeline",
    "EmotionClassifierConfig",
    "EmotionConfig",
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
    "FAMILIES",
    "IMAGE_TASK",
    "FocalLoss",
    "MFCCCNNConfig",
    "MFCCCNNForAudioClassification",
    "MFCCCNNModel",
    "ModelCard",
    "ModelFamily",
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
    "family_of",
    "read_word_vectors",
    "register_family",
]
