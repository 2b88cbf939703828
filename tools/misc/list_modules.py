"""Print every ferlab registry and its members.

Usage: ``python tools/misc/list_modules.py [--parent]`` (same as
``python -m ferlab.registry``); ``--parent`` also lists mmengine's members.
"""

from __future__ import annotations

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ferlab.registry import main  # noqa: E402

if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
