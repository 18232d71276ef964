"""Build any dataset of the package and publish its splits as Parquet with a dataset card, for the Hub.

`datasets>=4` no longer runs dataset scripts, so on the Hub a dataset is usable only as data files: this command
builds the splits with our builder, writes them as Parquet (audio and image files embedded, their `Audio` / `Image`
features kept) plus a `README.md` card (YAML `configs` / `data_files` / `dataset_info`, label names, citation,
license and the builder card's split protocol), and pushes the folder. Afterwards anyone loads it with no code of
ours::

    python -m datasets_scripts.export_parquet --builder tweet_eval_emotion --config emotion anger_joy \
        --output_dir parquet/tweet_eval_emotion --repo_id user/tweet_eval_emotion --push
    python -m datasets_scripts.export_parquet --builder ravdess --data_dir path/to/RAVDESS --repo_id user/ravdess --push

    from datasets import load_dataset
    ds = load_dataset("user/tweet_eval_emotion", "anger_joy")

Folder layout (the one `Dataset.push_to_hub` writes): `<config>/<split>-00000-of-00001.parquet` and `README.md`.
Pushing uses `HfApi.upload_folder` to a dataset repository (token: `--token`, `HF_TOKEN` or the saved login;
`HF_ENDPOINT` selects another Hub). A failed download prints one line (`DownloadError`) instead of a traceback.
"""

import argparse
import os
import re
import sys
import tempfile

import datasets
import yaml
from datasets.features.features import require_decoding
from datasets.info import DatasetInfo
from datasets.table import embed_table_storage
from tqdm.auto import tqdm

from . import BUILDERS, get_builder_class
from .utils import DownloadError


MAX_SHARD_BYTES = 500 * 2**20  # as `push_to_hub`: shards of at most ~500 MB (before embedding media files)


def build_splits(builder_name, config_name=None, data_dir=None, cache_dir=None, max_rows_per_split=None,
                 **config_kwargs):
    """`(builder, DatasetDict)` of one config, built with the package's builder (`max_rows_per_split`: a slice)."""
    builder = get_builder_class(builder_name)(config_name=config_name, data_dir=data_dir, cache_dir=cache_dir,
                                              **config_kwargs)
    builder.download_and_prepare()
    splits = builder.as_dataset()
    if max_rows_per_split is not None:
        splits = datasets.DatasetDict({name: split.select(range(min(max_rows_per_split, len(split))))
                                       for name, split in splits.items()})
    return builder, splits


def _embedded(split: datasets.Dataset) -> datasets.Dataset:
    """Audio/image columns that point at local files get the files' bytes, so the Parquet file stands alone."""
    if not any(require_decoding(feature, ignore_decode_attribute=True) for feature in split.features.values()):
        return split
    return split.with_format("arrow").map(embed_table_storage, batched=True, batch_size=100, keep_in_memory=True,
                                          desc="Embedding media files").with_format(None)


def write_parquet(splits: datasets.DatasetDict, output_dir: str, config_name: str) -> dict[str, list[str]]:
    """Write every split as `<config>/<split>-KKKKK-of-NNNNN.parquet` under `output_dir`; returns the paths in the
    repository, by split."""
    written = {}
    folder = os.path.join(output_dir, config_name)
    os.makedirs(folder, exist_ok=True)
    for stale in os.listdir(folder):  # a re-export with fewer shards must not leave old shards behind
        if stale.endswith(".parquet"):
            os.remove(os.path.join(folder, stale))
    for split_name, split in tqdm(list(splits.items()), desc=f"Parquet {config_name}", unit="split"):
        num_shards = max(1, int(split._estimate_nbytes() / MAX_SHARD_BYTES) + 1) if len(split) else 1
        written[split_name] = []
        for index in range(num_shards):
            shard = split.shard(num_shards=num_shards, index=index, contiguous=True)
            name = f"{split_name}-{index:05d}-of-{num_shards:05d}.parquet"
            _embedded(shard).to_parquet(os.path.join(folder, name))
            written[split_name].append(f"{config_name}/{name}")
    return written


def _front_matter(card: str) -> tuple[dict, str]:
    match = re.match(r"^---\n(.*?)\n---\n?", card, re.S)
    if not match:
        return {}, card
    return yaml.safe_load(match.group(1)) or {}, card[match.end():]


def _label_lines(features: datasets.Features) -> list[str]:
    lines = []
    for column, feature in features.items():
        if isinstance(feature, datasets.ClassLabel):
            lines.append(f"- `{column}`: " + ", ".join(f"{i} {name}" for i, name in enumerate(feature.names)))
    return lines


def _feature_lines(features: datasets.Features) -> list[str]:
    def describe(feature):
        if isinstance(feature, datasets.ClassLabel):
            return f"ClassLabel ({feature.num_classes} classes)"
        if isinstance(feature, datasets.Audio):
            return "Audio" + (f" ({feature.sampling_rate} Hz)" if feature.sampling_rate else " (native rate)")
        if isinstance(feature, datasets.Value):
            return feature.dtype
        return type(feature).__name__
    return [f"| `{column}` | {describe(feature)} |" for column, feature in features.items()]


