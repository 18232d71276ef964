"""VGG-style CNN for facial-expression recognition on small grayscale faces (FER2013, 48x48)."""

from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.utils import add_start_docstrings, can_return_tuple

from .configuration_fer_cnn import FERCNNConfig
from .image_utils import BT601_LUMA, check_pixel_values
from .initialization_utils import pytorch_default_init_
from .losses import LABELS_DOCSTRING, classification_loss


class FERCNNConvBlock(nn.Module):
    """`convs_per_block` x (3x3 conv with zero padding, batch norm, ReLU), then 2x2 max pooling and dropout."""

    def __init__(self, config: FERCNNConfig, in_channels: int, out_channels: int):
        super().__init__()
        layers = []
        for i in range(config.convs_per_block):
            layers += [
                # No conv bias: the batch norm that follows has its own.
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, config.kernel_size,
                          padding=config.kernel_size // 2, bias=False),
                nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps),
                nn.ReLU(inplace=True),
            ]
        self.layers = nn.Sequential(*layers, nn.MaxPool2d(2), nn.Dropout(config.conv_dropout))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.layers(hidden_states)


class FERCNNPreTrainedModel(PreTrainedModel):
    config_class = FERCNNConfig
    config: FERCNNConfig
    base_model_prefix = "fer_cnn"
    main_input_name = "pixel_values"
    input_modalities = "image"

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            pytorch_default_init_(module)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if getattr(module, "running_mean", None) is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        if isinstance(module, FERCNNModel):
            init.copy_(module.luma_weights, torch.tensor(BT601_LUMA).view(1, 3, 1, 1))


class FERCNNModel(FERCNNPreTrainedModel):
    """Convolutional blocks and fully connected blocks; `pooler_output` is the face representation."""

    def __init__(self, config: FERCNNConfig):
        super().__init__(config)
        channels = [config.num_channels, *config.block_channels]
        self.blocks = nn.ModuleList(FERCNNConvBlock(config, i, o) for i, o in zip(channels[:-1], channels[1:]))
        sizes = [config.block_channels[-1] * config.feature_map_size**2, *config.fc_sizes]
        self.fc_blocks = nn.Sequential(*(
            nn.Sequential(nn.Linear(i, o, bias=False), nn.BatchNorm1d(o, eps=config.batch_norm_eps),
                          nn.ReLU(inplace=True), nn.Dropout(config.fc_dropout))
            for i, o in zip(sizes[:-1], sizes[1:])
        ))
        # A constant, not a parameter: RGB -> luminance for a grayscale model given RGB input.
        self.register_buffer("luma_weights", torch.tensor(BT601_LUMA).view(1, 3, 1, 1), persistent=False)
        self.post_init()

    def to_model_channels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Check `(batch, channels, size, size)` and map 3 channels to luminance when the model reads 1."""
        config = self.config
        channels = check_pixel_values(pixel_values, config.image_size)
        if channels == config.num_channels:
            return pixel_values
        if config.num_channels == 1 and channels == 3:
            # Same mean/std on every channel and weights summing to 1: luminance of the normalised channels is the
            # normalised luminance.
            return (pixel_values * self.luma_weights.to(pixel_values.dtype)).sum(dim=1, keepdim=True)
        accepted = "1 (grayscale) or 3 (RGB)" if config.num_channels == 1 else "3 (RGB)"
        raise ValueError(f"`pixel_values` must have {accepted} channels, got {channels}")

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        hidden = self.to_model_channels(pixel_values)
        block_outputs = []
        for block in self.blocks:
            hidden = block(hidden)
            block_outputs.append(hidden)
        pooled = self.fc_blocks(hidden.flatten(1))  # (batch, channels * s * s) -> (batch, hidden_size)
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=tuple(block_outputs) if output_hidden_states else None,
        )


class FERCNNForImageClassification(FERCNNPreTrainedModel):
    def __init__(self, config: FERCNNConfig):
        super().__init__(config)
        self.fer_cnn = FERCNNModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        outputs = self.fer_cnn(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


__all__ = ["FERCNNConvBlock", "FERCNNForImageClassification", "FERCNNModel", "FERCNNPreTrainedModel"]
