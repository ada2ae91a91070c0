"""Third-party plugins: ``bench.methods`` entry points of installed packages, and ``--plugin``
modules or files. Each registers through the same decorators as the built-ins."""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from bench.contract.method import Method
from bench.errors import BenchError, first_line
from bench.registry import DATASETS, METHODS, PROTOCOLS, defined_in, register_method


@dataclass
class _Loaded:
    done: bool = False
    plugins: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)  # what entry points imported: workers import it too
    files: dict[str, list[str]] = field(default_factory=dict)  # plugin file -> the methods it registered


_state = _Loaded()


def load_plugins() -> None:
    """Find the built-in methods, datasets and protocols, then load every ``bench.methods`` entry point."""
    if _state.done:
        return
    _state.done = True
    for registry in (METHODS, DATASETS, PROTOCOLS):
        registry.discover()
    for ep in entry_points(group="bench.methods"):
        load_entry_point(ep)


def load_entry_point(ep: EntryPoint) -> list[str]:
    """Load one plugin; the names of the methods it registered.

    An entry point names a module (its decorators register its methods) or a ``Method`` subclass
    (registered under the entry point's name, family ``third-party``, unless its decorator already
    registered it). Every method a package registers records the package's name and version.
    """
    before = set(METHODS.names())
    try:
        _load_entry_point(ep)
    except BenchError:
        raise
    except Exception as exc:  # a broken third-party plugin ends in one line that names it
        raise BenchError(
            f"plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    package = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    added = sorted(set(METHODS.names()) - before)
    for name in added:
        METHODS.annotate(name, distribution=package)
    _state.plugins.append(f"{ep.name} = {ep.value}" + (f" ({package})" if package else ""))
    _state.modules.add(ep.module)
    return added


def _load_entry_point(ep: EntryPoint) -> None:
    obj = ep.load()
    if isinstance(obj, ModuleType):
        return
    if isinstance(obj, type) and issubclass(obj, Method):
        if not any(cls is obj for _, cls in METHODS):
            register_method(ep.name, family="third-party")(obj)
        return
    raise BenchError(
        f"plugin {ep.name!r} ({ep.value}) names {type(obj).__name__} {getattr(obj, '__name__', '')!s}, "
        "not a module or a bench Method subclass"
    )


def loaded_plugins() -> list[str]:
    return list(_state.plugins)


def load_user_plugin(spec: str) -> list[str]:
    """Import a plugin given as a module name or a path to a .py file; its decorators register it.
    Returns the names of the methods it registered."""
    before = set(METHODS.names())
    others_before = _datasets_and_protocols()
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise BenchError(f"--plugin {spec}: no such file")
        if str(path.resolve()) in _state.files:  # named twice (--plugin F check F): loaded once
            return _state.files[str(path.resolve())]
        mod_spec = importlib.util.spec_from_file_location(plugin_module(spec), path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:  # the author's file: one line with where it broke
            del sys.modules[mod_spec.name]
            raise BenchError(
                f"plugin {spec}{_where(exc, path)}: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
        _state.files[str(path.resolve())] = sorted(set(METHODS.names()) - before)
        others = _datasets_and_protocols() - others_before
        if not _state.files[str(path.resolve())] and not others:
            raise BenchError(
                f"--plugin {spec} registers no method, dataset or protocol "
                "(@register_method, @register_dataset or @register_protocol)"
            )
    else:
        try:
            importlib.import_module(spec)
        except ImportError as exc:
            raise BenchError(f"--plugin {spec}: {exc}") from None
    return sorted(set(METHODS.names()) - before)


def plugin_module(spec: str) -> str:
    """The module name a ``--plugin`` module or file is imported as."""
    return f"bench_user_plugin_{Path(spec).stem}" if spec.endswith(".py") else spec


def _datasets_and_protocols() -> set[str]:
    return {f"dataset {n}" for n in (*DATASETS.names(), *DATASETS.families())} | {
        f"protocol {n}" for n in PROTOCOLS.names()
    }


def _where(exc: BaseException, path: Path) -> str:
    """``:LINE`` of the last frame in the plugin's own file, where the traceback has one."""
    import traceback

    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    lines = [
        f.lineno
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve() == path.resolve()
    ]
    return f":{lines[-1]}" if lines else ""


# ---- plugins defined where the researcher is: shipped to workers by value ---------------------

# What a cell needs in its worker (datasets travel loaded, from the sweep's process).
SHIPPED = {"method": METHODS, "protocol": PROTOCOLS}


def shipment(
    methods: Iterable[str] = (), protocols: Iterable[str] = (), plugins: Iterable[str] = ()
) -> bytes:
    """The named methods and protocols that this process registered and a worker process (local or
    Ray) could not register itself, each pickled by value: those of a notebook's or a script's
    ``__main__``, or of a module it imported by hand. What bench's own modules, entry points and the
    ``plugins`` specs (which every worker loads) register is not sent, nor pickled."""
    import cloudpickle

    own = {"bench", *_state.modules, *map(plugin_module, plugins)}
    entries = []
    for kind, names in (("method", methods), ("protocol", protocols)):
        registry = SHIPPED[kind]
        for name in dict.fromkeys(names):
            if name not in registry:  # a family member (``pyod:HBOS``): its family resolves it anywhere
                continue
            info, obj = registry.get(name)
            module = defined_in(obj)
            if module.split(".")[0] in own or module in own:
                continue
            entries.append((kind, name, _by_value(cloudpickle, kind, info, obj, module)))
    return pickle.dumps(entries)


def _by_value(cloudpickle: ModuleType, kind: str, info: object, obj: object, module: str) -> bytes:
    by_value = module != "__main__" and module in sys.modules  # __main__ always goes by value
    if by_value:
        cloudpickle.register_pickle_by_value(sys.modules[module])
    try:
        return cloudpickle.dumps((info, obj))
    except Exception as exc:
        raise BenchError(
            f"{kind} {info.name!r} cannot be sent to worker processes ({type(exc).__name__}: "
            f"{first_line(exc)}): define it in a file and pass the file with --plugin / plugins="
        ) from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(sys.modules[module])


def receive(blob: bytes | None) -> None:
    """Register the shipped entries this process does not hold already (``shipment``)."""
    if not blob:
        return
    for kind, name, entry in pickle.loads(blob):
        registry = SHIPPED[kind]
        if name not in registry:
            info, obj = pickle.loads(entry)
            registry.add(info, obj)
