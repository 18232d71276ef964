"""Processors of the package: feature extractors, image processors and processors, registered with the transformers
Auto classes on import, for the families that declare them (`modeling/families.py`). `register_for_auto_class` makes
`save_pretrained` write `auto_map` and copy their code, so a saved folder loads with
`Auto*.from_pretrained(folder, trust_remote_code=True)` in a Python that has only transformers installed. The text CNN
needs none of its own: its tokenizer is a stock `PreTrainedTokenizerFast` built by
`tokenization_word_level.build_word_level_tokenizer`.
"""

from transformers import AutoImageProcessor, AutoProcessor, BaseImageProcessor, ProcessorMixin

from emotion_hub.modeling.families import FAMILIES

from .face_detection import crop_faces, detect_faces
from .feature_extraction_emotion_audio import EmotionAudioFeatureExtractor
from .image_processing_fer import FERImageProcessor
from .processing_erc import ERCProcessor, default_feature_extractor, frame_image_processor
from .tokenization_byte_level_bpe import build_byte_level_bpe_tokenizer
from .tokenization_word_level import build_word_level_tokenizer




def _register(family):
    """A family's own processor (`ERCProcessor`, `FERImageProcessor`) registered for its config, so that
    `AutoProcessor` / `AutoImageProcessor.from_pretrained(folder)` find it locally. A feature extractor only writes
    `auto_map`: a voice recipe chooses its feature extractor (ours or a stock one), so the folder says which."""
    processor = family.processor_class
    if family.auto_class is None or processor is None or not processor.__module__.startswith(__name__):
        return  # a stock processor: transformers' own Auto classes load it
    if issubclass(processor, ProcessorMixin):
        AutoProcessor.register(family.config_class, processor, exist_ok=True)
        processor.register_for_auto_class("AutoProcessor")
    elif issubclass(processor, BaseImageProcessor):
        AutoImageProcessor.register(family.config_class, image_processor_classes={"torchvision": processor},
                                    exist_ok=True)
        processor.register_for_auto_class("AutoImageProcessor")
    else:
        processor.register_for_auto_class("AutoFeatureExtractor")


for _family in list(FAMILIES.values()):
    _register(_family)


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
