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
    # ----- voice datasets (issue 3) -----
    "ravdess": {
        "pretty_name": "RAVDESS (audio-only speech)",
        "hub_id": None,  # no Hub repository by the RAVDESS authors; the data is on Zenodo (record 1188976)
        "language": "en",
        "model_license": "cc-by-nc-sa-4.0",
        "description": (
            "RAVDESS (Livingstone & Russo, 2018): 24 professional actors (12 female, 12 male) say two lexically "
            "matched statements in a neutral North American accent, acting neutral, calm, happy, sad, angry, fearful, "
            "disgust and surprised speech (every emotion but neutral at normal and strong intensity), 1,440 audio-only "
            "files at 48 kHz. Labels are the acted emotions decoded from the file names."
        ),
        "split_protocol": (
            "RAVDESS has no official split. Actors are assigned to K folds balanced by gender (`actor_folds`: "
            "deterministic, women then men dealt round-robin in increasing id order); with the builder's default "
            "K=6 the test split is actors 11, 12, 23, 24, validation 9, 10, 21, 22 and train the other 16, so no "
            "actor's voice is in two splits. Cross-validated results hold out each fold in turn (a fresh model per "
            "fold) and report the mean and standard deviation over folds. Model selection uses validation only."
        ),
        "intended_use": (
            "Research on speech emotion recognition and a reproducible actor-independent benchmark for acted "
            "English speech."
        ),
        "limitations": (
            "Posed emotions by 24 actors with one accent and two sentences: models learn acting conventions and "
            "transfer poorly to spontaneous speech, other accents, noisy or far-field recordings. With 4 held-out "
            "actors per fold, accuracy varies by several points between folds. Calm and neutral are close by design. "
            "The non-commercial licence of the data applies to models trained on it. Not suitable for decisions "
            "about individuals."
        ),
        "citation": (
            "@article{livingstone2018ravdess,\n  title={The Ryerson Audio-Visual Database of Emotional Speech and Song "
            "(RAVDESS): A dynamic, multimodal set of facial and vocal expressions in North American English},\n  "
            "author={Livingstone, Steven R. and Russo, Frank A.},\n  journal={PLoS ONE},\n  volume={13},\n  "
            "number={5},\n  pages={e0196391},\n  year={2018}\n}"
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

__all__ = ["DATASET_INFO", "MODEL_INFO"]
