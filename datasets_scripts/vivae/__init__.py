from .vivae import (EMOTIONS, INTENSITIES, LABELS, SUBSETS, Vivae, VivaeConfig, find_subset_folder, parse_file_name,
                    read_vivae)

__all__ = ["EMOTIONS", "INTENSITIES", "LABELS", "SUBSETS", "Vivae", "VivaeConfig", "find_subset_folder",
           "parse_file_name", "read_vivae"]
