"""What differs between model families, as one base class the training loop calls: `Task`.

A task builds the processor from the training split (saved beside the model), turns a split into the dataset the
DataLoader reads (`dataset`), batches it (`collator`) and builds the model (`build_model`): those three every family
writes. The other hooks have defaults that do nothing special, so the loop calls every one of them on every task:

    cache_encoder(model, data, accelerator) -> data     the datasets the loop trains on (default: as they are)
    train_sampler(dataset) -> sampler or None           the training sampler (default: None, a seeded shuffle)
    augment_batch(batch) -> batch                        a training batch changed in the loop (default: as it is)
    training_loss(model, batch) -> loss                  (default: `model(**batch).loss`)
    save_model(model, output_dir), save_processor(output_dir)
                                                         (default: `save_pretrained` of each, safetensors)
    extra_results() -> dict                              figures added to all_results.json (default: none)
    stock_pipeline_caveats(model) -> str or None         what a stock export's pipeline does that ours refuses,
                                                         for the model card (default: None)

`supports_length_grouping` says whether `train_sampler` honours `group_by_length`; the loop refuses the option by name
for a family without lengths to group by before any data is read. `config_class` and `model_class` are the recipe's
family's (`modeling/families.py`), so one task class serves every family that declares it. A new family subclasses
`Task` in its own module (or uses one of ours) and names it in its declaration.
"""

from typing import Optional

from emotion_hub.training.registry import family_of


class Task:
    """Base of the task classes: the three hooks every family writes, and the defaults of the optional ones."""

    pipeline_tag: str = ""
    supports_length_grouping = False  # does `train_sampler` group by length (`group_by_length`)?

    def __init__(self, recipe, train_split, label_names):
        self.recipe, self.label_names = recipe, label_names

    @property
    def family(self):
        """The recipe's model family (`modeling/families.py`)."""
        return family_of(self.recipe.model_type)

    @property
    def config_class(self):
        """The family's config class, whose typed fields the recipe's `model` block sets."""
        return self.family.config_class

    @property
    def model_class(self):
        """The model class the family trains."""
        return self.family.model_class

    # -- what every family writes --------------------------------------------------------------------------------------
    def dataset(self, split_name: str, split):
        """The `datasets` split `split` as the dataset the DataLoader reads (`labels` holds the class ids)."""
        raise NotImplementedError(f"{type(self).__name__} must define dataset(split_name, split)")

    def collator(self, train: bool):
        """The `collate_fn` of the training (`train=True`) or evaluation loaders."""
        raise NotImplementedError(f"{type(self).__name__} must define collator(train)")

    def build_model(self, class_weights):
        """A fresh model for this recipe; `class_weights` (label-id order, or None) weigh its loss."""
        raise NotImplementedError(f"{type(self).__name__} must define build_model(class_weights)")

    def model_arguments(self, class_weights, **extra) -> dict:
        """The config arguments of the recipe's `model` block (its `class_weights` replaced by `class_weights`), the
        label maps, and `extra` (which wins over the recipe's values)."""
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        kwargs.update(extra, id2label=dict(enumerate(self.label_names)),
                      label2id={name: i for i, name in enumerate(self.label_names)}, class_weights=class_weights)
        return kwargs

    # -- optional hooks, with what they do when a family does not override them ----------------------------------------
    def cache_encoder(self, model, data: dict, accelerator) -> dict:
        """The datasets the loop trains on once the model exists (e.g. a frozen encoder's cached outputs)."""
        return data

    def train_sampler(self, dataset):
        """The training loader's sampler; None shuffles with the recipe's seed."""
        return None

    def augment_batch(self, batch: dict) -> dict:
        """A training batch, changed on the model's device in the loop (draws from the global torch RNG)."""
        return batch

    def training_loss(self, model, batch: dict):
        return model(**batch).loss

    def save_model(self, model, output_dir: str):
        model.save_pretrained(output_dir, safe_serialization=True)

    def save_processor(self, output_dir: str):
        self.processor.save_pretrained(output_dir)

    def extra_results(self) -> dict:
        return {}

    def stock_pipeline_caveats(self, model) -> Optional[str]:
        """What the stock pipeline (the Hub widget's) does with inputs ours refuses, when the folder is a stock
        export: one clause list for the model card. None: the folder is ours, or the family has nothing to state."""
        return None


__all__ = ["Task"]
