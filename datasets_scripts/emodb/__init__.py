from .emodb import (DOWNLOAD_URL, EMOTIONS, EMOTION_CODES, GERMAN_NAMES, MANUAL_DOWNLOAD_INSTRUCTIONS, SPEAKERS, TEXTS,
                    EmoDB, parse_file_name, read_emodb)

__all__ = ["DOWNLOAD_URL", "EMOTIONS", "EMOTION_CODES", "EmoDB", "GERMAN_NAMES",
           "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "TEXTS", "parse_file_name", "read_emodb"]
