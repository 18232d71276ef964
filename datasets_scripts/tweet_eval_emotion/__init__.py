from .tweet_eval_emotion import LABELS, TweetEvalEmotion, TweetEvalEmotionConfig

__all__ = ["LABELS", "TweetEvalEmotion", "TweetEvalEmotionConfig"]
