"""Models: backbone registry, heads, ``build_model``, fine-tuning utilities, safe saving."""

from pneumonet.models.builder import build_model
from pneumonet.models.finetune import (backbone_layers, describe_trainable, freeze_backbone, head_layer_list,
                                       trainable_summary, unfreeze)
from pneumonet.models.heads import HEADS, HeadSpec
from pneumonet.models.registry import BACKBONES, get_backbone, list_backbones
from pneumonet.models.saving import (check_against_record, file_sha256, input_size, load_model, read_metadata,
                                     save_model, update_metadata)

__all__ = ["BACKBONES", "HEADS", "HeadSpec", "backbone_layers", "build_model", "describe_trainable",
           "freeze_backbone", "get_backbone", "head_layer_list", "input_size", "list_backbones", "load_model",
           "read_metadata", "save_model", "trainable_summary", "unfreeze", "update_metadata", "check_against_record",
           "file_sha256"]