def dataset_card(builder_name: str, exports: list[tuple[str, DatasetInfo, dict, dict]], repo_id: str,
                 default_config: str, max_rows_per_split=None) -> str:
    """The dataset card: the builder card's metadata with Parquet `configs` / `dataset_info`, then how to load it,
    the features and label names, the builder card's text (protocol, errors) and citation / license.

    `exports`: `(config_name, info, {split: [paths]}, {split: num_rows})` per exported config."""
    card_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), builder_name, "README.md")
    metadata, body = _front_matter(open(card_path, encoding="utf-8").read()) if os.path.isfile(card_path) else ({}, "")
    for key in ("configs", "dataset_info"):  # the builder card lists its script configs; the export has data files
        metadata.pop(key, None)
    metadata["configs"] = [
        {"config_name": config, "data_files": [{"split": split, "path": f"{config}/{split}-*"} for split in paths],
         **({"default": True} if config == default_config else {})}
        for config, _, paths, _ in exports
    ]
    infos = []
    for config, info, _, sizes in exports:
        entry = {"config_name": config, **info._to_yaml_dict()}
        entry.pop("splits", None)
        entry["splits"] = [{"name": split, "num_examples": n} for split, n in sizes.items()]
        infos.append({k: v for k, v in entry.items() if k in ("config_name", "features", "splits")})
    metadata["dataset_info"] = infos
    first_info = exports[0][1]
    if first_info.license and "license" not in metadata:
        metadata["license"] = "other"
    header = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=120)
    configs = ", ".join(f"`{config}`" for config, *_ in exports)
    lines = [
        f"# {metadata.get('pretty_name', builder_name)} (Parquet export of the `{builder_name}` builder)",
        "",
        f"Built with the `{builder_name}` builder of the emotion-hub package and stored as Parquet, so it loads with "
        f"`datasets` alone (no loading script). Configs: {configs}."
        + (f" **A slice**: at most {max_rows_per_split} rows per split." if max_rows_per_split else ""),
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{repo_id}", "{exports[0][0]}")',
        "```",
        "",
        "| config | " + " | ".join(exports[0][3]) + " |",
        "|---|" + "---:|" * len(exports[0][3]),
    ]
    lines += [f"| `{config}` | " + " | ".join(f"{sizes.get(split, 0):,}" for split in exports[0][3]) + " |"
              for config, _, _, sizes in exports]
    lines += ["", "## Features", "", "| column | type |", "|---|---|", *_feature_lines(first_info.features), ""]
    for config, info, _, _ in exports:
        labels = _label_lines(info.features)
        if labels:
            lines += [f"Label names (`{config}`, id order):", "", *labels, ""]
    if first_info.license:
        lines += ["## License", "", first_info.license, ""]
    if first_info.citation:
        lines += ["## Citation", "", "```bibtex", first_info.citation.strip(), "```", ""]
    if body.strip():
        lines += ["## The builder's card (source, split protocol, fields)", "",
                  re.sub(r"^#", "###", body.strip(), flags=re.M), ""]
    return f"---\n{header}---\n\n" + "\n".join(lines)


def export(builder_name, config_names=None, data_dir=None, output_dir=None, repo_id=None, push=False, token=None,
           private=False, cache_dir=None, max_rows_per_split=None, **config_kwargs) -> str:
    """Build `config_names` (default: the builder's default config) of `builder_name`, write them as Parquet with a
    card in `output_dir` (default: a temporary folder), push to the dataset repository `repo_id` if `push`.
    Returns `output_dir`."""
    builder_class = get_builder_class(builder_name)
    config_names = list(config_names or [builder_class.DEFAULT_CONFIG_NAME or builder_class.BUILDER_CONFIGS[0].name])
    output_dir = output_dir or tempfile.mkdtemp(prefix=f"{builder_name}-parquet-")
    repo_id = repo_id or f"user/{builder_name}"
    exports = []
    for config_name in tqdm(config_names, desc=f"Export {builder_name}", unit="config", disable=len(config_names) < 2):
        builder, splits = build_splits(builder_name, config_name, data_dir, cache_dir, max_rows_per_split,
                                       **config_kwargs)
        paths = write_parquet(splits, output_dir, builder.config.name)
        exports.append((builder.config.name, builder.info, paths, {name: len(s) for name, s in splits.items()}))
    with open(os.path.join(output_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(dataset_card(builder_name, exports, repo_id, default_config=exports[0][0],
                             max_rows_per_split=max_rows_per_split))
    if push:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=output_dir, repo_id=repo_id, repo_type="dataset",
                          commit_message=f"Parquet export of the {builder_name} builder ({', '.join(config_names)})")
    return output_dir


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builder", required=True, choices=sorted(BUILDERS), help="builder name")
    parser.add_argument("--config", nargs="+", default=None, help="builder config(s) (default: the default one)")
    parser.add_argument("--data_dir", default=None, help="local copy of the data (builder default: see its card)")
    parser.add_argument("--output_dir", default=None, help="Parquet folder (default: a temporary folder)")
    parser.add_argument("--repo_id", default=None, help="dataset repository, user/name")
    parser.add_argument("--push", action="store_true", help="upload the folder to --repo_id")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--cache_dir", default=None, help="datasets cache folder")
    parser.add_argument("--max_rows_per_split", type=int, default=None, help="export a slice of each split")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="builder config option (YAML value), e.g. --option on_bad_file=skip; repeatable")
    args = parser.parse_args(argv)
    if args.push and not args.repo_id:
        parser.error("--push needs --repo_id")
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--option takes KEY=VALUE, got {item!r}")
        options[key] = yaml.safe_load(value)
    return args, options


def main(argv=None):
    args, options = parse_args(argv)
    try:
        folder = export(args.builder, args.config, args.data_dir, args.output_dir, args.repo_id, args.push, args.token,
                        args.private, args.cache_dir, args.max_rows_per_split, **options)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1)
    print(f"Parquet files and card in {folder}" + (f"; pushed to datasets/{args.repo_id}" if args.push else ""))


__all__ = ["build_splits", "dataset_card", "export", "main", "write_parquet"]


if __name__ == "__main__":
    main()
