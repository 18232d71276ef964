from .ravdess import (EMOTIONS, EMOTIONS_BY_CHANNEL, INTENSITIES, MODALITIES, STATEMENTS, VOCAL_CHANNELS, Ravdess,
                      RavdessConfig, actor_folds, actor_gender, parse_file_name, read_ravdess)

__all__ = ["EMOTIONS", "EMOTIONS_BY_CHANNEL", "INTENSITIES", "MODALITIES", "STATEMENTS", "VOCAL_CHANNELS", "Ravdess",
           "RavdessConfig", "actor_folds", "actor_gender", "parse_file_name", "read_ravdess"]
