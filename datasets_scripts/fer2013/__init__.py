from .fer2013 import LABELS, USAGE_TO_SPLIT, Fer2013, Fer2013Config

__all__ = ["LABELS", "USAGE_TO_SPLIT", "Fer2013", "Fer2013Config"]
