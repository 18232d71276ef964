"""Helpers shared by the builders: finding the files of a local copy, explaining a wrong layout, and downloads that
fail with one readable line (`DownloadError`) instead of a traceback."""

import os
from typing import Optional


def builder_module_texts(module) -> dict:
    """The texts a builder module gives `datasets` (`_DESCRIPTION`, `_CITATION`, `_LICENSE`, `_HOMEPAGE`, as the
    classic builders carry them) as `description`, `citation`, `license`, `homepage`; "" where it has none."""
    return {key: getattr(module, f"_{key.upper()}", None) or "" for key in ("description", "citation", "license",
                                                                             "homepage")}


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


class DownloadError(ConnectionError):
    """A builder could not download `url`: the message is one line naming the URL, the cause and the `--data_dir`
    alternative, so command-line tools print `str(error)` instead of a traceback::

        try:
            main()
        except DownloadError as error:
            sys.exit(f"error: {error}")
    """

    def __init__(self, url: str, cause: str, hint: str = "pass --data_dir DIR with a local copy of the files"):
        self.url, self.cause, self.hint = url, cause, hint
        super().__init__(f"could not download {url} ({cause}); {hint}")


def _root_cause(exc: BaseException) -> str:
    """The most informative one-line message of an exception chain (`datasets` raises a bare FileNotFoundError(url)
    whose causes say what actually happened: DNS failure, refused connection, HTTP 404, offline mode...)."""
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for candidate in chain[1:] + chain[:1]:  # the first cause that is not the bare URL
        text = " ".join(str(candidate).split())
        if text and not text.startswith(("http://", "https://")):
            return f"{type(candidate).__name__}: {text}"[:300]
    return f"{type(chain[0]).__name__}: {' '.join(str(chain[0]).split()) or 'no details'}"[:300]


def download(dl_manager, urls, extract: bool = False, hint: Optional[str] = None):
    """`dl_manager.download(urls)` (or `download_and_extract`), one URL at a time, so that a failure raises a
    `DownloadError` naming the URL that failed and why. `urls` is a URL or a dict of names to URLs (the result has
    the same shape); `hint` replaces the default "pass --data_dir DIR ..." advice (e.g. with the expected layout)."""
    fetch = dl_manager.download_and_extract if extract else dl_manager.download
    items = urls.items() if isinstance(urls, dict) else [(None, urls)]
    results = {}
    for name, url in items:
        try:
            results[name] = fetch(url)
        except (OSError, ValueError, RuntimeError) as error:  # FileNotFoundError, ConnectionError, HTTP errors
            raise DownloadError(url, _root_cause(error), *([hint] if hint else [])) from error
    return results if isinstance(urls, dict) else results[None]


__all__ = ["DownloadError", "builder_module_texts", "download", "find_local_file"]
