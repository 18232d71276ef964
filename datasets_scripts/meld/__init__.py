from .meld import EMOTIONS, RAW_URL, SENTIMENTS, Meld, MeldConfig, decode_clip

__all__ = ["EMOTIONS", "RAW_URL", "SENTIMENTS", "Meld", "MeldConfig", "decode_clip"]
