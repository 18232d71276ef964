"""Processors of the package. Importing this registers every custom processor with the transformers Auto classes.

`AutoImageProcessor.from_pretrained(dir)` then finds our classes locally, and `register_for_auto_class` makes
`save_pretrained` write `auto_map` and copy the processor's code, so a saved folder loads with
`trust_remote_code=True` in a Python that has only transformers installed.
"""

from transformers import AutoImageProcessor

from modeling.configuration_fer_cnn import FERCNNConfig

from .image_processing_fer import FERImageProcessor


AutoImageProcessor.register(FERCNNConfig, image_processor_classes={"torchvision": FERImageProcessor}, exist_ok=True)
FERImageProcessor.register_for_auto_class("AutoImageProcessor")


__all__ = ["FERImageProcessor"]
