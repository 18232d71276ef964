"""Processors of the package: feature extractors, image processors and processors, registered with the transformers
Auto classes on import. `register_for_auto_class` makes `save_pretrained` write `auto_map` and copy their code, so a
saved folder loads with `Auto*.from_pretrained(folder, trust_remote_code=True)` in a Python that has only
transformers installed. The text CNN needs none of its own: its tokenizer is a stock `PreTrainedTokenizerFast` built
by `tokenization_word_level.build_word_level_tokenizer`.
"""

from transformers import AutoImageProcessor, AutoProcessor

from emotion_hub.modeling.configuration_erc_fusion import ERCFusionConfig
from emotion_hub.modeling.configuration_fer_cnn import FERCNNConfig
from emotion_hub.modeling.configuration_fer_timm import FERTimmConfig

from .face_detection import crop_faces, detect_faces
from .feature_extraction_emotion_audio import EmotionAudioFeatureExtractor
from .image_processing_fer import FERImageProcessor
from .processing_erc import ERCProcessor, default_feature_extractor, frame_image_processor
from .tokenization_byte_level_bpe import build_byte_level_bpe_tokenizer
from .tokenization_word_level import build_word_level_tokenizer


AutoProcessor.register(ERCFusionConfig, ERCProcessor, exist_ok=True)
ERCProcessor.register_for_auto_class("AutoProcessor")
AutoImageProcessor.register(FERCNNConfig, image_processor_classes={"torchvision": FERImageProcessor}, exist_ok=True)
AutoImageProcessor.register(FERTimmConfig, image_processor_classes={"torchvision": FERImageProcessor}, exist_ok=True)
FERImageProcessor.register_for_auto_class("AutoImageProcessor")
# The voice models register it against their configs (AutoFeatureExtractor.register); this writes `auto_map`.
EmotionAudioFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")


__all__ = [
    "ERCProcessor",
    "EmotionAudioFeatureExtractor",
    "FERImageProcessor",
    "build_byte_level_bpe_tokenizer",
    "build_word_level_tokenizer",
    "crop_faces",
    "detect_faces",
    "default_feature_extractor",
    "frame_image_processor",
]
