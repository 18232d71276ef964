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
    "erc_fusion": {
        "description": (
            "A multimodal model for emotion recognition in conversation (ERC). Per utterance it encodes the text "
            "(GPT2's last-token state over a prompt holding the dialogue so far, one `speaker: utterance` line per "
            "turn with the target turn marked, or a mean word embedding of the target and context utterances), the "
            "voice (wav2vec2 frame states pooled with mean and max, or an MLP over raw-waveform frames) and the face "
            "(a timm CNN, ResNet50 by default, over equidistant video frames), projects each modality to a common "
            "width, fuses them by concatenation or multi-head attention over the modality vectors, then applies "
            "feed-forward layers, optional L2 normalisation and a linear classifier. This checkpoint reads the "
            "modalities listed in `config.modalities`. The processor (`ERCProcessor`) builds the prompt (truncated "
            "from the oldest turn so the target turn always stays), the audio features and the frame tensors; the "
            "`emotion-recognition-in-conversation` pipeline ships in the repository."
        ),
        "training_summary": (
            "Encoders start from the pretrained backbones named in `erc_backbones` (none: trained from scratch, the "
            "mean embeddings optionally from GloVe vectors), the fusion and classifier from random weights; trained "
            "with the loss below (class weights, when used, come from the training split's label counts in "
            "label-id order), optionally plus a batch-hard triplet loss on class-balanced batches; early stopping "
            "on the validation (dev) weighted-F1."
        ),
        "tags": ["emotion-recognition-in-conversation", "multimodal", "meld"],
        "usage": """
from transformers import pipeline

erc = pipeline("emotion-recognition-in-conversation", model="{repo}", trust_remote_code=True)
dialogue = [
    {{"speaker": "Monica", "utterance": "Okay, everybody relax. This is not even a date."}},
    {{"speaker": "Joey", "utterance": "C'mon, you're going out with the guy! There's gotta be something wrong with him!"}},
]
print(erc(dialogue))  # emotion of the last turn: [{{"label": ..., "score": ...}}, ...]

# A model that reads audio and video also takes the last turn's 16 kHz mono waveform and frames (PIL images):
# erc({{"dialogue": dialogue, "audio": waveform, "frames": frames}})

# or step by step
import torch
from transformers import AutoModelForSequenceClassification, AutoProcessor

processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained("{repo}", trust_remote_code=True).eval()
with torch.no_grad():
    outputs = model(**processor(dialogues=[dialogue]))
print(model.config.id2label[int(outputs.logits.argmax(-1))], outputs.fusion_attentions)
""",
        "citation": (
            "@article{radford2019language,\n  title={Language Models are Unsupervised Multitask Learners},\n  "
            "author={Radford, Alec and Wu, Jeffrey and Child, Rewon and Luan, David and Amodei, Dario and Sutskever, "
            "Ilya},\n  year={2019}\n}\n@inproceedings{baevski2020wav2vec,\n  title={wav2vec 2.0: A Framework for "
            "Self-Supervised Learning of Speech Representations},\n  author={Baevski, Alexei and Zhou, Henry and "
            "Mohamed, Abdelrahman and Auli, Michael},\n  booktitle={NeurIPS},\n  year={2020}\n}\n"
            "@inproceedings{he2016deep,\n  title={Deep Residual Learning for Image Recognition},\n  author={He, "
            "Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},\n  booktitle={CVPR},\n  year={2016}\n}"
        ),
    },
}

__all__ = ["DATASET_INFO", "MODEL_INFO"]
