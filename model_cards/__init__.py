"""Model cards: `render_model_card` writes a trained model's Hub `README.md` from its results."""

from .card import render_model_card
from .info import DATASET_INFO, dataset_card_info, model_card_info

__all__ = ["DATASET_INFO", "dataset_card_info", "model_card_info", "render_model_card"]
