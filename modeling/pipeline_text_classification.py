"""The package's "text-classification" pipeline: the stock one, plus multi-label models read as such.

The text CNN saves `custom_pipelines = TEXT_CUSTOM_PIPELINES` in its config and this file next to its code, so
`pipeline("text-classification", model=folder, trust_remote_code=True)` builds `EmotionTextClassificationPipeline`.
On top of the stock `TextClassificationPipeline` (softmax for single-label models, the values for regression):

- a multi-label model (`problem_type="multi_label_classification"`) returns every label with its independent sigmoid
  score, highest first, instead of the stock default's single top label;
- `threshold`: keep the labels scoring at least this much (`threshold=0.5` gives a multi-label model's predicted
  labels, possibly none).
"""

from transformers import TextClassificationPipeline


TEXT_TASK = "text-classification"
TEXT_CUSTOM_PIPELINES = {
    TEXT_TASK: {"impl": "pipeline_text_classification.EmotionTextClassificationPipeline",
                "pt": ["AutoModelForSequenceClassification"], "tf": [], "type": "text"}
}


class EmotionTextClassificationPipeline(TextClassificationPipeline):
    """`TextClassificationPipeline` with per-label scores for multi-label models and a `threshold`.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("text-classification", model="path/to/model", trust_remote_code=True)
    >>> classifier("so happy and a bit scared")                  # multi-label: every label, sigmoid scores
    >>> classifier("so happy and a bit scared", threshold=0.5)   # the labels the model predicts
    ```
    """

    def check_model_type(self, supported_models):
        # Our models register with the Auto classes only where the package is imported; the stock check would log an
        # error for them in a Python that loads them through `trust_remote_code`.
        if getattr(self.model.config, "custom_pipelines", {}).get(TEXT_TASK) is None:
            super().check_model_type(supported_models)

    def __call__(self, inputs, **kwargs):
        if self.model.config.problem_type == "multi_label_classification" or kwargs.get("threshold") is not None:
            kwargs.setdefault("top_k", None)  # independent labels (or those passing a threshold): all, not the top one
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, threshold=None, **kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(**kwargs)
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise ValueError(f"`threshold` must be a number (a score), got {threshold!r}")
            postprocess["threshold"] = float(threshold)
        return preprocess, forward, postprocess

    def postprocess(self, model_outputs, function_to_apply=None, top_k=1, _legacy=True, threshold=None):
        result = super().postprocess(model_outputs, function_to_apply=function_to_apply, top_k=top_k, _legacy=_legacy)
        if threshold is not None and isinstance(result, list):
            result = [label for label in result if label["score"] >= threshold]
        return result


__all__ = ["TEXT_CUSTOM_PIPELINES", "TEXT_TASK", "EmotionTextClassificationPipeline"]
