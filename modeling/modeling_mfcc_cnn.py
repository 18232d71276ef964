"""CNN over MFCC + delta + delta-delta images (the source report's speech-emotion network)."""

from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.utils import add_start_docstrings, can_return_tuple

from .configuration_mfcc_cnn import MFCCCNNConfig
from .initialization_utils import pytorch_default_init_
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_audio_classification import EmotionAudioClassificationPipeline  # noqa: F401  (copied with the code)
from .pooling_utils import weighted_statistics_pooling
from .tracing_utils import check_finite


class MFCCCNNPreTrainedModel(PreTrainedModel):
    config_class = MFCCCNNConfig
    config: MFCCCNNConfig
    base_model_prefix = "mfcc_cnn"
    main_input_name = "input_features"
    input_modalities = "audio"

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            pytorch_default_init_(module)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class MFCCCNNModel(MFCCCNNPreTrainedModel):
    """Convolutional blocks, global pooling and fully connected layers; `pooler_output` is the clip representation."""

    def __init__(self, config: MFCCCNNConfig):
        super().__init__(config)
        blocks, channels = [], [config.num_channels, *config.conv_channels]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers = [nn.Conv2d(c_in, c_out, config.kernel_size, padding=config.kernel_size // 2)]
            layers += [nn.BatchNorm2d(c_out)] if config.batch_norm else []
            layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(config.conv_dropout)]
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        sizes = [config.flat_size, *config.fc_sizes]
        self.pooled_dropout = nn.Dropout(config.classifier_dropout)
        self.fc_layers = nn.Sequential(*(nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Dropout(config.fc_dropout))
                                         for i, o in zip(sizes[:-1], sizes[1:])))
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> BaseModelOutputWithPooling:
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        hidden = input_features[:, None] if input_features.dim() == 3 else input_features
        if hidden.dim() != 4 or hidden.shape[1] != config.num_channels or hidden.shape[2] != config.input_height:
            raise ValueError(f"`input_features` must have shape (batch, {config.input_height}, frames) or (batch, "
                             f"{config.num_channels}, {config.input_height}, frames), got {tuple(input_features.shape)}")
        if config.global_pool == "flatten" and hidden.shape[3] != config.input_width:
            raise ValueError(f"the model reads {config.input_width} frames (`input_width`, flattened feature map), got "
                             f"{hidden.shape[3]}: pad or crop the audio to the feature extractor's `max_length_seconds`")
        check_finite(hidden, "input_features")  # eager only: the feature extractor refuses such audio before tracing
        shortfall = 2 ** len(self.blocks) - hidden.shape[-1]
        if shortfall > 0:  # "mean" pooling of a clip shorter than the pooling: pad it with masked frames
            if attention_mask is None:
                attention_mask = hidden.new_ones(hidden.shape[0], hidden.shape[-1], dtype=torch.long)
            hidden = nn.functional.pad(hidden, (0, shortfall))
            attention_mask = nn.functional.pad(attention_mask, (0, shortfall))
        # Frame mask at each block's resolution: a pooled column holds audio when both columns it covers do (the
        # first always counts). Zeroing the padding before every convolution makes it read exactly what the
        # convolution's own zero padding would give at the end of a shorter clip, so padding never changes a clip.
        valid = None
        if attention_mask is not None:
            valid = attention_mask[:, : hidden.shape[-1]].bool().clone()
            valid[:, 0] = True
        block_outputs = []
        for block in self.blocks:
            if valid is not None:
                hidden = hidden * valid[:, None, None, : hidden.shape[-1]].to(hidden.dtype)
            hidden = block(hidden)
            if valid is not None:
                columns = hidden.shape[-1]
                # padding in either column of a pooled pair (the pooling drops an odd last column, as MaxPool2d does)
                valid = nn.functional.max_pool2d((~valid).to(hidden.dtype)[:, None, None], (1, 2))[:, 0, 0] == 0
                valid[:, 0] = True
            block_outputs.append(hidden)
        if config.global_pool == "flatten":
            if valid is not None:
                hidden = hidden * valid[:, None, None, :].to(hidden.dtype)
            pooled = hidden.flatten(1)  # (batch, channels * rows * columns)
        else:
            weights = (valid if valid is not None else hidden.new_ones(hidden.shape[0], hidden.shape[-1], dtype=torch.bool))
            weights = weights[:, None, None, :].to(hidden.dtype)
            # (batch, channels, rows), or (batch, channels, 2 * rows) with the standard deviations
            pooled = weighted_statistics_pooling(hidden, weights, dim=-1, std=config.global_pool == "mean_std")
            pooled = pooled.flatten(1)
        pooled = self.fc_layers(self.pooled_dropout(pooled))
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled,
                                          hidden_states=tuple(block_outputs) if output_hidden_states else None)


class MFCCCNNForAudioClassification(MFCCCNNPreTrainedModel):
    def __init__(self, config: MFCCCNNConfig):
        super().__init__(config)
        self.mfcc_cnn = MFCCCNNModel(config)
        self.classifier = nn.Linear(config.fc_sizes[-1] if config.fc_sizes else config.flat_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> SequenceClassifierOutput:
        outputs = self.mfcc_cnn(input_features, attention_mask=attention_mask,
                                output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


__all__ = ["MFCCCNNForAudioClassification", "MFCCCNNModel", "MFCCCNNPreTrainedModel"]
