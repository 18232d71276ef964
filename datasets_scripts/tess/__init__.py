from .tess import (EMOTIONS, EMOTION_CODES, MANUAL_DOWNLOAD_INSTRUCTIONS, SPEAKERS, Tess, TessConfig, parse_file_name,
                   read_tess)

__all__ = ["EMOTIONS", "EMOTION_CODES", "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "Tess", "TessConfig",
           "parse_file_name", "read_tess"]
