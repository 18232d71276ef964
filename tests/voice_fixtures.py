"""Self-made audio corpora in the official file layouts of RAVDESS, TESS, SAVEE, CREMA-D and VIVAE.

Each file is a short 16-bit WAV at the corpus's real sampling rate holding a tone whose pitch depends on the emotion
(plus noise), so the trees also serve as learnable toy data. Every writer returns the list of paths it wrote.
"""

import functools
import io
import os
import zipfile

import numpy as np
import soundfile as sf


RATES = {"ravdess": 48000, "tess": 24414, "savee": 44100, "crema_d": 16000, "vivae": 44100}


@functools.lru_cache(maxsize=4096)
def _tone_bytes(sampling_rate, seconds, pitch, seed, channels):
    rng = np.random.default_rng(seed)
    t = np.arange(max(1, int(round(seconds * sampling_rate)))) / sampling_rate
    wave = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.02 * rng.standard_normal(t.size)
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), sampling_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_tone(path, sampling_rate, seconds=0.05, pitch=220.0, seed=0, channels=1):
    """A noisy tone of `seconds` at `sampling_rate`, 16-bit PCM WAV (the noise depends on `seed % 16`)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(_tone_bytes(sampling_rate, seconds, float(pitch), seed % 16, channels))
    return path


def _pitch(index):
    return 150.0 * (1.25 ** index)


def ravdess_names(actors=range(1, 25), channel="speech"):
    """The official file names (`Actor_XX/03-CC-EE-II-SS-RR-AA.wav`) of `actors` for `channel` (speech: 60 per actor,
    song: 44 per actor)."""
    code = {"speech": 1, "song": 2}[channel]
    emotions = range(1, 9) if channel == "speech" else range(1, 7)
    names = []
    for actor in actors:
        for emotion in emotions:
            for intensity in ((1,) if emotion == 1 else (1, 2)):
                for statement in (1, 2):
                    for repetition in (1, 2):
                        names.append(f"Actor_{actor:02d}/03-{code:02d}-{emotion:02d}-{intensity:02d}-"
                                     f"{statement:02d}-{repetition:02d}-{actor:02d}.wav")
    return names


def write_ravdess(root, actors=range(1, 25), channel="speech", seconds=0.05, names=None):
    """RAVDESS audio-only files of `actors` under `root/Actor_XX/` (the layout of the official Zenodo zips)."""
    paths = []
    for i, name in enumerate(names or ravdess_names(actors, channel)):
        emotion = int(os.path.basename(name).split("-")[2])
        paths.append(write_tone(os.path.join(root, name), RATES["ravdess"], seconds, _pitch(emotion - 1), seed=i))
    return paths


TESS_EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "ps", "sad"]
TESS_FOLDERS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
                "ps": "pleasant_surprise", "sad": "sad"}
TESS_WORDS = ["back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book", "bought", "burn", "cab",
              "calm", "came", "cause", "chain", "chair", "chalk", "chat"]


def write_tess(root, words=TESS_WORDS, speakers=("OAF", "YAF"), seconds=0.05, flat=False):
    """TESS files `<speaker>_<word>_<emotion>.wav` in per-speaker-emotion folders (`OAF_angry/`, ...,
    `YAF_pleasant_surprise/`) under `root`, or all in `root` (`flat=True`, the Dataverse listing)."""
    paths = []
    for s, speaker in enumerate(speakers):
        for e, emotion in enumerate(TESS_EMOTIONS):
            folder = root if flat else os.path.join(root, f"{speaker}_{TESS_FOLDERS[emotion]}")
            for w, word in enumerate(words):
                path = os.path.join(folder, f"{speaker}_{word}_{emotion}.wav")
                paths.append(write_tone(path, RATES["tess"], seconds, _pitch(e), seed=s * 1000 + e * 100 + w))
    return paths


SAVEE_CODES = {"a": 15, "d": 15, "f": 15, "h": 15, "n": 30, "sa": 15, "su": 15}  # files per speaker and emotion
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")


def write_savee(root, speakers=SAVEE_SPEAKERS, per_code=None, seconds=0.05, layout="AudioData"):
    """SAVEE files: `layout="AudioData"` writes the official `AudioData/<speaker>/a01.wav` tree, `layout="ALL"` the
    flat `ALL/<speaker>_a01.wav` variant. `per_code` overrides the number of files per emotion code."""
    paths = []
    for s, speaker in enumerate(speakers):
        for e, (code, count) in enumerate(SAVEE_CODES.items()):
            for item in range(1, (per_code or count) + 1):
                if layout == "AudioData":
                    path = os.path.join(root, "AudioData", speaker, f"{code}{item:02d}.wav")
                else:
                    path = os.path.join(root, "ALL", f"{speaker}_{code}{item:02d}.wav")
                paths.append(write_tone(path, RATES["savee"], seconds, _pitch(e), seed=s * 1000 + e * 100 + item))
    return paths


CREMA_EMOTIONS = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
CREMA_SENTENCES = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"]
CREMA_SEXES = {1001: "Male", 1002: "Female", 1003: "Female", 1004: "Female", 1005: "Male", 1006: "Female",
               1007: "Female", 1008: "Female", 1009: "Female", 1010: "Female", 1011: "Male", 1012: "Female"}


def write_crema_d(root, actors=tuple(CREMA_SEXES), sentences=("IEO", "TIE", "DFA"), seconds=0.05,
                  demographics=True):
    """CREMA-D `AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav` (IEO at LO, MD, HI; other sentences XX; neutral
    always XX) and, with `demographics`, the repository's `VideoDemographics.csv` (sex of actors 1001-1012 as in the
    official file; other actors alternate)."""
    paths = []
    for actor in actors:
        for sentence in sentences:
            for e, emotion in enumerate(CREMA_EMOTIONS):
                levels = ("LO", "MD", "HI") if sentence == "IEO" and emotion != "NEU" else ("XX",)
                for level in levels:
                    path = os.path.join(root, "AudioWAV", f"{actor}_{sentence}_{emotion}_{level}.wav")
                    paths.append(write_tone(path, RATES["crema_d"], seconds, _pitch(e), seed=actor + 10 * e))
    if demographics:
        with open(os.path.join(root, "VideoDemographics.csv"), "w", newline="") as f:
            f.write('"ActorID","Age","Sex","Race","Ethnicity"\n')
            for actor in actors:
                sex = CREMA_SEXES.get(actor, "Male" if actor % 2 else "Female")
                f.write(f'{actor},{20 + actor % 50},"{sex}","Caucasian","Not Hispanic"\n')
    return paths


VIVAE_EMOTIONS = ["achievement", "anger", "fear", "pain", "pleasure", "surprise"]
VIVAE_INTENSITIES = ["low", "moderate", "strong", "peak"]


def write_vivae(root, speakers=11, items=1, core_speakers=10, seconds=0.05):
    """VIVAE `full_set/<Emotion>/S01_achievement_low_01.wav` for `speakers` speakers x 6 emotions x 4 intensities x
    `items`, and `core_set/` holding copies of item 1 of the first `core_speakers` speakers."""
    paths = []
    for s in range(1, speakers + 1):
        for e, emotion in enumerate(VIVAE_EMOTIONS):
            for intensity in VIVAE_INTENSITIES:
                for item in range(1, items + 1):
                    name = f"S{s:02d}_{emotion}_{intensity}_{item:02d}.wav"
                    for subset in ("full_set",) + (("core_set",) if s <= core_speakers and item == 1 else ()):
                        path = os.path.join(root, subset, emotion.capitalize(), name)
                        paths.append(write_tone(path, RATES["vivae"], seconds, _pitch(e), seed=s * 100 + e))
    return paths


def zip_tree(folder, zip_path, arcroot=""):
    """Zip every file under `folder` into `zip_path` (paths relative to `folder`, under `arcroot` if given)."""
    os.makedirs(os.path.dirname(zip_path) or ".", exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        for base, _, files in os.walk(folder):
            for name in sorted(files):
                path = os.path.join(base, name)
                archive.write(path, os.path.join(arcroot, os.path.relpath(path, folder)))
    return zip_path
