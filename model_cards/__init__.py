"""Model cards: `render_model_card` writes a trained model's Hub `README.md` from its results."""

from .card import render_model_card
from .info import DATASET_INFO, MODEL_INFO

__all__ = ["DATASET_INFO", "MODEL_INFO", "render_model_card"]
