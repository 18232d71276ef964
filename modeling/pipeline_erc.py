"""The "emotion-recognition-in-conversation" pipeline: a dialogue (and the last turn's audio/frames) -> emotions."""

from typing import Any

import numpy as np
from transformers import Pipeline


def _is_turn(value) -> bool:
    # Any dict but an example (`{"dialogue": ...}`): the processor names what a malformed turn lacks.
    return isinstance(value, dict) and "dialogue" not in value


def _is_dialogue(value) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_turn(t) for t in value)


class EmotionRecognitionInConversationPipeline(Pipeline):
    """Emotion of the last turn of a dialogue, from its text in context and, when the model reads them, the turn's
    audio and video frames.

    Inputs, one example or a list of them:
        - a dialogue: a list of turns `{"speaker": str, "utterance": str}`, the last being the one to classify;
        - or a dict `{"dialogue": [...], "audio": ..., "frames": [...]}`, where `audio` is a mono waveform (1-D
          array at the processor's sampling rate, or `{"array": ..., "sampling_rate": ...}`) and `frames` a list of
          images (PIL images or `(height, width, 3)` uint8 arrays) of the last turn's video.

    With `every_turn=True` (text-only models), every turn of a dialogue is classified, each with the turns before it
    as context: one `{"speaker", "utterance", "label", "score", "scores"}` per turn.

    Returns, per example, `[{"label": str, "score": float}, ...]` sorted by decreasing score (all labels, or the
    `top_k` best): softmax probabilities, independent sigmoid scores for a multi-label model
    (`config.problem_type="multi_label_classification"`), the predicted values for regression.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> erc = pipeline("emotion-recognition-in-conversation", model="path/to/erc-model", trust_remote_code=True)
    >>> erc([{"speaker": "Monica", "utterance": "You're getting married?!"},
    ...      {"speaker": "Rachel", "utterance": "Oh my God, yes!"}], top_k=2)
    ```
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def __call__(self, inputs, every_turn: bool = False, **kwargs):
        if every_turn:
            return self._every_turn(inputs, **kwargs)
        # Pipeline.__call__ takes a list for a batch of inputs: a single dialogue (a list of turns) is one input.
        if _is_dialogue(inputs):  # an empty list too: the processor says the dialogue is empty
            inputs = {"dialogue": list(inputs)}
        elif isinstance(inputs, list) and all(isinstance(d, (list, tuple)) and _is_dialogue(d) for d in inputs):
            inputs = [{"dialogue": list(d)} for d in inputs]
        return super().__call__(inputs, **kwargs)

    def _every_turn(self, inputs, **kwargs):
        """The emotion of every turn of a dialogue, each read with the turns before it (text-only models)."""
        if self.model.config.modalities != ["text"]:
            raise ValueError(f"`every_turn=True` classifies each turn from its text in context; this model also reads "
                             f"{[m for m in self.model.config.modalities if m != 'text']}: call it once per turn with "
                             f"that turn's audio/frames")
        single = _is_dialogue(inputs)
        results = []
        for dialogue in [inputs] if single else inputs:
            if isinstance(dialogue, dict) and "dialogue" in dialogue:
                dialogue = dialogue["dialogue"]
            if not isinstance(dialogue, (list, tuple)) or not _is_dialogue(dialogue):
                raise ValueError(f"`every_turn=True` takes a dialogue (a list of turns) or a list of them, got "
                                 f"{type(dialogue).__name__}")
            self.processor.check_dialogue(dialogue)  # one clear error for a bad turn, before any forward
            scores = super().__call__([{"dialogue": list(dialogue[: i + 1])} for i in range(len(dialogue))], **kwargs)
            results.append([{"speaker": turn.get("speaker"), "utterance": turn["utterance"],
                             "label": best[0]["label"], "score": best[0]["score"], "scores": best}
                            for turn, best in zip(dialogue, scores)])
        return results[0] if single else results

    def _sanitize_parameters(self, top_k=None, sampling_rate=None, **kwargs):
        preprocess = {"sampling_rate": sampling_rate} if sampling_rate is not None else {}
        postprocess = {"top_k": top_k} if top_k is not None else {}
        return preprocess, {}, postprocess

    def preprocess(self, inputs: Any, sampling_rate=None):
        if not isinstance(inputs, dict) or not isinstance(inputs.get("dialogue"), (list, tuple)):
            raise ValueError(
                "expected a dialogue: a non-empty list of {'speaker': str, 'utterance': str} turns (the last is "
                "classified), or a dict {'dialogue': [...], 'audio': waveform, 'frames': [images]}; got "
                f"{type(inputs).__name__}"
            )
        audio, frames = inputs.get("audio"), inputs.get("frames")
        if isinstance(audio, dict):
            sampling_rate = audio.get("sampling_rate", sampling_rate)
            audio = audio.get("array")
        kwargs = {"return_tensors": "pt"}
        if audio is not None:
            kwargs.update(audio=[np.asarray(audio, dtype=np.float32)], sampling_rate=sampling_rate)
        if frames is not None:
            kwargs["frames"] = [list(frames)]
        return self.processor(dialogues=[inputs["dialogue"]], **kwargs)

    def _forward(self, model_inputs):
        return self.model(**model_inputs)

    def postprocess(self, model_outputs, top_k=None):
        # As the stock text-classification pipeline: independent sigmoid scores for a multi-label model, the predicted
        # values for regression, softmax probabilities otherwise.
        logits = model_outputs.logits[0].float()
        problem_type = self.model.config.problem_type
        if problem_type == "multi_label_classification":
            probabilities = logits.sigmoid()
        elif problem_type == "regression":
            probabilities = logits
        else:
            probabilities = logits.softmax(-1)
        order = probabilities.argsort(descending=True)
        if top_k is not None:
            order = order[:top_k]
        id2label = self.model.config.id2label
        return [{"label": id2label[int(i)], "score": float(probabilities[i])} for i in order]


__all__ = ["EmotionRecognitionInConversationPipeline"]
