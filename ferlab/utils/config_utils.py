"""Config helpers shared by the tools."""

from __future__ import annotations

from typing import Any

from mmengine.config import Config


def _replace_root(node: Any, old: str, new: str) -> int:
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root' and value == old:
                node[key] = new
                count += 1
            else:
                count += _replace_root(value, old, new)
    elif isinstance(node, (list, tuple)):
        for item in node:
            count += _replace_root(item, old, new)
    return count


def apply_cfg_options(cfg: Config, options: dict | None) -> Config:
    """Merge ``--cfg-options`` and propagate a top-level ``data_root`` override.

    Base dataset configs define ``data_root`` once and use it in every
    dataloader; by the time the file is loaded those copies are plain
    strings. ``--cfg-options data_root=/x`` therefore replaces every dataset
    ``data_root`` equal to the config's original value.
    """
    if not options:
        return cfg
    old_root = cfg.get('data_root')
    cfg.merge_from_dict(options)
    new_root = options.get('data_root')
    if isinstance(old_root, str) and isinstance(new_root, str) and new_root != old_root:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key) is not None:
                _replace_root(cfg[key], old_root, new_root)
    return cfg
