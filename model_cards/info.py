"""What a model card says about each dataset and model family (the numbers come from the run itself)."""

DATASET_INFO = {
    "tweet_eval_emotion": {
        "pretty_name": "TweetEval emotion",
        "hub_id": "cardiffnlp/tweet_eval",
        "language": "en",
        "model_license": "other",
        "widget": [
            {"text": "Cannot believe they cancelled my flight AGAIN. Worst airline ever #furious"},
            {"text": "Just got the job!!! Best day of my life 😂"},
            {"text": "Tomorrow is a new day, keep believing and things will get better #hope"},
        ],
        "description": (
            "TweetEval's emotion task (Barbieri et al., 2020) is the single-label, four-emotion subset of SemEval-2018 "
            "Task 1 *Affect in Tweets*: English tweets labelled anger, joy, optimism or sadness. User mentions are "
            "anonymised as `@user`. The two-class configurations keep only the tweets of two emotions."
        ),
        "split_protocol": (
            "The official TweetEval train / validation / test split is used unchanged (`train_*`, `val_*`, `test_*` "
            "files of `datasets/emotion/`). The vocabulary is built on the training split only; model selection "
            "(best epoch, early stopping) uses the validation split; the test split is evaluated once, with the "
            "best-validation weights."
        ),
        "intended_use": (
            "Research and prototyping of emotion recognition on short English social-media text, and a fast, "
            "interpretable baseline to compare transformer models against."
        ),
        "limitations": (
            "The labels are the majority emotion of a few annotators on 2017-era tweets; many tweets express "
            "several emotions or none. Classes are imbalanced (optimism is rare), so look at macro-F1 and per-class "
            "F1, not only accuracy. A word-level model knows only the words of its training vocabulary (and, when "
            "used, of its word vectors): slang, misspellings and new emoji map to `[UNK]`. Not suitable for "
            "decisions about individuals."
        ),
        "citation": (
            "@inproceedings{barbieri2020tweeteval,\n  title={{TweetEval: Unified Benchmark and Comparative Evaluation "
            "for Tweet Classification}},\n  author={Barbieri, Francesco and Camacho-Collados, Jose and Espinosa-Anke, "
            "Luis and Neves, Leonardo},\n  booktitle={Findings of EMNLP},\n  year={2020}\n}"
        ),
    },
    "meld": {
        "pretty_name": "MELD",
        "hub_id": "declare-lab/MELD",
        "language": "en",
        "model_license": "gpl-3.0",
        "widget": [
            {"text": "Oh my God, you guys are getting married?!"},
            {"text": "I just don't think I can do this anymore."},
        ],
        "description": (
            "MELD (Poria et al., 2019) holds 13,708 utterances of 1,433 multi-party dialogues from the TV series "
            "*Friends*, each labelled with one of seven emotions (anger, disgust, fear, joy, neutral, sadness, "
            "surprise); 47% of the training utterances are neutral."
        ),
        "split_protocol": (
            "The official train / dev / test CSVs are used as train / validation / test. Model selection uses the "
            "validation (dev) split only; the test split is evaluated once, with the best-validation weights. "
            "Weighted-F1 is MELD's customary headline metric."
        ),
        "intended_use": (
            "Research on emotion recognition in conversation, as a text-only utterance baseline."
        ),
        "limitations": (
            "Scripted sitcom dialogue is not natural conversation; the emotion of many utterances depends on context, "
            "tone of voice and facial expression that a text-only utterance model does not see. The minority "
            "classes (fear, disgust) are small and their F1 is unstable. Not suitable for decisions about "
            "individuals."
        ),
        "citation": (
            "@inproceedings{poria2019meld,\n  title={{MELD: A Multimodal Multi-Party Dataset for Emotion Recognition "
            "in Conversations}},\n  author={Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and Naik, "
            "Gautam and Cambria, Erik and Mihalcea, Rada},\n  booktitle={ACL},\n  year={2019}\n}"
        ),
    },
    "fer2013": {
        "pretty_name": "FER2013",
        "hub_id": None,
        "language": None,
        "model_license": "other",
        "description": (
            "FER2013 (Goodfellow et al., 2013), the facial-expression dataset of the ICML 2013 *Challenges in "
            "Representation Learning* Kaggle contest: 35,887 48x48 grayscale face crops collected by Google image "
            "search and labelled with one of seven expressions (angry, disgust, fear, happy, sad, surprise, "
            "neutral). Human accuracy on it is estimated at 65 +/- 5% (Goodfellow et al.): the labels are noisy. "
            "Disgust is rare (1.5% of the training images)."
        ),
        "split_protocol": (
            "The official `Usage` split: Training (28,709 images) for training, PublicTest (3,589) for model "
            "selection (best epoch, learning-rate reduction, early stopping) and PrivateTest (3,589) as the test set, "
            "evaluated once with the best-validation weights. Augmentation (flips, small rotations, shifts and zooms) "
            "is applied to training batches only."
        ),
        "intended_use": (
            "Research and teaching on facial-expression recognition from small, roughly aligned grayscale face crops, "
            "and a light CPU baseline to compare larger models against. The input should be a tight crop of one "
            "face (run a face detector first); whole photographs give meaningless predictions."
        ),
        "limitations": (
            "A facial expression is not an emotion: the labels describe posed or spontaneous expressions judged "
            "by annotators, not what a person feels. The images come from web search, with the demographic and "
            "cultural biases that implies, and accuracy differs between groups and between classes (disgust and "
            "fear are the least reliable; neutral and sad are often confused). Not suitable for decisions about "
            "individuals, surveillance, hiring, education or any assessment of a person's state of mind."
        ),
        "citation": (
            "@inproceedings{goodfellow2013challenges,\n  title={Challenges in Representation Learning: A Report on "
            "Three Machine Learning Contests},\n  author={Goodfellow, Ian J. and Erhan, Dumitru and Carrier, Pierre "
            "Luc and Courville, Aaron and Mirza, Mehdi and Hamner, Ben and Cukierski, Will and Tang, Yichuan and "
            "Thaler, David and Lee, Dong-Hyun and others},\n  booktitle={Neural Information Processing (ICONIP)},\n"
            "  pages={117--124},\n  year={2013}\n}"
        ),
    },
    "_default": {
        "pretty_name": "a custom dataset",
        "hub_id": None,
        "description": "A dataset built by one of the package's builders.",
        "split_protocol": "Train / validation / test as provided by the builder; selection on validation only.",
        "intended_use": "Research on emotion recognition.",
        "limitations": "See the dataset's card for its biases and licence.",
        "citation": "",
    },
}

