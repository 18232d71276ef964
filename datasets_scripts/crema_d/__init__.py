from .crema_d import (DEMOGRAPHICS_FILE, EMOTIONS, EMOTION_CODES, INTENSITIES, LEVEL_CODES,
                      MANUAL_DOWNLOAD_INSTRUCTIONS, SENTENCES, CremaD, parse_file_name, read_crema_d, read_demographics)

__all__ = ["DEMOGRAPHICS_FILE", "EMOTIONS", "EMOTION_CODES", "INTENSITIES", "LEVEL_CODES",
           "MANUAL_DOWNLOAD_INSTRUCTIONS", "SENTENCES", "CremaD", "parse_file_name", "read_crema_d", "read_demographics"]
