"""ferlab's registries.

Every registry is a child of the matching mmengine root registry, so that a
config with ``default_scope='ferlab'`` resolves ``type='X'`` to ferlab's
``X`` first and falls back to mmengine's. ``BACKBONES``, ``NECKS``, ``HEADS``,
``LOSSES`` and ``CLASSIFIERS`` are aliases of :data:`MODELS` (as in
mmpretrain): sibling registries could not see each other's modules inside one
model config.

An unknown ``type`` raises a ``KeyError`` that names the registry and the
closest registered names.

Run ``python -m ferlab.registry`` to print every registry and its members.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Callable

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry, build_from_cfg

_NOT_FOUND = re.compile(r"^'?(?P<type>.+?) is not in the (?:(?P<scope>[^:\s]+)::)?(?P<name>.+?) registry")


def _close_names(name: str, names: list[str], n: int = 5) -> list[str]:
    """The entries of ``names`` closest to ``name`` (case-insensitive)."""
    lowered = {x.lower(): x for x in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[c] for c in close]


def _unknown_type_error(obj_type: str, registry: Registry) -> KeyError:
    """The ``KeyError`` raised for an unregistered ``type``: registry + closest names."""
    if isinstance(registry, FerRegistry):
        close = registry.suggest(obj_type)
    else:
        registry.import_from_location()
        names = set(registry._module_dict)
        for child in registry.children.values():
            names.update(f'{child.scope}.{n}' for n in child._module_dict)
        close = _close_names(obj_type, sorted(names))
    hint = f'closest registered names: {close}' if close else 'no similar name is registered'
    return KeyError(
        f'type={obj_type!r} is not registered in registry {registry.name!r} (scope '
        f'{registry.scope!r}); {hint}. Check the spelling, register the class with '
        f'@<REGISTRY>.register_module(), or load the module that defines it with '
        f'custom_imports=dict(imports=[...]) in the config (see docs/plugins.md). '
        f'List every registered name with `python -m ferlab.registry`.'
    )


def _improve_key_error(err: KeyError, cfg, registry: Registry) -> KeyError | None:
    """Rewrite mmengine's "X is not in the scope::name registry" error, else ``None``."""
    msg = str(err.args[0]) if err.args else ''
    match = _NOT_FOUND.match(msg)
    obj_type = cfg.get('type') if hasattr(cfg, 'get') else None
    if match is None or 'closest' in msg or not isinstance(obj_type, str) or match['type'] != obj_type:
        return None
    target = registry
    scope = match['scope']
    if scope is not None and scope != registry.scope:
        # build_from_cfg switched to the child of the current default scope.
        root = registry._get_root_registry()
        found = root if root.scope == scope else root._search_child(scope)
        if found is not None:
            target = found
    return _unknown_type_error(obj_type, target)


def _wrap_build_func(build_func: Callable) -> Callable:
    """Wrap a registry's ``build_func`` so unknown types name the closest names.

    mmengine's ``Registry.build`` calls ``build_func(cfg, ..., registry=self)``;
    the Runner builds through mmengine's *root* registries, whose
    ``build_from_cfg`` switches to ferlab's child for ``default_scope='ferlab'``
    and raises a bare ``KeyError`` when ``get`` returns ``None``. ``get`` keeps
    returning ``None`` (mmengine relies on it); only that error is rewritten.
    """
    if getattr(build_func, '_ferlab_wrapped', False):
        return build_func

    @functools.wraps(build_func)
    def wrapped(cfg, *args, **kwargs):
        try:
            return build_func(cfg, *args, **kwargs)
        except KeyError as err:
            registry = kwargs.get('registry', args[0] if args else None)
            better = _improve_key_error(err, cfg, registry) if isinstance(registry, Registry) else None
            if better is None:
                raise
            raise better from None

    wrapped._ferlab_wrapped = True
    return wrapped


class FerRegistry(Registry):
    """A :class:`mmengine.registry.Registry` whose lookup failures are helpful.

    ``get`` returns ``None`` for an unknown name (mmengine relies on that);
    building an unknown ``type`` raises a ``KeyError`` that names the registry
    and the closest registered names of this registry, its parent and the
    parent's other children. That comes from the wrapped ``build_func`` it
    inherits from its mmengine parent (wrapped in :func:`_child`), so direct
    builds and the Runner's builds through mmengine's roots raise the same
    message.
    """

    def visible_names(self) -> list[str]:
        """All names ``type=`` can resolve to from this registry."""
        names = set(self._module_dict)
        if self.parent is not None:
            names.update(self.parent._module_dict)
            for child in self.parent.children.values():
                if child is not self:
                    names.update(f'{child.scope}.{n}' for n in child._module_dict)
        return sorted(names)

    def suggest(self, name: str, n: int = 5) -> list[str]:
        """Registered names closest to ``name`` (case-insensitive)."""
        self.import_from_location()
        return _close_names(name, self.visible_names(), n)


