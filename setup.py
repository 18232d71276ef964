from setuptools import find_packages, setup

setup(
    name="emotion-hub",
    version="0.1.0",
    description="Hub-native emotion-recognition models, dataset builders and training recipes (text, faces, voice, "
                "conversations)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # One import name: the repository's top-level folders are installed as emotion_hub.<folder>, so a user's own
    # modeling.py / processing.py never shadows ours (nor ours theirs). train.py stays the script in the repository;
    # the console script runs the same command line.
    packages=["emotion_hub"] + [f"emotion_hub.{p}" for p in find_packages(
        include=["modeling", "processing", "datasets_scripts", "datasets_scripts.*", "model_cards", "training"])],
    package_dir={"emotion_hub": "emotion_hub", **{f"emotion_hub.{p}": p for p in
                                                  ("modeling", "processing", "datasets_scripts", "model_cards",
                                                   "training")}},
    package_data={"emotion_hub.model_cards": ["templates/*.md"],
                  "emotion_hub.datasets_scripts": ["*/README.md", "tweet_eval_emotion/data/*"]},
    install_requires=[
        "torch>=2.4",
        "torchaudio>=2.4",
        "torchvision>=0.19",
        "transformers>=5.0,<6",
        "tokenizers>=0.21",
        "datasets>=4.0",
        "evaluate>=0.4",
        "accelerate>=1.0",
        "huggingface-hub>=1.0",
        "safetensors>=0.4",
        "timm>=1.0",
        "librosa>=0.10",
        "peft>=0.13",
        "soundfile>=0.12",
        "torchcodec>=0.5",
        "scikit-learn>=1.3",
        "numpy>=1.24",
        "pillow>=9.0",
        "pyyaml>=6.0",
        "pydantic>=2.6",
        "jinja2>=3.1",
        "tqdm>=4.66",
        "matplotlib>=3.7",
        "tensorboard>=2.15",
        "optuna>=4.0",
    ],
    extras_require={"test": ["pytest>=8", "pytest-timeout>=2.3", "gradio>=5.0", "playwright>=1.40",
                             "onnx>=1.16", "onnxruntime>=1.18", "onnxscript",
                             "opencv-python-headless>=4.8,<5", "facenet-pytorch>=2.5.3,<2.6",
                             "scikit-image>=0.22"],
                    "space": ["gradio>=5.0", "playwright>=1.40"],
                    # Face detection in photos: MTCNN, its weights inside the package (2.6 pins torch<2.3: not it), and
                    # the Haar cascades (OpenCV 5 dropped them from its main module).
                    "faces": ["facenet-pytorch>=2.5.3,<2.6", "opencv-python-headless>=4.8,<5"],
                    "onnx": ["onnx>=1.16", "onnxruntime>=1.18", "onnxscript"]},
    entry_points={"console_scripts": ["emotion-hub-train=emotion_hub.training.cli:cli"]},
)
