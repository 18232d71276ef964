from .savee import EMOTIONS, EMOTION_CODES, MANUAL_DOWNLOAD_INSTRUCTIONS, SPEAKERS, Savee, parse_file_name, read_savee

__all__ = ["EMOTIONS", "EMOTION_CODES", "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "Savee", "parse_file_name",
           "read_savee"]
