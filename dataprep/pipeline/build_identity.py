"""What a build is, and whether the finished build in a directory can become another by growing.

A build is its inputs' identities (resolved path, size, sha256), its ``--val-from`` files' and
``--val-bin``'s, its options and its ``--tokens`` target (``build_identity``); its fingerprint, the
digest of that, keys its work files and marks its meta.json. A finished build grows into (or is cut
back to) another when the two differ in their inputs only, the old inputs being the first of the
new ones (or the reverse). Whether it can is proven, not assumed: the old build's fingerprint is
computed again from these inputs and options (``--format`` aside, since every output is written
afresh) and must be the one it recorded.
"""

from __future__ import annotations

from dataprep.errors import flag
from dataprep.io.storage import Store, is_url, resolved
from dataprep.pipeline.outdir import fingerprint
from dataprep.pipeline.scan_shards import MARKER, scan_dirs
from dataprep.version import __version__

def build_identity(identities: list[tuple], n_train: int, val_bin: tuple | None, options: dict,
                   target: dict | None) -> dict:
    """What a build is: its inputs' identities (resolved paths and content), its options, and its
    ``--tokens`` target. Paths as typed do not count, so the same command run from another
    directory (or through a symlink) is the same build."""
    options = {**options, "val_from": None, "val_bin": None}  # their files count through their identities
    identity = {"version": __version__, "inputs": [list(i) for i in identities[:n_train]],
                "val": [list(i) for i in identities[n_train:]], "val_bin": list(val_bin) if val_bin else None,
                "options": options}
    if target is not None:
        identity["target"] = target
    return identity


def old_identities(state: Store, asked: dict, n_old: int) -> list[list] | None:
    """The identities the finished build of ``n_old`` train inputs would have if the asked build's inputs
    are its first ones: the asked build's, then, for the old inputs past them (a cut back), what their
    kept scans name. None when such a scan cannot say. ``growth_problem`` proves them right."""
    new = asked["inputs"][:n_old]
    rest = []
    for d in scan_dirs(n_old, 0)[len(new):]:
        try:
            rest.append(list(state.read_json(f"{d}/{MARKER}")["identity"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return [list(i) for i in new] + rest


def growth_problem(meta: dict, state: Store, asked: dict) -> str | None:
    """Why the finished build ``meta`` describes cannot become ``asked`` by growing (or cutting), or None.

    ``asked["inputs"]`` may hold only the first of this build's inputs (``build --tokens`` checks the
    ones it will take first). The old build's fingerprint, computed again from these inputs and
    options (``--format`` aside), must be the one it recorded: that proves it was made from them.
    """
    sources = meta.get("sources") or []
    old = old_identities(state, asked, len(sources))
    if old is None:
        return "it keeps no scans of the inputs it had beyond these: made by an earlier dataprep, or its .state was removed"
    for i, (was, now) in enumerate(zip(sources, asked["inputs"])):
        was = was if isinstance(was, dict) else {}
        if not _same_input(was, now):
            return (f"its input {i + 1} is {_named(was.get('path'), was.get('sha256'))}, not "
                    f"{_named(now[0], None if is_url(now[0]) else now[2])}; a build grows by inputs added after the old ones")
    old_options = meta.get("options") or {}
    same = {**asked, "inputs": old, "options": {**asked["options"], "formats": old_options.get("formats")}}
    same.pop("target", None)
    if meta.get("target"):
        same["target"] = {k: meta["target"].get(k) for k in ("tokens", "epochs")}
    if fingerprint(same) == meta.get("fingerprint"):
        return None
    return _difference(meta, asked)


def _same_input(recorded: dict, identity) -> bool:
    """meta.json's record of an input against an input's identity: a local file's sha256, a URL's address
    (its ETag is checked by the fingerprint)."""
    if is_url(identity[0]):
        return recorded.get("path") == identity[0]
    return recorded.get("sha256") == identity[2]


def _named(path, sha256: str | None) -> str:
    """An input as a refusal names it: its resolved path, and the start of its sha256 when known."""
    return f"{resolved(path)} ({sha256[:12]}...)" if sha256 else f"{resolved(path)}"


def _difference(meta: dict, asked: dict) -> str:
    """Name what makes the two builds differ beyond their inputs: the first option, in the options' order."""
    old, new = _flat(meta.get("options") or {}), _flat(asked["options"])
    for key in new:
        if key not in ("formats", "val_from", "val_bin") and old.get(key) != new.get(key):
            return f"{_option(key)} is {_shown(new.get(key))} here, {_shown(old.get(key))} there"
    if meta.get("dataprep_version") != asked["version"]:
        return f"it was made by dataprep {meta.get('dataprep_version')}, this is {asked['version']}"
    if [s.get("sha256") for s in meta.get("val_sources") or []] != [v[2] for v in asked["val"]]:
        return "its --val-from files differ"
    return "its --val-bin differs"


def _flat(options: dict) -> dict:
    """The options with the LSH settings as ``lsh.*`` keys, in their place."""
    out = {}
    for k, v in options.items():
        out.update({f"lsh.{name}": x for name, x in v.items()} if k == "lsh" and isinstance(v, dict) else {k: v})
    return out


def _option(key: str) -> str:
    """How a refusal names an option: its command-line option (``--min-score`` also has ``--no-score-filter``)."""
    return {"min_score": "--min-score / --no-score-filter", "encoding": "the encoding"}.get(key, flag(key))


def _shown(value) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else f"{value}"
