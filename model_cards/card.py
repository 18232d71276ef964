"""Render a trained model's `README.md` (Hub model card) from its recipe and evaluation results."""

import dataclasses
import os
import platform
import re

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .info import dataset_card_info, model_card_info


TEMPLATE = os.path.join(os.path.dirname(__file__), "templates", "model_card.md")
PIPELINE_TO_TASK_NAME = {
    "text-classification": "Text Classification",
    "audio-classification": "Audio Classification",
    "image-classification": "Image Classification",
    "video-classification": "Video Classification",
}
HYPERPARAMETER_KEYS = (
    "optimizer", "learning_rate", "head_learning_rate", "weight_decay", "lr_scheduler", "warmup_ratio", "num_epochs",
    "per_device_train_batch_size", "gradient_accumulation_steps", "max_grad_norm", "metric_for_best_model",
    "early_stopping_patience", "mixed_precision", "seed", "word_vectors", "group_by_length",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def base_models(recipe) -> list:
    """The Hub checkpoints a run started from (`pretrained_backbone`, `erc_backbones` text/audio/vision), for the
    card's `base_model` (the Hub's model tree). Local folders and bare timm names are not Hub ids: left out."""
    names = [getattr(recipe, "pretrained_backbone", None)]
    names += [(getattr(recipe, "erc_backbones", None) or {}).get(k) for k in ("text", "audio", "vision")]
    found = []
    for name in names:
        if isinstance(name, str) and _HUB_ID.match(name) and not os.path.exists(name) and name not in found:
            found.append(name)
    return found


def _eval_results(results, dataset_id, dataset_name, dataset_config, pipeline_tag):
    out = []
    for split, prefix in (("validation", "eval"), ("test", "test")):
        for metric, config, name in (("accuracy", None, "Accuracy"), ("f1", "macro", "Macro F1"),
                                     ("f1", "weighted", "Weighted F1")):
            key = f"{prefix}_{metric}" if metric == "accuracy" else f"{prefix}_f1_{config}"
            out.append(EvalResult(
                task_type=pipeline_tag, task_name=PIPELINE_TO_TASK_NAME.get(pipeline_tag), dataset_type=dataset_id,
                dataset_name=dataset_name, dataset_config=dataset_config, dataset_split=split, metric_type=metric,
                metric_name=f"{name} ({split})", metric_config=config, metric_value=round(float(results[key]), 4),
            ))
    return out


def render_model_card(output_dir, *, recipe, results, report, pipeline_tag, split_sizes, train_label_counts,
                      model_name=None, stock_caveats=None):
    """Write `output_dir/README.md` and return the `ModelCard`.

    `recipe` is train.py's `Recipe`; `results` its `all_results.json` dict; `report` the test split's per-class
    report (`per_class`, `confusion_matrix`, `labels`); `stock_caveats` what the stock pipeline does with the inputs
    ours refuses, for a stock export (`Task.stock_pipeline_caveats`). What the card says about the data comes from
    the dataset's builder (`dataset_card_info`).
    """
    data = dataset_card_info(recipe.dataset)
    widget = data.get("widget")
    info = model_card_info(recipe.model_type)
    model_name = model_name or recipe.hub_model_id or os.path.basename(os.path.normpath(output_dir))
    recipe_dict = dataclasses.asdict(recipe)
    hyperparameters = {k: recipe_dict[k] for k in HYPERPARAMETER_KEYS if recipe_dict.get(k) is not None}
    hyperparameters["word_vectors"] = os.path.basename(recipe.word_vectors) if recipe.word_vectors else None
    hyperparameters.update({f"model.{k}": v for k, v in recipe.model.items()})
    hyperparameters.update({f"tokenizer.{k}": v for k, v in recipe.tokenizer.items()})
    hyperparameters.update({f"augmentation.{k}": v for k, v in getattr(recipe, "augmentation", {}).items()})
    hyperparameters = {k: v for k, v in hyperparameters.items() if v is not None}

    dataset_id = data["hub_id"] or recipe.dataset
    # A model family that can read several modalities is tagged multimodal only when this model does (ERC fusion with
    # text alone is a text classifier).
    single = pipeline_tag in ("text-classification", "audio-classification", "image-classification")
    tags = [t for t in info.get("tags", []) if not (t == "multimodal" and single)]
    card_data = ModelCardData(
        model_name=model_name,
        language=data.get("language"),
        license=data["license_id"],
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=["emotion-recognition", "emotion-hub", recipe.model_type, *tags],
        datasets=[dataset_id],
        metrics=["accuracy", "f1"],
        eval_results=_eval_results(results, dataset_id, data["pretty_name"], recipe.dataset_config, pipeline_tag),
        widget=widget,
    )
    bases = base_models(recipe)
    if bases:
        card_data.base_model = bases[0] if len(bases) == 1 else bases
    repo = recipe.hub_model_id or "path/to/" + os.path.basename(os.path.normpath(output_dir))
    usage = info["usage"].format(repo=repo, example=_example_repr(widget))
    stock_class = stock_class_of(output_dir) if getattr(recipe, "export_stock", False) else None
    if stock_class:  # stock classes (and the stock pipeline) need no remote code
        usage = usage.replace(", trust_remote_code=True", "")
    card = ModelCard.from_template(
        card_data,
        template_path=TEMPLATE,
        model_name=model_name,
        model_description=info["description"],
        dataset_pretty_name=data["pretty_name"],
        dataset_config=recipe.dataset_config,
        label_names=report["labels"],
        results=results,
        usage_snippet=usage.strip(),
        problem_type=problem_type_of(output_dir),
        stock_class=stock_class,
        stock_caveats=stock_caveats if stock_class else None,
        intended_use=data["intended_use"],
        limitations=data["limitations"],
        dataset_description=data["description"],
        dataset_license=(data.get("license") or "").rstrip("."),
        dataset_homepage=data.get("homepage"),
        split_protocol=cross_corpus_protocol(results) or data["split_protocol"],
        split_sizes=split_sizes,
        train_label_counts=train_label_counts,
        training_summary=info["training_summary"],
        hyperparameters=hyperparameters,
        hardware=f"{platform.machine()} {'CUDA' if _cuda() else 'CPU'}",
        per_class=report["per_class"],
        confusion_matrix=report["confusion_matrix"],
        citation=(data["citation"] + "\n" + info.get("citation", "")).strip(),
    )
    card.save(os.path.join(output_dir, "README.md"))
    return card


def cross_corpus_protocol(results) -> str:
    """The split protocol of a cross-corpus target's model (`train.py --cross_corpus`), else ''."""
    target = results.get("cross_corpus_target")
    if not target:
        return ""
    entry = results["cross_corpus"][target]
    refit = (" and, once the number of epochs was chosen there, trained on them too (`fold_refit`)"
             if results.get("refit") else "")
    left_out = f"; left out: {', '.join(entry['left_out_labels'])}" if entry.get("left_out_labels") else ""
    return (f"Cross-corpus: trained on {' + '.join(entry['train_corpora'])}, chosen on held-out validation speakers of "
            f"those corpora{refit}, and tested on every clip of **{target}** ({entry['test_clips']} clips, "
            f"{entry['test_speakers']} speakers), a corpus it never heard, on the labels both sides have "
            f"({', '.join(entry['labels'])}{left_out}). The test row above is this model unadapted on {target}; "
            f"the cross-corpus table adds its figures with statistics re-estimated on {target}'s unlabelled audio.")


def problem_type_of(output_dir) -> str:
    """The saved config's `problem_type` (set from the labels at the first loss when the recipe left it unset, as in
    the stock heads); single-label classification when the folder has none."""
    import json

    path = os.path.join(output_dir, "config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("problem_type") or "single_label_classification"
    return "single_label_classification"


def stock_class_of(output_dir):
    import json

    """The stock class of a folder whose model and processor need no code of ours, else `None`."""
    configs = []
    for name in ("config.json", "preprocessor_config.json"):
        path = os.path.join(output_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                configs.append(json.load(f))
    if any("auto_map" in config for config in configs):
        return None
    return (configs[0].get("architectures") or [None])[0]


def _example_repr(widget):
    if widget and "text" in widget[0]:
        return repr(widget[0]["text"])
    return '"path/to/example"'


def _cuda():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


__all__ = ["problem_type_of", "render_model_card"]
