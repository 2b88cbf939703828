"""What ``tools/train.py`` and ``tools/test.py`` share, and the error entry of every tool.

* :func:`config_parser` — the arguments every config-driven tool takes
  (``config``, ``--work-dir``, ``--cfg-options``, ``--launcher``,
  ``--local_rank``, ``--debug``).
* :func:`load_config` — registries, the config file, ``--cfg-options``, the
  work-dir default and ``custom_imports``, in that order.
* :func:`init_distributed` — the ``--launcher`` set-up (see
  :func:`ferlab.utils.init_cpu_distributed`).
* :func:`run_tool` — the command-line entry of every ``tools/**/*.py``: a
  :class:`~ferlab.utils.errors.FerlabInputError` ends the tool with exactly
  one ``<tool>: error: <message>`` line on stderr and exit code 2, also when
  mmengine's Runner or a DataLoader worker re-raised it (the exception chain
  and torch's worker wrapper are searched); ``--debug`` or
  ``FERLAB_DEBUG=1`` prints the traceback above that line. Any other
  exception keeps its traceback and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import sys
import traceback
from typing import Any, Callable, Sequence

from mmengine.config import Config, DictAction

from .config_utils import apply_cfg_options
from .errors import FerlabInputError, InputFileNotFoundError
from .setup_env import init_cpu_distributed, register_all_modules

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# ----------------------------------------------------------------------------- arguments and config
def config_parser(
    description: str,
    work_dir_help: str,
    cfg_options_help: str = 'override config entries',
    extra_positionals: Sequence[tuple[str, str]] = (),
) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the arguments of every config-driven tool.

    Args:
        description: The tool's one-line description.
        work_dir_help: Help text of ``--work-dir``.
        cfg_options_help: Help text of ``--cfg-options``.
        extra_positionals: ``(name, help)`` of positionals that follow ``config``.

    Returns:
        The parser; the tool adds its own options to it.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    for name, help_text in extra_positionals:
        parser.add_argument(name, help=help_text)
    parser.add_argument('--work-dir', help=work_dir_help)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=cfg_options_help)
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='how the job was started')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=None,
        help='set by torch.distributed.launch; used only with --launcher pytorch when LOCAL_RANK is unset',
    )
    parser.add_argument(
        '--debug',
        action='store_true',
        help='print the traceback of input errors too (same as FERLAB_DEBUG=1)',
    )
    return parser


def default_work_dir(config: str) -> str:
    """``./work_dirs/<config file name without .py>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def import_custom_modules(cfg: Config) -> None:
    """Import ``cfg.custom_imports``.

    ``Config.fromfile`` imports them only when they are written in the config
    file; this also honours ``--cfg-options custom_imports.imports=[pkg.mod]``.
    """
    from mmengine.utils import import_modules_from_strings

    custom = cfg.get('custom_imports')
    if custom:
        import_modules_from_strings(**custom)


def load_config(args: argparse.Namespace) -> Config:
    """Registries, ``args.config``, ``--launcher``, ``--cfg-options``, work dir, custom imports.

    ``cfg.work_dir`` is ``--work-dir`` if given, else the config's own
    ``work_dir``, else :func:`default_work_dir`.

    Raises:
        InputFileNotFoundError: the config file does not exist.
    """
    register_all_modules()
    if not osp.isfile(args.config):
        raise InputFileNotFoundError(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    apply_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    import_custom_modules(cfg)
    return cfg


def init_distributed(cfg: Config, args: argparse.Namespace) -> None:
    """Set up the process group for ``--launcher`` (nothing for ``none``)."""
    if cfg.launcher != 'none':
        init_cpu_distributed(cfg, cfg.launcher, local_rank=getattr(args, 'local_rank', None))


# ----------------------------------------------------------------------------- error entry
_WORKER_RE = re.compile(r'^Caught (?P<name>\w+) in DataLoader worker process \d+\.')


def _input_error_classes() -> dict[str, type]:
    """``{'module.QualName': cls}`` of every (imported) FerlabInputError subclass."""
    out, todo = {}, [FerlabInputError]
    while todo:
        cls = todo.pop()
        out[f'{cls.__module__}.{cls.__qualname__}'] = cls
        todo += cls.__subclasses__()
    return out


def _worker_message(message: str) -> str | None:
    """The original message of a ferlab input error re-raised by torch's DataLoader.

    torch re-raises a worker's exception as ``Caught <Name> in DataLoader worker
    process N.\\nOriginal Traceback ...\\n<module.Name>: <message>`` (as the
    same type when it can be built from that one string, else as a
    ``RuntimeError``).
    """
    match = _WORKER_RE.match(message)
    if match is None:
        return None
    names = [n for n, cls in _input_error_classes().items() if cls.__name__ == match['name']]
    lines = message.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        for name in names:
            if lines[i].startswith(name + ': '):
                return ' '.join([lines[i][len(name) + 2 :], *lines[i + 1 :]])
    return None


def _one_line(message: str) -> str:
    return ' '.join(part.strip() for part in message.splitlines() if part.strip())


def find_input_error(exc: BaseException) -> str | None:
    """The one-line message of the ferlab input error behind ``exc``, or None.

    Searches ``exc``, its ``__cause__`` and ``__context__`` chain (mmengine
    and user hooks may re-raise with context) and torch's DataLoader worker
    wrapper (whose message embeds the original traceback).
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop(0)
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        inner = _worker_message(str(err))
        if inner is not None:
            return _one_line(inner)
        if isinstance(err, FerlabInputError):
            return _one_line(str(err))
        todo += [err.__cause__, err.__context__]
    return None


def debug_requested(argv: Sequence[str]) -> bool:
    """``--debug`` in ``argv`` or ``FERLAB_DEBUG`` set to anything but ''/0/false/no."""
    env = os.environ.get('FERLAB_DEBUG', '').strip().lower()
    return '--debug' in argv or env not in ('', '0', 'false', 'no')


def tool_name(path: str) -> str:
    """``tools/train.py`` for a file of this repository, else the file's name."""
    path = osp.abspath(path)
    if path.startswith(REPO_ROOT + os.sep):
        return osp.relpath(path, REPO_ROOT)
    return osp.basename(path)


def run_tool(main: Callable[[list], Any], tool_file: str, argv: Sequence[str] | None = None) -> Any:
    """Run ``main(argv)`` as a command: input errors end in one line and exit code 2.

    ``--debug`` is removed from ``argv`` before ``main`` sees it (the tools
    whose parsers list it accept it too).

    Args:
        main: The tool's ``main(argv)``.
        tool_file: The tool's ``__file__`` (names it in the message).
        argv: The arguments (default ``sys.argv[1:]``).

    Returns:
        What ``main`` returns.

    Raises:
        SystemExit: code 2 after printing ``<tool>: error: <message>`` for a
            :class:`~ferlab.utils.errors.FerlabInputError`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != '--debug']
    try:
        return main(argv)
    except Exception as err:
        message = find_input_error(err)
        if message is None:
            raise
        if debug:
            traceback.print_exc()
        sys.stderr.write(f'{tool_name(tool_file)}: error: {message}\n')
        sys.stderr.flush()
        raise SystemExit(2) from None
