"""model_cards.space: a Gradio Space per model, run in a real headless browser (Debian chromium driven by
playwright, no browser download) for a tiny text model and a tiny audio model, and pushed to the loopback Hub.

Screenshots of the two apps after a prediction are kept under the test's tmp dir
(`<pytest basetemp>/test_space_apps_in_a_real_brow0/space_text.png` and `space_voice.png`; pytest keeps the
last three runs, e.g. `/tmp/pytest-of-$USER/pytest-current/`)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import yaml

from emotion_hub.model_cards.space import detect_task, push_space, write_space
from tests.hub_server import HubServer


LABELS = ["anger", "joy", "sadness"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def save_tiny_models(root):
    """A random text CNN with a word-level tokenizer and a random waveform MLP with its feature extractor."""
    from emotion_hub.modeling import (TextCNNConfig, TextCNNForSequenceClassification, WaveformMLPConfig,
                          WaveformMLPForAudioClassification)
    from emotion_hub.processing.feature_extraction_emotion_audio import EmotionAudioFeatureExtractor
    from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer

    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}}
    tokenizer = build_word_level_tokenizer(["i am so happy today", "this makes me angry", "so sad and lonely"])
    text = TextCNNForSequenceClassification(TextCNNConfig(
        vocab_size=len(tokenizer), embedding_dim=8, num_filters=4, kernel_sizes=[1, 2], max_sequence_length=16,
        pad_token_id=tokenizer.pad_token_id, **labels))
    text.save_pretrained(os.path.join(root, "text"))
    tokenizer.save_pretrained(os.path.join(root, "text"))
    voice = WaveformMLPForAudioClassification(WaveformMLPConfig(num_labels=3, input_length=1600, hidden_sizes=[8],
                                                                **labels))
    voice.save_pretrained(os.path.join(root, "voice"))
    EmotionAudioFeatureExtractor(feature_type="waveform", sampling_rate=8000, max_length_seconds=0.2,
                                 normalize_waveform="peak").save_pretrained(os.path.join(root, "voice"))
    return os.path.join(root, "text"), os.path.join(root, "voice")


def test_task_detection_and_space_files(tmp_path):
    text_dir, voice_dir = save_tiny_models(str(tmp_path / "models"))
    assert detect_task(text_dir) == "text" and detect_task(voice_dir) == "voice"
    for name, config, extra, task in (
            ("erc", {"custom_pipelines": {"emotion-recognition-in-conversation": {}}}, None, "erc"),
            ("face", {"architectures": ["FERCNNForImageClassification"]},
             {"image_processor_type": "FERImageProcessor"}, "face"),
            ("w2v", {"architectures": ["Wav2Vec2ForSequenceClassification"], "model_type": "wav2vec2"},
             {"feature_extractor_type": "Wav2Vec2FeatureExtractor"}, "voice")):
        os.makedirs(tmp_path / name)
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        if extra:
            (tmp_path / name / "preprocessor_config.json").write_text(json.dumps(extra))
        assert detect_task(str(tmp_path / name)) == task
        space = write_space(str(tmp_path / name), str(tmp_path / f"space_{name}"), model_id=f"user/{name}")
        app = open(os.path.join(space, "app.py"), encoding="utf-8").read()
        compile(app, "app.py", "exec")
        assert f"TASK = {task!r}" in app and "MODEL_ID = os.environ.get(\"MODEL_ID\", 'user/" in app
        assert "trust_remote_code=True" in app and "share=False" in app
    app = open(tmp_path / "space_face" / "app.py", encoding="utf-8").read()
    assert 'sources=["upload", "webcam"]' in app and 'sources=["upload", "microphone"]' in app  # both in the template
    meta = yaml.safe_load(open(tmp_path / "space_erc" / "README.md").read().split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["models"] == ["user/erc"]
    assert "librosa" in open(tmp_path / "space_w2v" / "requirements.txt").read()
    with pytest.raises(ValueError, match="cannot tell the task"):
        os.makedirs(tmp_path / "bare")
        (tmp_path / "bare" / "config.json").write_text("{}")
        detect_task(str(tmp_path / "bare"))


class _ProxyTrap:
    """A 'proxy' on 127.0.0.1 that records every request line sent to it: the apps run with HTTP(S)_PROXY pointing
    here, so any attempt to reach the internet (analytics, version checks, share links, fonts) is caught."""

    def __init__(self):
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                except OSError:
                    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(space_dir, proxy, log_path):
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HTTP_PROXY": proxy.url,
           "HTTPS_PROXY": proxy.url, "http_proxy": proxy.url, "https_proxy": proxy.url,
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # the app needs transformers and gradio only, not our packages
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=space_dir, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}/", log


def _wait_until_up(url, process, log_path, timeout=150):
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}:\n{open(log_path).read()[-3000:]}")
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer within {timeout}s:\n{open(log_path).read()[-3000:]}")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run "
                                             "installs it)")
def test_space_apps_in_a_real_browser_and_pushed_to_the_hub(tmp_path, monkeypatch):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e .[space])")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e .[space])")
    import soundfile
    from transformers import pipeline

    text_dir, voice_dir = save_tiny_models(str(tmp_path / "models"))
    text_space = write_space(text_dir, str(tmp_path / "space_text"))
    voice_space = write_space(voice_dir, str(tmp_path / "space_voice"), bundle_model=True)
    proxy = _ProxyTrap()
    apps = [_launch(text_space, proxy, tmp_path / "text.log"), _launch(voice_space, proxy, tmp_path / "voice.log")]
    try:
        # what the apps should show: the same pipelines, here
        sentence = "so happy today"
        expected_text = pipeline("text-classification", model=text_dir, trust_remote_code=True)(sentence)[0]["label"]
        wav = str(tmp_path / "clip.wav")
        rng = np.random.default_rng(0)
        samples = (np.sin(np.linspace(0, 300, 4000)) * 8000 + rng.normal(0, 500, 4000)).astype(np.int16)
        soundfile.write(wav, samples, 8000, subtype="PCM_16")
        voice = pipeline("audio-classification", model=voice_dir, trust_remote_code=True)
        expected_voice = voice({"raw": samples.astype(np.float32) / 32768, "sampling_rate": 8000})[0]["label"]
        for (process, url, _), log in zip(apps, ("text.log", "voice.log")):
            _wait_until_up(url, process, tmp_path / log)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(apps[0][1], wait_until="domcontentloaded")
            page.get_by_label("Text").fill(sentence)
            page.get_by_role("button", name="Classify").click()
            top = page.locator("[data-testid='label-output-value']")
            top.wait_for(timeout=60000)
            assert top.inner_text().strip() == expected_text
            page.screenshot(path=str(tmp_path / "space_text.png"), full_page=True)

            page = browser.new_page()
            page.goto(apps[1][1], wait_until="domcontentloaded")
            page.locator("input[type=file]").first.set_input_files(wav)
            page.locator("audio, [data-testid='waveform-Speech'], .waveform-container").first.wait_for(timeout=60000)
            page.get_by_role("button", name="Classify").click()
            top = page.locator("[data-testid='label-output-value']")
            top.wait_for(timeout=60000)
            assert top.inner_text().strip() == expected_voice
            page.screenshot(path=str(tmp_path / "space_voice.png"), full_page=True)
            browser.close()
    finally:
        for process, _, log in apps:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    assert (tmp_path / "space_text.png").stat().st_size > 1000 and (tmp_path / "space_voice.png").stat().st_size > 1000
    assert proxy.requests == []  # neither app tried to reach the internet

    # the Space folder (model bundled) on the loopback Hub
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with HubServer() as hub:
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.endpoint)
        url = push_space(voice_space, "user/voice-demo", token="hf_test_token")
        files = hub.repos["spaces/user/voice-demo"]
    assert url.endswith("/spaces/user/voice-demo")
    assert {"app.py", "README.md", "requirements.txt", "model/config.json", "model/model.safetensors",
            "model/preprocessor_config.json"} <= set(files)
    meta = yaml.safe_load(files["README.md"].decode().split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"


def test_face_and_dialogue_apps_classify(tmp_path, monkeypatch):
    """The face (upload/webcam image) and dialogue-editor apps, called as the browser would call them."""
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e .[space])")
    import importlib.util

    import pandas as pd
    from PIL import Image

    from emotion_hub.modeling import ERCFusionForEmotionRecognition, FERCNNConfig, FERCNNForImageClassification
    from emotion_hub.processing import FERImageProcessor
    from tests.erc_utils import tiny_config, tiny_processor, tiny_tokenizer

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    torch.manual_seed(0)
    faces = ["angry", "happy", "sad"]
    FERCNNForImageClassification(FERCNNConfig(image_size=16, block_channels=[4, 8], fc_sizes=[12, 10],
                                              id2label=dict(enumerate(faces)),
                                              label2id={n: i for i, n in enumerate(faces)})).save_pretrained(
        tmp_path / "face")
    FERImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.25] * 3).save_pretrained(
        tmp_path / "face")
    tokenizer = tiny_tokenizer()
    config = tiny_config(tokenizer, audio_branch="none", vision_branch="none")
    ERCFusionForEmotionRecognition(config).save_pretrained(tmp_path / "erc")
    tiny_processor(tokenizer, config).save_pretrained(tmp_path / "erc")

    def load_app(task):
        space = write_space(str(tmp_path / task), str(tmp_path / f"space_{task}"))
        spec = importlib.util.spec_from_file_location(f"space_app_{task}", os.path.join(space, "app.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # builds the Blocks; launch() runs only as a script
        return module

    face = load_app("face")
    assert face.TASK == "face"
    scores = face.classify_face(Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)))
    assert set(scores) == set(faces) and abs(sum(scores.values()) - 1) < 1e-4
    erc = load_app("erc")
    assert erc.TASK == "erc" and erc.EXAMPLES[0][0][0] == "Monica"
    scores = erc.classify_dialogue(pd.DataFrame(erc.EXAMPLES[0] + [["", ""]], columns=["speaker", "utterance"]))
    assert set(scores) == {"anger", "joy", "neutral"} and abs(sum(scores.values()) - 1) < 1e-4
    with pytest.raises(Exception, match="at least one turn"):
        erc.classify_dialogue(pd.DataFrame([["A", " "]], columns=["speaker", "utterance"]))
