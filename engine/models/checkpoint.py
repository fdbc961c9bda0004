"""The one safe loader of PyTorch weights files (``torch.save`` checkpoints).

``torch.load(weights_only=True)`` runs no code from the file, but it trusts the sizes the
file declares: a 10 MB file can declare a tensor of a billion floats (torch grows the
storage to fit it), a 3 MB zip member can inflate to gigabytes, and the pickle can point a
storage past the end of its data. So ``load`` checks everything that decides memory
**before** torch reads a tensor:

1. the file is a regular file no larger than the budget (``engine.core.regular_files``);
2. the zip directory (the format of ``torch.save`` since PyTorch 1.6): member count,
   each member's declared size, the compression ratio, and the total against the budget;
3. the pickle (``data.pkl``, bounded in size) is read by a restricted unpickler that
   builds no tensor: every tensor becomes an empty tensor on the "meta" device with the
   declared shape and dtype, after checking that its extent fits its storage and that
   each storage's declared size is the size of its data in the file;
4. the caller's ``check`` runs on that skeleton (a state_dict of meta tensors) and
   compares keys and shapes with the architecture; it raises the caller's own error;
5. only then ``torch.load(weights_only=True)`` reads the file, from the same open file.

The budget comes from the caller's architecture: ``budget_for_parameters(count)`` allows
8 bytes a parameter (float64 files load too) plus a little slack. The older non-zip
format (PyTorch 0.4-1.5) is checked the same way against the sizes stored in the file.

Limits (named constants below; they are structural, not tunable per run):
``MAX_CHECKPOINT_MEMBERS``, ``MAX_CHECKPOINT_PICKLE_BYTES``, ``MAX_COMPRESSION_RATIO``,
``BYTES_PER_PARAMETER``, ``BUDGET_SLACK_BYTES``.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import logging
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

MAX_CHECKPOINT_MEMBERS = 65_536          # a zip member per tensor storage; the largest torchvision model has ~1,500
MAX_CHECKPOINT_PICKLE_BYTES = 8 * 1024 * 1024   # data.pkl of a 1,000-key state_dict is ~100 KB
MAX_COMPRESSION_RATIO = 100              # torch.save never compresses; float weights deflate ~1.1:1
BYTES_PER_PARAMETER = 8                  # float64 checkpoints are the widest common ones
BUDGET_SLACK_BYTES = 1024 * 1024         # headers, buffers such as BatchNorm counters
MAX_TENSOR_DIMS = 16

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class CheckpointError(BadFormat, ValueError):
    """A weights file that is damaged, foreign, hostile or too large; the message names it."""


def budget_for_parameters(count: int) -> int:
    """The most bytes of tensor data a checkpoint of ``count`` parameters may hold."""
    return int(count) * BYTES_PER_PARAMETER + BUDGET_SLACK_BYTES


def parameter_count(source: Any) -> int:
    """Elements in a module's state_dict (parameters and buffers) or in a {name: shape} mapping."""
    if hasattr(source, "state_dict"):
        return sum(int(t.numel()) for t in source.state_dict().values())
    total = 0
    for shape in source.values():
        count = 1
        for side in shape:
            count *= int(side)
        total += count
    return total


def first_mismatch(expected: Mapping[str, tuple[int, ...]], state: Any) -> str | None:
    """How ``state`` (a state dict, of meta or real tensors) fails to match ``expected``
    (key -> shape), as the user should read it: the first missing key, else the first
    unexpected key, else the first key of another shape; None when it matches."""
    if not isinstance(state, Mapping):
        return f"it holds a {type(state).__name__}, not a state dict"
    missing = [k for k in expected if k not in state]
    if missing:
        return f"missing key '{missing[0]}'"
    extra = [k for k in state if k not in expected]
    if extra:
        return f"unexpected key '{str(extra[0])[:80]}'"
    import torch  # what the loader gives back; checked here so callers may read .shape and values

    odd = next((k for k in expected if not isinstance(state[k], torch.Tensor)), None)
    if odd is not None:
        return f"key '{odd}' holds a {type(state[odd]).__name__}, not a tensor"
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k])]
    if wrong:
        return f"key '{wrong[0]}' has shape {tuple(state[wrong[0]].shape)}, expected {tuple(expected[wrong[0]])}"
    return None


def budget_for(module: Any) -> int:
    """``budget_for_parameters`` of a module (it may live on the meta device)."""
    return budget_for_parameters(parameter_count(module))


# --------------------------------------------------------------------------- public API


