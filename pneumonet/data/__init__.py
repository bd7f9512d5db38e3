"""Data: catalog, patient-level splits, safe image loading, synthetic data, download."""

from pneumonet.data.catalog import (CLASS_NAMES, SPLITS, build_catalog, drop_unreadable, inspect_images,
                                    parse_filename, summarize)
from pneumonet.data.download import find_data_root, resolve_data_dir
from pneumonet.data.images import load_image
from pneumonet.data.splits import (assign_subsets, check_folds, class_weights, patient_groups, split_train_val,
                                   subset)
from pneumonet.data.synthetic import is_synthetic, write_synthetic_dataset

__all__ = ["CLASS_NAMES", "SPLITS", "assign_subsets", "build_catalog", "check_folds", "class_weights",
           "drop_unreadable", "find_data_root", "inspect_images", "is_synthetic", "load_image", "parse_filename",
           "patient_groups", "resolve_data_dir", "split_train_val", "subset", "summarize", "write_synthetic_dataset"]
