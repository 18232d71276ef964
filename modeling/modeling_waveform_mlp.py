"""Raw-waveform baselines: multinomial logistic regression (`hidden_sizes=[]`) or an MLP over the samples."""

from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import add_start_docstrings, can_return_tuple

from .configuration_waveform_mlp import WaveformMLPConfig
from .initialization_utils import pytorch_default_init_
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_audio_classification import EmotionAudioClassificationPipeline  # noqa: F401  (copied with the code)
from .tracing_utils import check_finite


ACTIVATION_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class WaveformMLPPreTrainedModel(PreTrainedModel):
    config_class = WaveformMLPConfig
    config: WaveformMLPConfig
    base_model_prefix = "waveform_mlp"
    main_input_name = "input_values"
    input_modalities = "audio"

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            pytorch_default_init_(module)


class WaveformMLPForAudioClassification(WaveformMLPPreTrainedModel):
    def __init__(self, config: WaveformMLPConfig):
        super().__init__(config)
        sizes = [config.input_length, *config.hidden_sizes]
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.hidden_layers = nn.Sequential(*(
            nn.Sequential(nn.Linear(i, o), ACTIVATION_MODULES[config.hidden_act](), nn.Dropout(config.dropout))
            for i, o in zip(sizes[:-1], sizes[1:])
        ))
        self.classifier = nn.Linear(sizes[-1], config.num_labels)
        self.post_init()

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> SequenceClassifierOutput:
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        if input_values.dim() != 2 or input_values.shape[1] != config.input_length:
            raise ValueError(f"`input_values` must have shape (batch, {config.input_length}) (the model's "
                             f"`input_length` in samples), got {tuple(input_values.shape)}: pad or crop the audio to "
                             f"the feature extractor's `max_length_seconds`")
        check_finite(input_values, "input_values")  # eager only: the feature extractor refuses such audio before tracing
        hidden = input_values.to(self.classifier.weight.dtype)
        if attention_mask is not None:
            hidden = hidden * attention_mask.to(hidden.dtype)  # padding contributes exactly nothing
        hidden_states = [hidden] if output_hidden_states else None
        hidden = self.input_dropout(hidden)
        for layer in self.hidden_layers:
            hidden = layer(hidden)
            if output_hidden_states:
                hidden_states.append(hidden)
        logits = self.classifier(hidden)
        loss = classification_loss(config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits,
                                        hidden_states=tuple(hidden_states) if output_hidden_states else None)


__all__ = ["WaveformMLPForAudioClassification", "WaveformMLPPreTrainedModel"]
