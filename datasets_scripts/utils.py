"""Helpers shared by the builders: finding the files of a local copy and explaining a wrong layout."""

import os


def find_local_file(data_dir: str, filename: str, subdirs: tuple[str, ...], layout: str) -> str:
    """Path of `filename` in `data_dir` or in one of its `subdirs` (the official archive's own folders).

    A missing file raises `FileNotFoundError` naming the file, where it was looked for and the expected `layout`,
    so a user with a half-copied folder learns what to fix instead of getting a half-built dataset.
    """
    data_dir = os.path.expanduser(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"`data_dir` {data_dir!r} is not a directory. Expected layout:\n{layout}")
    candidates = [os.path.join(data_dir, sub, filename) for sub in ("", *subdirs)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    looked = "\n  ".join(candidates)
    raise FileNotFoundError(f"{filename!r} not found in `data_dir`; looked for:\n  {looked}\nExpected layout:\n{layout}")


__all__ = ["find_local_file"]