MODEL_INFO = {
    "text_cnn": {
        "description": (
            "A word-level convolutional text classifier (Kim, 2014): word embeddings, parallel 1-D convolutions with "
            "several kernel sizes, pooling over time of each feature map (padding masked), dropout and a linear "
            "layer. The tokenizer is a stock `tokenizers` word-level model whose normalizer does the text cleaning "
            "(HTML, case, digits, punctuation, emoji)."
        ),
        "training_summary": (
            "Trained from scratch (embeddings optionally initialised from GloVe vectors) with the loss, optimizer "
            "and schedule below; early stopping on the validation metric."
        ),
        "tags": ["text-cnn"],
        "usage": """
from transformers import pipeline

classifier = pipeline("text-classification", model="{repo}", trust_remote_code=True)
print(classifier({example}, top_k=None))

# or step by step (AutoTokenizer reads config.json, hence trust_remote_code there too)
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained("{repo}", trust_remote_code=True)
with torch.no_grad():
    logits = model(**tokenizer([{example}], padding=True, truncation=True, return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax(-1))])
""",
        "citation": (
            "@inproceedings{kim2014convolutional,\n  title={Convolutional Neural Networks for Sentence "
            "Classification},\n  author={Kim, Yoon},\n  booktitle={EMNLP},\n  year={2014}\n}"
        ),
    },
}

MODEL_INFO["fer_cnn"] = {
    "description": (
        "A VGG-style convolutional network for facial-expression recognition on 48x48 grayscale faces: "
        "convolutional blocks (3x3 convolutions with zero padding, batch norm, ReLU, 2x2 max pooling, dropout), "
        "fully connected blocks (linear, batch norm, ReLU, dropout) and a linear classifier. The image processor "
        "(`FERImageProcessor`) takes a PIL image, a file path, a numpy array or a tensor, grayscale or colour, of any "
        "size, and resizes and normalises it; RGB input is turned into luminance (ITU-R BT.601) inside the model."
    ),
    "training_summary": (
        "Trained from scratch on the training split with cross-entropy, the optimizer below and the learning rate "
        "reduced when the validation metric stops improving; early stopping on the validation metric. Training "
        "batches are augmented on the fly (settings under `augmentation.*`), validation and test images are not."
    ),
    "tags": ["fer-cnn", "facial-expression-recognition", "image-classification"],
    "usage": """
from transformers import pipeline

classifier = pipeline("image-classification", model="{repo}", trust_remote_code=True)
print(classifier("face.jpg", top_k=None))  # a path, a URL, a PIL image or a numpy array (grayscale or RGB)

# or step by step
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification

processor = AutoImageProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForImageClassification.from_pretrained("{repo}", trust_remote_code=True)
with torch.no_grad():
    logits = model(**processor(Image.open("face.jpg"), return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax(-1))])
""",
    "citation": "",
}

__all__ = ["DATASET_INFO", "MODEL_INFO"]
