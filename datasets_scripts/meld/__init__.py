from .meld import EMOTIONS, SENTIMENTS, Meld, MeldConfig

__all__ = ["EMOTIONS", "SENTIMENTS", "Meld", "MeldConfig"]