def load(path: str | os.PathLike[str], *, budget_bytes: int, check: Callable[[Any], Any] | None = None,
         what: str = "weights file") -> Any:
    """The object ``torch.save`` wrote to ``path``, loaded on the CPU with
    ``weights_only=True`` after the checks of the module docstring.

    check: called with the skeleton (the same structure, tensors on the meta device)
    before any tensor is read; it raises to refuse the file. Raises CheckpointError
    (naming the file) for everything else.
    """
    from engine.core.regular_files import RegularFileError, open_regular

    name = str(path)
    try:
        handle = open_regular(path, _file_limit(budget_bytes), what=what,
                              hint="no weights file of this model is that large: is it the right file?")
    except RegularFileError as exc:
        raise CheckpointError(str(exc)) from None
    with handle:
        return _load_stream(handle, name, budget_bytes, check)


def load_archive_member(path: str | os.PathLike[str], member: str, *, budget_bytes: int,
                        check: Callable[[Any], Any] | None = None, what: str = "archive") -> Any:
    """Like ``load`` for a checkpoint stored as ``member`` of the zip archive ``path``
    (published archives of several models). The member's declared size and compression
    ratio are checked before it is inflated, and inflating stops at the declared size."""
    from engine.core.regular_files import RegularFileError, open_regular

    name = f"{path}:{member}"
    try:
        handle = open_regular(path, None, what=what)
    except RegularFileError as exc:
        raise CheckpointError(str(exc)) from None
    limit = _file_limit(budget_bytes)
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
            info = archive.getinfo(member)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable zip archive holding {member} ({exc})") from None
        _check_member(info, name, limit)
        data = _read_member(archive, info, name)
    return _load_stream(io.BytesIO(data), name, budget_bytes, check)


def check_zip_directory(archive: zipfile.ZipFile, name: str, max_total_bytes: int,
                        max_members: int = MAX_CHECKPOINT_MEMBERS) -> list[zipfile.ZipInfo]:
    """The members of ``archive`` after checking their count, each declared size, the
    compression ratio and the total against ``max_total_bytes``, from the directory alone
    (nothing is inflated). Duplicate names are refused (readers disagree on which wins)."""
    members = archive.infolist()
    if len(members) > max_members:
        raise CheckpointError(f"{name}: {len(members):,} archive members, more than the limit of {max_members:,}; "
                              "it is not a weights file")
    seen: set[str] = set()
    total = 0
    for info in members:
        if info.filename in seen:
            raise CheckpointError(f"{name}: the archive lists {info.filename} twice; it is damaged or hostile")
        seen.add(info.filename)
        _check_member(info, name, max_total_bytes)
        total += info.file_size
        if total > max_total_bytes:
            raise CheckpointError(f"{name}: its members unpack to more than {_mb(max_total_bytes)}, more than a weights "
                                  "file of this model can hold; is it the right file?")
    return members


# --------------------------------------------------------------------------- internals


def _file_limit(budget: int) -> int:
    """The largest file (or sum of zip members) a checkpoint of ``budget`` tensor bytes
    can be: the tensors, the pickle and a few hundred bytes of headers per member."""
    return budget + MAX_CHECKPOINT_PICKLE_BYTES + MAX_CHECKPOINT_MEMBERS * 256


def _mb(n: int) -> str:
    from engine.core.limits import human_bytes

    return human_bytes(n)


def _check_member(info: zipfile.ZipInfo, name: str, limit: int) -> None:
    if info.file_size > limit:
        raise CheckpointError(f"{name}: member {info.filename} unpacks to {_mb(info.file_size)}, more than a weights file "
                              f"of this model can hold ({_mb(limit)}); is it the right file?")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise CheckpointError(f"{name}: member {info.filename} inflates {info.file_size / max(info.compress_size, 1):,.0f} "
                              f"times (limit {MAX_COMPRESSION_RATIO}); weights never compress that well, so it is refused")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """The member's bytes, never more than its declared size (a lying directory is caught)."""
    try:
        with archive.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CheckpointError(f"{name}: damaged archive member {info.filename} ({exc})") from None
    if len(data) != info.file_size:
        raise CheckpointError(f"{name}: archive member {info.filename} does not have its declared size; it is damaged")
    return data


