"""The offline Kubernetes collector: read manifest files, kubectl dumps and Helm output into a cluster section.

Input is YAML (multi-document, as `helm template` prints it) or JSON. `kind: List` and the typed
`*List` objects that `kubectl get -o yaml|json` prints are flattened into their items. Every kept
object remembers where it came from as `origin: {"file", "line"}`, and every other kind is only
counted in `skipped_kinds`.
"""

from __future__ import annotations

import codecs
import gc
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from blastradius.collectors.errors import CollectionError
from blastradius.collectors.input_limits import DEFAULT_MAX_FILE_BYTES, InputTooLargeError, read_limited, too_large_message
from blastradius.collectors.k8s_objects import (
    KNOWN_VERSIONS,
    ObjectError,
    api_group,
    describe_object,
    groups_keeping,
    is_kept,
    is_known_version,
    normalize_object,
    require_string,
    type_name,
)
from blastradius.snapshot import Collection

log = logging.getLogger(__name__)

STDIN_PATH = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Kept kinds that have no namespace; every other kept kind is namespaced.
CLUSTER_SCOPED_KINDS = frozenset({
    ("", "Namespace"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("external-secrets.io", "ClusterPushSecret"),
    ("generators.external-secrets.io", "ClusterGenerator"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("kyverno.io", "ClusterPolicy"),
})
DEFAULT_NAMESPACE = "default"
# YAML aliases share one value, but a snapshot writes each use out in full: nested aliases can turn
# a few lines into billions of values. No real Kubernetes object comes near this many.
MAX_EXPANDED_VALUES = 1_000_000


class ManifestError(CollectionError):
    """A manifest path or file that cannot be collected. The message starts with `file:line:` where known."""


class _ManifestLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader whose composed nodes `_NodeBuilder` turns into Python values."""


STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
# Timestamps and `!!binary` scalars stay strings, as in the API server's JSON, which has no such types.
PLAIN_STRING_TAGS = {STR_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}


class _NodeBuilder:
    """Build Python values from the nodes of one YAML document, as yaml.safe_load would.

    It replaces PyYAML's generic constructor, which took half the parse time of a generated
    22 MB file of 100,000 objects. Anchors and aliases share one value, and `<<` merge keys are applied with explicit
    keys winning. Timestamps and binary scalars stay strings. Tags outside the YAML core
    schema (`!!set`, `!!omap`, custom tags) raise a ConstructorError.
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._built: dict[int, Any] = {}
        self._scalar_constructors = {
            "tag:yaml.org,2002:null": loader.construct_yaml_null,
            "tag:yaml.org,2002:bool": loader.construct_yaml_bool,
            "tag:yaml.org,2002:int": loader.construct_yaml_int,
            "tag:yaml.org,2002:float": loader.construct_yaml_float,
        }

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self._build_scalar(node)
        built = self._built.get(id(node))
        if built is not None:
            return built
        if isinstance(node, yaml.SequenceNode) and node.tag == SEQ_TAG:
            items: list[Any] = []
            self._built[id(node)] = items
            items.extend(self.build(item) for item in node.value)
            return items
        if isinstance(node, yaml.MappingNode) and node.tag == MAP_TAG:
            mapping: dict[Any, Any] = {}
            self._built[id(node)] = mapping
            self._fill_mapping(node, mapping)
            return mapping
        raise self._error(f"unsupported YAML tag {node.tag}", node)

    def _build_scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in PLAIN_STRING_TAGS:
            return node.value
        constructor = self._scalar_constructors.get(node.tag)
        if constructor is None:
            raise self._error(f"unsupported YAML tag {node.tag}", node)
        return constructor(node)

    def _fill_mapping(self, node: yaml.MappingNode, mapping: dict[Any, Any]) -> None:
        merged: list[dict[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged.extend(self._merge_sources(value_node))
                continue
            key = self.build(key_node)
            if isinstance(key, (dict, list)):
                raise self._error("found an unhashable key (a mapping or list)", key_node)
            if key in mapping:
                # kubectl's strict decoding rejects this too; silently keeping the last value hides objects.
                raise self._error(f"duplicate key {key!r} in one mapping (a missing '---' between documents?)", key_node)
            mapping[key] = self.build(value_node)
        if merged:
            explicit = dict(mapping)
            mapping.clear()
            for source in reversed(merged):
                mapping.update(source)
            mapping.update(explicit)

    def _merge_sources(self, node: yaml.Node) -> list[dict[Any, Any]]:
        """Return the mappings a `<<` key merges, the first one taking precedence."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = [self.build(item) for item in nodes]
        if not all(isinstance(source, dict) for source in sources):
            raise self._error("expected a mapping or a list of mappings for merging (<<)", node)
        return sources

    def _error(self, problem: str, node: yaml.Node) -> yaml.constructor.ConstructorError:
        return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


@dataclass(frozen=True)
class _Document:
    """One parsed YAML or JSON document, with the 1-based lines where it and its `items` start."""

    number: int
    line: int
    content: Any
    item_lines: list[int] | None


@dataclass(frozen=True)
class _Entry:
    """One object found in a file, with the location used in its origin and in error messages."""

    content: Any
    file: str
    line: int
    where: str

    def error(self, message: str) -> ManifestError:
        return ManifestError(f"{self.file}:{self.line}: {self.where}: {message}")


class _ApiVersionNotes:
    """Objects whose apiVersion blastradius may misread, warned about once per apiVersion and kind.

    Two cases: a kind that blastradius keeps, written with another API group (`v1` Role,
    `extensions/v1beta1` Deployment), is skipped, so whatever it grants or mounts is missing. A
    kept kind with a version that blastradius does not support is kept, and the analysis may
    misread or skip it.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[_Entry, bool]] = {}
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, entry: _Entry, api_version: str, kind: str, is_kept_object: bool) -> None:
        if is_kept_object and is_known_version(api_version):
            return
        if not is_kept_object and not groups_keeping(kind):
            return
        key = (api_version, kind)
        self._first.setdefault(key, (entry, is_kept_object))
        self._counts[key] += 1

    def log_warnings(self) -> None:
        for (api_version, kind), (entry, is_kept_object) in self._first.items():
            count = self._counts[(api_version, kind)]
            others = f" (and {count - 1} more of this apiVersion and kind)" if count > 1 else ""
            where = f"{entry.file}:{entry.line}: {entry.where}: {describe_object(kind, entry.content.get('metadata'))}"
            if is_kept_object:
                group = api_group(api_version)
                known = ", ".join(sorted(KNOWN_VERSIONS.get(group, ())))
                log.warning("%s%s: apiVersion %s is not a version blastradius supports (it reads %s of this API group), "
                            "so the analysis may misread or skip it", where, others, api_version, known)
            else:
                groups = " or ".join(group or "the core group (v1)" for group in groups_keeping(kind))
                log.warning("%s%s: apiVersion %s is not an API group blastradius reads %s from (%s). The object is "
                            "skipped, so what it grants or mounts is missing from the snapshot. Correct the apiVersion "
                            "if it is meant as one", where, others, api_version, kind, groups)


def collect_manifests(
    paths: list[str],
    cluster_name: str,
    *,
    oidc_issuer: str | None = None,
    stdin: TextIO | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Collection:
    """Read manifests into one cluster section with the kept objects, normalised, and skipped-kind counts.

    `paths` are files, folders (walked recursively for *.yaml, *.yml and *.json, skipping names
    that start with a dot and every other file) or `-` for standard input, read from `stdin` when
    given.

    Raises ManifestError naming the file and line. The causes are a missing path, a file larger
    than `max_file_bytes` (checked before it is read), a file that is not YAML or JSON text (NUL
    bytes, invalid UTF-8), a syntax error, a document without kind or apiVersion, a kept
    object that cannot be normalised, and an object defined twice. Kinds that are not kept need
    no metadata.name, so files such as a kustomization.yaml are only counted. A namespaced object
    that names no namespace is put in `namespace`, as `kubectl apply -n` would.
    """
    objects: list[dict[str, Any]] = []
    skipped_kinds: Counter[str] = Counter()
    first_seen: dict[tuple[str, str, str, str], _Entry] = {}
    version_notes = _ApiVersionNotes()
    files = _manifest_files(paths)

    with _cyclic_gc_paused():
        for display_name, file_path in files:
            text = _read_stdin(stdin, max_file_bytes) if file_path is None else _read_file(display_name, file_path, max_file_bytes)
            kept_before, skipped_before = len(objects), sum(skipped_kinds.values())
            for entry in _entries(display_name, file_path, text):
                _collect_entry(entry, objects, skipped_kinds, first_seen, namespace, version_notes)
            log.debug(
                "read %s: %d kept objects, %d skipped",
                display_name,
                len(objects) - kept_before,
                sum(skipped_kinds.values()) - skipped_before,
            )

    version_notes.log_warnings()
    log.info(
        "collected %d objects from %d manifest files for cluster %s (%d of other kinds skipped)",
        len(objects),
        len(files),
        cluster_name,
        sum(skipped_kinds.values()),
    )
    section = {
        "name": cluster_name,
        "server": None,
        "manifests": list(paths),
        "oidc_issuer": oidc_issuer,
        "objects": objects,
        "skipped_kinds": dict(sorted(skipped_kinds.items())),
    }
    return Collection(clusters=[section])


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, restoring its previous state afterwards.

    Parsing creates millions of objects that all stay alive, so each full collection walks the
    whole growing result and frees nothing. Pausing it more than halved the time to read 100,000
    objects (measured with a generated 68 MB JSON List on a 2-CPU machine).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _collect_entry(
    entry: _Entry,
    objects: list[dict[str, Any]],
    skipped_kinds: Counter[str],
    first_seen: dict[tuple[str, str, str, str], _Entry],
    default_namespace: str,
    version_notes: _ApiVersionNotes,
) -> None:
    """Normalise one kept object into `objects`, or count it in `skipped_kinds`."""
    content = entry.content
    if not isinstance(content, dict):
        raise entry.error(f"expected a Kubernetes object (a mapping), got {type_name(content)}")
    raw_metadata = content.get("metadata")
    try:
        kind = require_string(describe_object(None, raw_metadata), "kind", content.get("kind"))
        api_version = require_string(describe_object(kind, raw_metadata), "apiVersion", content.get("apiVersion"))
    except ObjectError as error:
        raise entry.error(str(error)) from None
    is_kept_object = is_kept(api_version, kind)
    version_notes.record(entry, api_version, kind, is_kept_object)
    if not is_kept_object:
        skipped_kinds[kind] += 1
        return

    try:
        normalized = normalize_object(content, {"file": entry.file, "line": entry.line})
    except ObjectError as error:
        raise entry.error(str(error)) from None

    metadata = normalized["metadata"]
    if not metadata.get("namespace") and (api_group(api_version), kind) not in CLUSTER_SCOPED_KINDS:
        metadata["namespace"] = default_namespace
    identity = (api_group(api_version), kind, metadata.get("namespace", ""), metadata["name"])
    if identity in first_seen:
        first = first_seen[identity]
        raise entry.error(
            f"duplicate object {describe_object(kind, metadata)}: it is also defined at {first.file}:{first.line}, "
            f"{first.where}. Remove one of them"
        )
    first_seen[identity] = entry
    objects.append(normalized)


def _manifest_files(paths: list[str]) -> list[tuple[str, Path | None]]:
    """Expand the given paths into (name shown in messages and origins, file path or None for stdin)."""
    files: list[tuple[str, Path | None]] = []
    seen: set[Path] = set()
    stdin_given = False
    for given in paths:
        if given == STDIN_PATH:
            if stdin_given:
                raise ManifestError("standard input (-) is given more than once: give it once")
            stdin_given = True
            files.append((STDIN_NAME, None))
            continue
        for display_name, file_path in _expand_path(given):
            try:
                resolved = file_path.resolve()
            except RuntimeError:
                raise ManifestError(f"{display_name}: symbolic link loop; remove the link or give the target file") from None
            if resolved in seen:
                log.debug("skipping %s: already read through another path", display_name)
                continue
            seen.add(resolved)
            files.append((display_name, file_path))
    return files


def _expand_path(given: str) -> list[tuple[str, Path]]:
    """Return the file itself, or every manifest file under a folder, sorted by relative path."""
    path = Path(given)
    if not path.exists():
        raise ManifestError(f"{given}: manifest path not found")
    if not path.is_dir():
        # Regular files, and also pipes such as the /dev/fd/63 of a shell's process substitution.
        return [(given, path)]

    found: list[tuple[tuple[str, ...], str]] = []
    for folder, subfolders, file_names in os.walk(path):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        relative_folder = os.path.relpath(folder, path)
        for file_name in file_names:
            if file_name.startswith(".") or not file_name.endswith(MANIFEST_SUFFIXES):
                continue
            relative = os.path.normpath(os.path.join(relative_folder, file_name))
            found.append((Path(relative).parts, relative))
    if not found:
        raise ManifestError(f"{given}: no *.yaml, *.yml or *.json files in this folder")
    return [(os.path.join(given, relative), path / relative) for _, relative in sorted(found)]


def _read_file(display_name: str, file_path: Path, max_bytes: int) -> str:
    try:
        with file_path.open("rb") as handle:
            raw = read_limited(handle, display_name, max_bytes)
    except OSError as error:
        raise ManifestError(f"{display_name}: cannot read the file: {error.strerror}") from None
    except InputTooLargeError as error:
        raise ManifestError(str(error)) from None
    return _decode_text(display_name, raw)


def _read_stdin(stdin: TextIO | None, max_bytes: int) -> str:
    """Read standard input, or the given text stream, up to `max_bytes` (counted in characters for a text-only stream)."""
    stream = stdin if stdin is not None else sys.stdin
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            return _decode_text(STDIN_NAME, read_limited(buffer, STDIN_NAME, max_bytes))
        text = stream.read(max_bytes + 1)
    except InputTooLargeError as error:
        raise ManifestError(str(error)) from None
    except UnicodeDecodeError:
        raise ManifestError(f"{STDIN_NAME}: not a text file: expected YAML or JSON manifests") from None
    if len(text) > max_bytes:
        raise ManifestError(too_large_message(STDIN_NAME, max_bytes, None))
    return text.lstrip("\ufeff")


def _decode_text(display_name: str, raw: bytes) -> str:
    """Decode UTF-8, or UTF-16 with a byte-order mark (as PowerShell redirection writes it)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in raw:
        raise ManifestError(f"{display_name}: not a text file (it contains NUL bytes): expected YAML or JSON manifests")
    else:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise ManifestError(
            f"{display_name}: not a text file: invalid {error.encoding} at byte {error.start}: expected YAML or JSON manifests"
        ) from None


def _entries(display_name: str, file_path: Path | None, text: str) -> Iterator[_Entry]:
    """Yield every object of every document in a file, flattening List objects into their items."""
    for document in _documents(display_name, file_path, text):
        content = document.content
        if content is None:
            continue
        where = f"document {document.number}"
        if not _is_list(content):
            yield _Entry(content, display_name, document.line, where)
            continue

        items = content.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(f"{display_name}:{document.line}: {where}: {content['kind']} items must be a list")
        item_lines = document.item_lines if document.item_lines and len(document.item_lines) == len(items) else None
        for index, item in enumerate(items):
            line = item_lines[index] if item_lines else document.line
            yield _Entry(item, display_name, line, f"{where}, item {index + 1}")


def _is_list(content: Any) -> bool:
    """Return whether a document is a `List` or a typed list such as `RoleBindingList`."""
    if not isinstance(content, dict):
        return False
    kind = content.get("kind")
    return kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in content)


def _documents(display_name: str, file_path: Path | None, text: str) -> Iterator[_Document]:
    """Parse JSON files (by suffix, or content starting with `{`) as JSON and everything else as YAML.

    Content that only looks like JSON and fails to parse as JSON is read as YAML, which accepts
    flow-style mappings.
    """
    is_json_file = file_path is not None and file_path.suffix == ".json"
    if is_json_file or text.lstrip()[:1] == "{":
        try:
            return iter(list(_json_documents(text)))
        except json.JSONDecodeError as error:
            if is_json_file:
                raise ManifestError(f"{display_name}:{error.lineno}: invalid JSON: {error.msg}") from None
        except RecursionError:
            raise ManifestError(f"{display_name}: JSON nested too deeply to parse") from None
    return _yaml_documents(display_name, text)


def _yaml_documents(display_name: str, text: str) -> Iterator[_Document]:
    loader = _ManifestLoader(text)
    number = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            number += 1
            content = _NodeBuilder(loader).build(node)
            if _expanded_size(content, {}) > MAX_EXPANDED_VALUES:
                raise ManifestError(f"{display_name}:{node.start_mark.line + 1}: document {number} expands its YAML aliases "
                                    f"to more than {MAX_EXPANDED_VALUES:,} values; expand or remove the anchors")
            yield _Document(number, node.start_mark.line + 1, content, _yaml_item_lines(node))
    except yaml.MarkedYAMLError as error:
        raise ManifestError(_yaml_error_message(display_name, error)) from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{display_name}: invalid YAML: {error}") from None
    except RecursionError:
        raise ManifestError(f"{display_name}: document {number} is nested too deeply to be a Kubernetes object") from None
    finally:
        loader.dispose()


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """Return how many values `value` contains once every shared (aliased) part is written out in full."""
    if not isinstance(value, (dict, list)):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known
    children = value.values() if isinstance(value, dict) else value
    size = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[id(value)] = size
    return size


def _yaml_error_message(display_name: str, error: yaml.MarkedYAMLError) -> str:
    """Format a YAML syntax error as `file:line: message`.

    The message uses the parser's problem and context only, never the mark's excerpt of the
    line, which may contain a Secret's value.
    """
    mark = error.problem_mark or error.context_mark
    line = f":{mark.line + 1}" if mark is not None else ""
    context = error.context
    if context and error.context_mark is not None and mark is not None and error.context_mark.line != mark.line:
        context = f"{context} that starts at line {error.context_mark.line + 1}"
    parts = [part for part in (context, error.problem) if part]
    return f"{display_name}{line}: invalid YAML: {', '.join(parts)}"


def _yaml_item_lines(node: yaml.Node) -> list[int] | None:
    """Return the 1-based line of each element of a top-level `items` sequence, if there is one."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value_node.value]
    return None


def _json_documents(text: str) -> Iterator[_Document]:
    """Parse one JSON value, or several in a row, recording where each top-level `items` element starts.

    The top level of each object is walked here so the positions of `items` elements are known,
    and every value below is decoded by the json module's C decoder.
    """
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    index = _skip_whitespace(text, 0)
    number = 0
    while index < len(text):
        number += 1
        start_line = lines.line_at(index)
        if text[index] == "{":
            content, item_offsets, index = _decode_top_object(decoder, text, index)
            item_lines = [lines.line_at(offset) for offset in item_offsets] if item_offsets is not None else None
        else:
            content, index = decoder.raw_decode(text, index)
            item_lines = None
        yield _Document(number, start_line, content, item_lines)
        index = _skip_whitespace(text, index)


def _decode_top_object(decoder: json.JSONDecoder, text: str, start: int) -> tuple[dict[str, Any], list[int] | None, int]:
    """Decode the JSON object at `start`. Return it, the offsets of its `items` elements and its end."""
    content: dict[str, Any] = {}
    item_offsets: list[int] | None = None
    index = _skip_whitespace(text, start + 1)
    if text.startswith("}", index):
        return content, None, index + 1

    while True:
        if not text.startswith('"', index):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
        key, index = json.decoder.scanstring(text, index + 1)
        index = _expect(text, _skip_whitespace(text, index), ":")
        index = _skip_whitespace(text, index)
        if key == "items" and text.startswith("[", index):
            content[key], item_offsets, index = _decode_array_with_offsets(decoder, text, index)
        else:
            content[key], index = decoder.raw_decode(text, index)

        index = _skip_whitespace(text, index)
        if text.startswith("}", index):
            return content, item_offsets, index + 1
        index = _skip_whitespace(text, _expect(text, index, ","))


def _decode_array_with_offsets(decoder: json.JSONDecoder, text: str, start: int) -> tuple[list[Any], list[int], int]:
    items: list[Any] = []
    offsets: list[int] = []
    index = _skip_whitespace(text, start + 1)
    if text.startswith("]", index):
        return items, offsets, index + 1

    while True:
        offsets.append(index)
        item, index = decoder.raw_decode(text, index)
        items.append(item)
        index = _skip_whitespace(text, index)
        if text.startswith("]", index):
            return items, offsets, index + 1
        index = _skip_whitespace(text, _expect(text, index, ","))


def _expect(text: str, index: int, delimiter: str) -> int:
    if not text.startswith(delimiter, index):
        raise json.JSONDecodeError(f"Expecting '{delimiter}' delimiter", text, index)
    return index + 1


def _skip_whitespace(text: str, index: int) -> int:
    length = len(text)
    while index < length and text[index] in " \t\r\n":
        index += 1
    return index


class _LineCounter:
    """Turn character offsets, given in increasing order, into 1-based line numbers in one pass."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1

    def line_at(self, offset: int) -> int:
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line
