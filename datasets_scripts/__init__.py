"""Dataset builders of the package, one folder per dataset, and `load_builder_dataset` to build any of them.

A failed download raises `datasets_scripts.utils.DownloadError`, whose message is one line (URL, cause, the
`--data_dir` alternative): command-line tools print it instead of a traceback. To publish a built dataset as Parquet
on the Hub: `python -m datasets_scripts.export_parquet --builder NAME --repo_id user/name --push`.

`datasets>=4` no longer runs `load_dataset("script.py")`; builders are imported and instantiated instead::

    from emotion_hub.datasets_scripts import load_builder_dataset
    ds = load_builder_dataset("tweet_eval_emotion", "anger_joy")            # the official files shipped with us
    ds = load_builder_dataset("tweet_eval_emotion", data_dir="download")    # ... or downloaded from GitHub
    ds = load_builder_dataset("meld", "text", data_dir="path/to/MELD")      # or reads a local copy
"""

import importlib
import os

import datasets


BUILDERS = {
    "tweet_eval_emotion": "datasets_scripts.tweet_eval_emotion.tweet_eval_emotion:TweetEvalEmotion",
    "meld": "datasets_scripts.meld.meld:Meld",
    # voice
    "ravdess": "datasets_scripts.ravdess.ravdess:Ravdess",
    "tess": "datasets_scripts.tess.tess:Tess",
    "savee": "datasets_scripts.savee.savee:Savee",
    "crema_d": "datasets_scripts.crema_d.crema_d:CremaD",
    "vivae": "datasets_scripts.vivae.vivae:Vivae",
    "emodb": "datasets_scripts.emodb.emodb:EmoDB",
    "speech_emotion": "datasets_scripts.speech_emotion.speech_emotion:SpeechEmotion",
    "fer2013": "datasets_scripts.fer2013.fer2013:Fer2013",
}


def get_builder_class(name: str) -> type[datasets.DatasetBuilder]:
    """The builder class registered as `name`."""
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; the builders of this package are {sorted(BUILDERS)}")
    module, _, attribute = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module.replace("datasets_scripts", __name__, 1)), attribute)


def builder_texts(name: str) -> dict:
    """What dataset `name` says about itself, from its one source each: the texts its builder gives `datasets` (the
    module's `_DESCRIPTION`, `_CITATION`, `_LICENSE`, `_HOMEPAGE`, which its `_info()` passes to `DatasetInfo`) as
    `description`, `citation`, `license`, `homepage`, and the metadata of its dataset card (`<name>/README.md`) as
    `pretty_name`, `language` and `license_id` (the Hub licence id). Model cards take them from here."""
    import sys

    from huggingface_hub import metadata_load

    from .utils import builder_module_texts

    module = sys.modules[get_builder_class(name).__module__]
    texts = {key: text.strip() or None for key, text in builder_module_texts(module).items()}
    card = metadata_load(os.path.join(os.path.dirname(module.__file__), "README.md")) or {}
    return {**texts, "pretty_name": card.get("pretty_name"), "language": card.get("language"),
            "license_id": card.get("license", "other")}


def load_builder_dataset(name, config_name=None, data_dir=None, cache_dir=None, **config_kwargs) -> datasets.DatasetDict:
    """Build (or reuse from `cache_dir`) every split of dataset `name` and return them as a `DatasetDict`."""
    builder = get_builder_class(name)(config_name=config_name, data_dir=data_dir, cache_dir=cache_dir, **config_kwargs)
    builder.download_and_prepare()
    return builder.as_dataset()


__all__ = ["BUILDERS", "builder_texts", "get_builder_class", "load_builder_dataset"]
