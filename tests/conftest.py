import gc
import os
import sys

import pytest


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


_TESTS_STARTED = [0]


def pytest_runtest_setup(item):
    """Before each test, what earlier tests left alive (imported modules, session fixtures) is moved out of the
    garbage collector's view (`gc.freeze`), and every 50 tests it is collected once. Without this every full
    collection walks the whole session's objects: measured on tests/test_train_safety.py, 45 full collections took
    17 s of its 78 s (the forked children copying every page the collector touches); with it, 2 s of 51 s."""
    _TESTS_STARTED[0] += 1
    if _TESTS_STARTED[0] % 50 == 0:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """train.main() builds an Accelerator; its state is a process-wide singleton, reset between tests."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="session")
def datasets_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="session")
def tweeteval_dir(tmp_path_factory):
    from tests.fixtures import write_tweeteval

    return write_tweeteval(str(tmp_path_factory.mktemp("tweeteval")), sizes=(96, 11, 13))


@pytest.fixture(scope="session")
def meld_dir(tmp_path_factory):
    from tests.fixtures import write_meld

    root = str(tmp_path_factory.mktemp("meld"))
    write_meld(root)
    return root


@pytest.fixture(scope="session")
def meld_raw_dir(tmp_path_factory):
    """An extracted MELD.Raw tree (CSVs + ffmpeg-made clips) of 4/2/2 dialogues x 3 turns: `<dir>/MELD.Raw/...`."""
    from tests.fixtures import write_meld_raw

    root = str(tmp_path_factory.mktemp("meld_raw"))
    write_meld_raw(root, dialogues=(4, 2, 2), turns=3)
    return root