class _NoDirectReads(io.BufferedReader):
    """A reader torch cannot take a file descriptor from: its old tar-format path (which
    would trust the sizes inside a tar) needs one, so it is never tried."""

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def _load_stream(fh: BinaryIO, name: str, budget: int, check: Callable[[Any], Any] | None) -> Any:
    import torch

    skeleton = scan(fh, name, budget)
    if check is not None:
        check(skeleton)
    fh.seek(0)
    reader: BinaryIO = fh
    if hasattr(fh, "raw"):
        fh.raw.seek(0)  # type: ignore[attr-defined]  # the buffered reader may hold bytes past its position
        reader = _NoDirectReads(fh.raw)  # type: ignore[attr-defined]
    try:
        return torch.load(reader, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged data comes in many types; the scan already refused hostile sizes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if any(marker in first for marker in ("weights_only", "WeightsUnpickler", "add_safe_globals")):
            first = "it holds Python objects other than tensors, which are never loaded because they could run code"
        raise CheckpointError(f"{name}: not a PyTorch state_dict that can be loaded safely ({first[:200]})") from None
    finally:
        if reader is not fh:
            reader.detach()  # leave the underlying file to its owner's ``with``


def scan(fh: BinaryIO, name: str, budget: int) -> Any:
    """The checkpoint's structure with every tensor replaced by a meta tensor of its
    declared shape and dtype; CheckpointError for anything that could cost more than
    ``budget`` bytes or that a weights file never holds. Reads the directory and the
    pickle only."""
    fh.seek(0)
    head = fh.read(4)
    fh.seek(0)
    if head == b"PK\x03\x04":
        return _scan_zip(fh, name, budget)
    if head[:1] == b"\x80":
        return _scan_legacy(fh, name, budget)
    if not head:
        raise CheckpointError(f"{name}: the file is empty, not a PyTorch state_dict")
    raise CheckpointError(f"{name}: not a PyTorch state_dict (it starts with {head!r}); "
                          "give a file saved with torch.save(model.state_dict())")


def _scan_zip(fh: BinaryIO, name: str, budget: int) -> Any:
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{name}: not a PyTorch state_dict (a damaged zip archive: {exc})") from None
    members = check_zip_directory(archive, name, _file_limit(budget))
    if not members:
        raise CheckpointError(f"{name}: an empty zip archive, not a weights file")
    # torch names every record after the first member's top folder ("archive/data.pkl").
    prefix = members[0].filename.split("/", 1)[0]
    by_name = {info.filename: info for info in members}
    pickle_info = by_name.get(f"{prefix}/data.pkl")
    if pickle_info is None:
        raise CheckpointError(f"{name}: a zip archive without {prefix}/data.pkl; it is not a torch.save file "
                              "(a folder of several models? give the one .pth file)")
    if pickle_info.file_size > MAX_CHECKPOINT_PICKLE_BYTES:
        raise CheckpointError(f"{name}: its pickle is {_mb(pickle_info.file_size)}, more than the limit of "
                              f"{_mb(MAX_CHECKPOINT_PICKLE_BYTES)}; it is not a plain state_dict")
    data = _read_member(archive, pickle_info, name)
    unpickler = _SkeletonUnpickler(io.BytesIO(data), name, legacy=False)
    skeleton = unpickler.run()
    total = 0
    for key, ref in unpickler.storages.items():
        info = by_name.get(f"{prefix}/data/{key}")
        if info is None:
            raise CheckpointError(f"{name}: tensor data {key} is missing from the archive; the file is damaged")
        if info.file_size != ref.nbytes:
            raise CheckpointError(f"{name}: tensor data {key} holds {info.file_size:,} bytes but is declared as "
                                  f"{ref.nbytes:,}; the file is damaged or hostile")
        total += ref.nbytes
    _check_total(name, total, budget)
    return skeleton


def _scan_legacy(fh: BinaryIO, name: str, budget: int) -> Any:
    size = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    bounded = _BoundedReader(fh, MAX_CHECKPOINT_PICKLE_BYTES, name)
    if _SkeletonUnpickler(bounded, name, legacy=True).run() != _LEGACY_MAGIC:
        raise CheckpointError(f"{name}: not a PyTorch state_dict (a pickle, but not one torch.save wrote)")
    if _SkeletonUnpickler(bounded, name, legacy=True).run() != _LEGACY_PROTOCOL:
        raise CheckpointError(f"{name}: a PyTorch file of an unknown format version")
    _SkeletonUnpickler(bounded, name, legacy=True).run()  # sys_info: byte order and type sizes
    main = _SkeletonUnpickler(bounded, name, legacy=True)
    skeleton = main.run()
    keys = _SkeletonUnpickler(bounded, name, legacy=True).run()
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(main.storages):
        raise CheckpointError(f"{name}: its list of tensor data does not match its tensors; the file is damaged")
    position = fh.tell()
    total = 0
    for key in keys:
        ref = main.storages[str(key)]
        fh.seek(position)
        header = fh.read(8)
        if len(header) != 8 or struct.unpack("<q", header)[0] != ref.numel:
            raise CheckpointError(f"{name}: tensor data {key} does not have its declared size; the file is damaged")
        position += 8 + ref.nbytes
        total += ref.nbytes
        if position > size:
            raise CheckpointError(f"{name}: the file ends before the data of tensor {key}; it is truncated")
    _check_total(name, total, budget)
    return skeleton


def _check_total(name: str, total: int, budget: int) -> None:
    if total > budget:
        raise CheckpointError(f"{name}: holds {_mb(total)} of tensors, more than the {_mb(budget)} the model's "
                              "architecture needs; it is the weights of another (larger) model, or hostile")


class _BoundedReader:
    """A read-only view of ``fh`` that refuses to hand out more than ``limit`` bytes in all
    (the pickles of the old format have no declared size)."""

    def __init__(self, fh: BinaryIO, limit: int, name: str) -> None:
        self.fh, self.left, self.name = fh, limit, name

    def _take(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left < 0:
            raise CheckpointError(f"{self.name}: its pickle is larger than the limit of "
                                  f"{_mb(MAX_CHECKPOINT_PICKLE_BYTES)}; it is not a plain state_dict")
        return data

    def read(self, n: int = -1) -> bytes:
        return self._take(self.fh.read(self.left + 1 if n is None or n < 0 or n > self.left + 1 else n))

    def readline(self, n: int = -1) -> bytes:
        return self._take(self.fh.readline(self.left + 1 if n is None or n < 0 or n > self.left + 1 else n))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def peek(self, n: int = 0) -> bytes:
        return b""


# --------------------------------------------------------------------------- the skeleton unpickler


class _StorageType:
    """What ``torch.FloatStorage`` & co. stand for in a pickle: a dtype."""

    def __init__(self, dtype: Any, label: str) -> None:
        self.dtype, self.label = dtype, label


class _StorageRef:
    def __init__(self, key: str, dtype: Any, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.nbytes = numel * dtype.itemsize


_MARK_TENSOR = object()
_MARK_PARAMETER = object()


def _storage_types() -> dict[str, _StorageType]:
    import torch

    table = {f"torch.{label}": _StorageType(dtype, label) for dtype, label in torch.storage._dtype_to_storage_type_map().items()
             if not label.startswith("Q")}  # quantized storages are not weights this app loads
    table["torch.UntypedStorage"] = _StorageType(torch.uint8, "UntypedStorage")
    return table


def _dtypes() -> dict[str, Any]:
    import torch

    return {str(dtype): dtype for dtype in torch.storage._dtype_to_storage_type_map() if dtype.is_floating_point
            or dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)}


class _SkeletonUnpickler(pickle._Unpickler):  # the pure-Python unpickler: it never pre-allocates a declared length
    """Reads a checkpoint pickle into plain containers and meta tensors.

    Only the globals a state_dict needs resolve, each to a harmless stand-in; BUILD is
    allowed on plain dictionaries only (torch would call ``Tensor.__setstate__``, which can
    resize a storage)."""

    def __init__(self, fh: Any, name: str, *, legacy: bool) -> None:
        super().__init__(fh, encoding="utf-8")
        self.name = name
        self.legacy = legacy
        self.storages: dict[str, _StorageRef] = {}
        self._types = _storage_types()
        self._dtypes = _dtypes()

    def run(self) -> Any:
        try:
            return self.load()
        except CheckpointError:
            raise
        except RecursionError:
            raise CheckpointError(f"{self.name}: not a PyTorch state_dict (its structure is nested too deeply)") from None
        except MemoryError:
            raise CheckpointError(f"{self.name}: not a PyTorch state_dict (its structure does not fit in memory)") from None
        except Exception as exc:  # noqa: BLE001 - truncated or malformed pickles raise many types
            raise CheckpointError(f"{self.name}: not a PyTorch state_dict (a damaged or foreign pickle: {type(exc).__name__}: "
                                  f"{(str(exc).splitlines() or [''])[0][:160]})") from None

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.name}: not a PyTorch state_dict that can be loaded safely: {what}")

    # -- globals ---------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # protocol-2 pickles (torch.save's) name Python 2 modules: __builtin__.set
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if full in self._types:
            return self._types[full]
        if full in self._dtypes:
            return self._dtypes[full]
        stand_in = {
            "collections.OrderedDict": collections.OrderedDict,
            "torch._utils._rebuild_tensor": self._rebuild_tensor,
            "torch._utils._rebuild_tensor_v2": self._rebuild_tensor,
            "torch._utils._rebuild_parameter": self._rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": self._rebuild_parameter,
            "torch._tensor._rebuild_from_type_v2": self._rebuild_from_type,
            "torch.Tensor": _MARK_TENSOR,
            "torch.nn.parameter.Parameter": _MARK_PARAMETER,
            "torch.Size": _size,
            "torch.device": _device,
            "_codecs.encode": _latin1_bytes,
            "builtins.set": _small_set,
            "builtins.complex": complex,
        }.get(full)
        if stand_in is None:
            raise self.fail(f"it holds pickled Python objects ({full[:120]}), which are never loaded: only tensors "
                            "and plain containers are read from a weights file")
        return stand_in

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not isinstance(pid, tuple) or len(pid) != (6 if self.legacy else 5):
            raise self.fail("it refers to tensor data in an unknown way")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if kind != "storage" or not isinstance(storage_type, _StorageType) or not isinstance(key, (str, int)):
            raise self.fail("it refers to tensor data in an unknown way")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise self.fail(f"tensor data {key} declares an impossible size {numel!r}")
        if self.legacy and pid[5] is not None:
            raise self.fail("it uses storage views of PyTorch 0.3 or older; re-save it with a current PyTorch")
        key = str(key)
        known = self.storages.get(key)
        if known is not None:
            return known  # torch re-uses the first storage of a key whatever a later reference declares
        ref = _StorageRef(key, storage_type.dtype, numel)
        self.storages[key] = ref
        return ref

    # -- stand-ins -------------------------------------------------------------------
    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> Any:
        import torch

        if not isinstance(storage, _StorageRef):
            raise self.fail("a tensor without tensor data")
        if not (_is_index_tuple(size) and _is_index_tuple(stride) and len(size) == len(stride) <= MAX_TENSOR_DIMS):
            raise self.fail(f"a tensor with an impossible shape {size!r} / strides {stride!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise self.fail(f"a tensor with an impossible offset {offset!r}")
        extent = 0 if 0 in size else offset + 1 + sum((s - 1) * st for s, st in zip(size, stride))
        if extent > storage.numel:
            raise self.fail(f"a tensor of shape {tuple(size)} reaches element {extent:,} of tensor data {storage.key}, "
                            f"which holds {storage.numel:,}")
        numel = 1
        for side in size:
            numel *= side
        if numel >= 1 << 62:
            raise self.fail(f"a tensor of shape {tuple(size)} with more elements than any tensor can hold")
        return torch.empty_strided(tuple(size), tuple(stride), dtype=storage.dtype, device="meta")

    def _rebuild_parameter(self, data: Any, *rest: Any) -> Any:
        return data

    def _rebuild_from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> Any:
        if new_type not in (_MARK_TENSOR, _MARK_PARAMETER) or not callable(func) or not isinstance(args, tuple):
            raise self.fail("a tensor of a custom class")
        return func(*args)

    # -- BUILD -----------------------------------------------------------------------
    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, dict) or not isinstance(state, dict):
            raise self.fail(f"it sets the state of a {type(inst).__name__}")
        for key, value in state.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise self.fail("it sets a hidden attribute")
            setattr(inst, key, value)

    def load_bytearray8(self) -> None:
        raise self.fail("it holds a protocol-5 byte array, which torch.save never writes")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _is_index_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _size(*args: Any) -> tuple:
    if len(args) > 1 or (args and not _is_index_tuple(args[0])):
        raise CheckpointError("a torch.Size with impossible values")
    return tuple(args[0]) if args else ()


def _device(*args: Any) -> str:
    if not all(isinstance(a, (str, int)) for a in args):
        raise CheckpointError("an impossible torch.device")
    return ":".join(map(str, args))


def _latin1_bytes(text: Any, encoding: str = "utf-8", *rest: Any) -> bytes:
    # Protocol-2 pickles store bytes as _codecs.encode(text, "latin1"); no other codec is needed.
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise CheckpointError("bytes stored in an unexpected encoding")
    return text.encode("latin-1")


def _small_set(items: Any = ()) -> set:
    if not isinstance(items, (list, tuple)):
        raise CheckpointError("a set built from something other than a list")
    return set(items)


def state_dict_of(obj: Any, name: str, wrappers: tuple[str, ...] = ("state_dict", "model")) -> dict[str, Any]:
    """The {name: tensor} mapping of a loaded (or skeleton) checkpoint, unwrapping one
    ``{"state_dict": ...}`` / ``{"model": ...}`` level; CheckpointError when it is not one."""
    import torch

    for wrapper in wrappers:
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a state_dict (a mapping of names to tensors)")
    bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise CheckpointError(f"{name}: entry {str(bad)[:80]!r} is a {type(obj[bad]).__name__}, not a tensor; "
                              "it is not a state_dict")
    return {str(k): v for k, v in obj.items()}

