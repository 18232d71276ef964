from .speech_emotion import (CALM, CORPORA, ENGLISH_CORPORA, LABEL_MAP, SHARED_LABELS, SpeechEmotion,
                             SpeechEmotionConfig, corpus_shared_labels, default_labels, shared_label)

__all__ = ["CALM", "CORPORA", "ENGLISH_CORPORA", "LABEL_MAP", "SHARED_LABELS", "SpeechEmotion", "SpeechEmotionConfig",
           "corpus_shared_labels", "default_labels", "shared_label"]