def _child(name: str, parent: Registry, locations: list[str]) -> FerRegistry:
    parent.build_func = _wrap_build_func(parent.build_func)
    return FerRegistry(name, parent=parent, scope='ferlab', locations=locations)


RUNNERS = _child('runner', MMENGINE_RUNNERS, ['ferlab.engine'])
RUNNER_CONSTRUCTORS = _child('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS, ['ferlab.engine'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['ferlab.engine'])
HOOKS = _child('hook', MMENGINE_HOOKS, ['ferlab.engine'])
LOG_PROCESSORS = _child('log processor', MMENGINE_LOG_PROCESSORS, ['ferlab.engine'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['ferlab.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, ['ferlab.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, ['ferlab.engine']
)
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, ['ferlab.engine'])

DATASETS = _child('dataset', MMENGINE_DATASETS, ['ferlab.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, ['ferlab.datasets'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['ferlab.datasets'])

MODELS = _child('model', MMENGINE_MODELS, ['ferlab.models'])
BACKBONES = MODELS
NECKS = MODELS
HEADS = MODELS
LOSSES = MODELS
CLASSIFIERS = MODELS
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, ['ferlab.models'])
WEIGHT_INITIALIZERS = _child('weight initializer', MMENGINE_WEIGHT_INITIALIZERS, ['ferlab.models'])

METRICS = _child('metric', MMENGINE_METRICS, ['ferlab.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['ferlab.evaluation'])

VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, ['ferlab.visualization'])
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, ['ferlab.visualization'])

#: Face detectors for inference (``ferlab.inference.detectors``); no mmengine counterpart.
FACE_DETECTORS = FerRegistry(
    'face detector',
    scope='ferlab',
    locations=['ferlab.inference'],
    build_func=_wrap_build_func(build_from_cfg),
)

#: Registries listed by ``python -m ferlab.registry``; the aliases share MODELS.
ALL_REGISTRIES = {
    'RUNNERS': RUNNERS,
    'LOOPS': LOOPS,
    'HOOKS': HOOKS,
    'LOG_PROCESSORS': LOG_PROCESSORS,
    'OPTIMIZERS': OPTIMIZERS,
    'OPTIM_WRAPPERS': OPTIM_WRAPPERS,
    'OPTIM_WRAPPER_CONSTRUCTORS': OPTIM_WRAPPER_CONSTRUCTORS,
    'PARAM_SCHEDULERS': PARAM_SCHEDULERS,
    'DATASETS': DATASETS,
    'DATA_SAMPLERS': DATA_SAMPLERS,
    'TRANSFORMS': TRANSFORMS,
    'MODELS (BACKBONES, NECKS, HEADS, LOSSES, CLASSIFIERS)': MODELS,
    'MODEL_WRAPPERS': MODEL_WRAPPERS,
    'WEIGHT_INITIALIZERS': WEIGHT_INITIALIZERS,
    'METRICS': METRICS,
    'EVALUATOR': EVALUATOR,
    'VISUALIZERS': VISUALIZERS,
    'VISBACKENDS': VISBACKENDS,
    'FACE_DETECTORS': FACE_DETECTORS,
}


def list_modules(include_parent: bool = False) -> dict[str, list[str]]:
    """Return ``{registry: sorted member names}`` after importing all of ferlab."""
    import ferlab.datasets  # noqa: F401
    import ferlab.engine  # noqa: F401
    import ferlab.evaluation  # noqa: F401
    import ferlab.inference  # noqa: F401
    import ferlab.models  # noqa: F401
    import ferlab.visualization  # noqa: F401

    out = {}
    for title, reg in ALL_REGISTRIES.items():
        names = set(reg._module_dict)
        if include_parent and reg.parent is not None:
            names.update(f'mmengine.{n}' for n in reg.parent._module_dict)
        out[title] = sorted(names)
    return out


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description='Print every ferlab registry and its members.')
    parser.add_argument('--parent', action='store_true', help="also list mmengine's members")
    args = parser.parse_args(argv)
    for title, names in list_modules(args.parent).items():
        print(f'{title} ({len(names)})')
        for n in names:
            print(f'  {n}')


if __name__ == '__main__':
    # ``python -m ferlab.registry`` runs this file as ``__main__``; let every later
    # ``import ferlab.registry`` reuse it instead of registering each child twice.
    import sys

    sys.modules.setdefault('ferlab.registry', sys.modules[__name__])
    main()
