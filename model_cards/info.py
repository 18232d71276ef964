"""What a model card says about each dataset and model family (the numbers come from the run itself); a family's own
texts are part of its declaration (`modeling/families.py`)."""

# What a model card says about a dataset beyond what its builder holds: the Hub id of the data, widget examples, and how
# this package's recipes split it, what models trained on it are for and where they fail. The dataset's description,
# citation, licence, pretty name and language come from its builder (`dataset_card_info`), never from a copy here.
DATASET_INFO = {
    "tweet_eval_emotion": {
        "hub_id": "cardiffnlp/tweet_eval",
        "widget": [
            {"text": "Cannot believe they cancelled my flight AGAIN. Worst airline ever #furious"},
            {"text": "Just got the job!!! Best day of my life 😂"},
            {"text": "Tomorrow is a new day, keep believing and things will get better #hope"},
        ],
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
    },
    "meld": {
        "hub_id": "declare-lab/MELD",
        "widget": [
            {"text": "Oh my God, you guys are getting married?!"},
            {"text": "I just don't think I can do this anymore."},
        ],
        "split_protocol": (
            "The official train / dev / test CSVs are used as train / validation / test. Model selection uses the "
            "validation (dev) split only; the test split is evaluated once, with the best-validation weights. "
            "Weighted-F1 is MELD's customary headline metric."
        ),
        "intended_use": (
            "Research on emotion recognition in conversation (text, voice and face of each utterance)."
        ),
        "limitations": (
            "Scripted sitcom dialogue is not natural conversation; the emotion of many utterances depends on context, "
            "tone of voice and facial expression that text-only models do not see. The minority "
            "classes (fear, disgust) are small and their F1 is unstable. Not suitable for decisions about "
            "individuals."
        ),
    },
    # ----- voice datasets (issue 3) -----
    "emodb": {
        "hub_id": None,  # distributed by its authors at emodb.bilderbar.info, not on the Hub
        "split_protocol": (
            "Speaker-independent: leave-one-speaker-out cross-validation (10 folds, each tested on one speaker's "
            "utterances and never trained on them), each fold's model chosen on two validation speakers held out of "
            "its nine training speakers. Reported figures are the mean and standard deviation over the 10 folds; the "
            "confusion matrix pools every utterance's out-of-fold prediction."
        ),
        "intended_use": "Research on speech emotion recognition in German acted speech.",
        "limitations": (
            "Posed emotions by 10 actors reading 10 sentences in a studio: models learn acting conventions and "
            "transfer poorly to spontaneous speech, other languages or noisy recordings. One held-out speaker per "
            "fold (about 50 utterances) makes per-fold accuracy vary by several points. Not suitable for decisions "
            "about individuals."
        ),
    },
    "ravdess": {
        "hub_id": None,  # no Hub repository by the RAVDESS authors; the data is on Zenodo (record 1188976)
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
    },
    "tess": {
        "hub_id": None,  # distributed on Borealis (doi:10.5683/SP2/E8H2MF), no Hub repository by the authors
        "split_protocol": (
            "With two speakers, three speaker-disjoint splits are impossible. Default: the test split is every file "
            "of the younger speaker (YAF); the older speaker's files are split by word into train and validation "
            "(validation: one word fold of ten). The alternative `split_by=\"word\"` gives word-disjoint splits "
            "holding both speakers. Model selection uses validation only."
        ),
        "intended_use": "Research on speech emotion recognition; a component of the merged acted-speech corpus.",
        "limitations": (
            "Two female speakers, single words in one carrier phrase, very stereotyped acted prosody: within-corpus "
            "accuracy is near ceiling and says little about other voices, male speakers or natural speech. The "
            "test split is a single speaker. Not suitable for decisions about individuals."
        ),
    },
    "savee": {
        "hub_id": None,  # distributed by the University of Surrey after registration
        "split_protocol": (
            "Speaker-disjoint: one speaker per fold; by default train DC and JE, validation JK, test KL. With four "
            "speakers, leave-one-speaker-out cross-validation gives a far more reliable estimate than one split."
        ),
        "intended_use": "Research on speech emotion recognition; a component of the merged acted-speech corpus.",
        "limitations": (
            "Four male speakers from one university, acted emotions: no female voices and almost no speaker "
            "diversity; a single test speaker makes the test figure very noisy. Not suitable for decisions about "
            "individuals."
        ),
    },
    "crema_d": {
        "hub_id": None,  # the authors publish on GitHub (CheyneyComputerScience/CREMA-D, Git LFS), not on the Hub
        "split_protocol": (
            "Actor-disjoint: actors are assigned to 10 folds balanced by gender (from the repository's "
            "VideoDemographics.csv); test = fold 9, validation = fold 8, train = the others (about 73 / 9 / 9 actors). "
            "Model selection uses validation only."
        ),
        "intended_use": "Research on speech emotion recognition across many speakers and demographics.",
        "limitations": (
            "Acted emotions on 12 sentences; the labels are the emotions the actors were asked to portray, and raters "
            "often perceived another emotion from the voice alone, so the targets are noisy. Demographic groups are "
            "unevenly represented. Not suitable for decisions about individuals."
        ),
    },
    "vivae": {
        "hub_id": None,  # published on Zenodo (record 4066235)
        "split_protocol": (
            "No official split. Speaker-disjoint: the speakers are dealt round-robin over 5 folds; test = fold 4 "
            "(full set: S05, S10), validation = fold 3 (S04, S09), train = the other seven speakers. Cross-validated "
            "results hold out each fold in turn with a fresh model; selection on validation only."
        ),
        "intended_use": "Research on emotion and intensity recognition from nonverbal vocalisations.",
        "limitations": (
            "Eleven speakers and posed studio vocalisations: a small corpus whose test folds hold two speakers, so "
            "fold-to-fold variance is large. Low-intensity vocalisations of different emotions are hard to tell "
            "apart, also for human listeners. Not suitable for decisions about individuals."
        ),
    },
    "speech_emotion": {
        "hub_id": None,  # built locally from the corpora
        "split_protocol": (
            "Speaker-disjoint, speakers prefixed by their corpus: each corpus is dealt on its own over 5 folds, "
            "balanced by gender, starting at the test fold, so every corpus has a speaker in the test split and "
            "corpora with fewer speakers than folds (TESS, SAVEE) keep their other speakers in train. Test = fold 4, "
            "validation = fold 3. Selection on validation only."
        ),
        "intended_use": ("Research on speech emotion recognition across several acted corpora, and on how models "
                         "trained on some corpora do on the recordings of another (leave-one-corpus-out)."),
        "limitations": (
            "All corpora are acted studio speech with few sentences; their recording conditions differ, so a model "
            "can learn to recognise the corpus rather than the emotion: check accuracy per source, and the "
            "cross-corpus figures (recordings of a corpus the model never heard) before trusting a model on your "
            "own recordings. TESS and SAVEE "
            "contribute many files but only 2 and 4 speakers. The licences of all four corpora apply (several are "
            "non-commercial). Not suitable for decisions about individuals."
        ),
    },
    "fer2013": {
        "hub_id": None,
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
    },
    "_default": {
        "pretty_name": "a custom dataset",
        "hub_id": None,
        "description": "A dataset built by one of the package's builders.",
        "split_protocol": "Train / validation / test as provided by the builder; selection on validation only.",
        "intended_use": "Research on emotion recognition.",
        "limitations": "See the dataset's card for its biases and licence.",
        "citation": "",
        "license_id": "other",
    },
}


def dataset_card_info(name: str) -> dict:
    """What the model card of a model trained on dataset `name` says about the data: its builder's `description`,
    `citation`, `license` and `homepage` and its dataset card's `pretty_name`, `language` and `license_id`
    (`datasets_scripts.builder_texts`), with this module's `DATASET_INFO` entry (`_default`'s texts for a dataset that
    has none, and for a name that is not one of the package's builders)."""
    from emotion_hub.datasets_scripts import BUILDERS, builder_texts

    if name not in BUILDERS:
        return dict(DATASET_INFO["_default"])
    return {**DATASET_INFO["_default"], "pretty_name": name, **DATASET_INFO.get(name, {}),
            **{key: value for key, value in builder_texts(name).items() if value is not None}}


def model_card_info(model_type: str) -> dict:
    """What the model card of a model of `model_type` says about its family: the card of its declaration
    (`modeling/families.py`): `description`, `training_summary`, `tags`, `usage` and `citation`."""
    import dataclasses

    from emotion_hub.modeling.families import family_of

    return dataclasses.asdict(family_of(model_type).card)


__all__ = ["DATASET_INFO", "dataset_card_info", "model_card_info"]
