"""No request state on shared objects, anywhere in ``services/`` (issue 11; the device flow once
kept a request's form on its shared endpoint and mixed up PKCE challenges).

A worker serves many requests at once on threads that share its modules and the objects its app
factory made. Two static checks over every module of every service package find what could carry
state from one request to another:

- module globals written after import: a module-level dict, list or set that code mutates, or a
  name rebound through ``global``;
- objects changed after they were made: ``self.x = ...``, ``self.x[k] = ...`` or
  ``self.x.add(...)`` (and the other mutating calls) in any method but ``__init__``.

Each finding must be in an allow-list below with a one-line reason: a process-wide cache with its
lock, state of a thread that only that thread touches, an object made per request, and so on. A
new finding fails until its author says why it is safe (or removes it). tests/unit/oidc's
test_shared_state.py also checks the OIDC issuer at run time, after a mix of requests.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator

from tests.support.testdata import ROOT

SERVICES = ROOT / "services"
_MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "pop", "popitem",
                       "clear", "add", "discard", "remove", "move_to_end", "appendleft",
                       "popleft", "sort", "reverse", "__setitem__", "__delitem__"})  # fmt: skip
_CONTAINERS = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"})

# (module, name) -> why a module global may be written after import
MODULE_STATE = {
    ("services/keys/pkcs11.py", "_LIBS"): "loaded PKCS#11 libraries, one per module path, "
    "process-wide by nature; written only under _LIBS_LOCK",
    ("services/keys/pkcs11.py", "_SESSIONS"): "one token session per (module, token) with its own "
    "lock, written only under _LIBS_LOCK",
    ("services/runtime/observe.py", "_ID_PREFIX"): "the per-process request-id prefix, renewed in "
    "a forked child before its threads run; ids stay unique because the counter is shared",
    ("services/runtime/observe.py", "_CHILDREN"): "the request metrics' labelled series by "
    "(service, method, route, status), bounded: one setitem of what prometheus_client's labels() "
    "returns for that key anyway, so two threads racing store the same objects",
    ("services/runtime/observe.py", "_second"): "the last formatted second of log timestamps, "
    "replaced as one tuple: a reader sees an old or a new pair, both right for their second",
}

# (module, class) -> why its objects may change after __init__
OBJECT_STATE = {
    ("services/ctlog/log.py", "CTLog"): "bounded memos of verified (issuer, certificate) pairs and "
    "issuer key hashes: one set.add / setitem each, a pure function of the key; "
    "self.log.append is the tlog engine's append",
    ("services/fulcio/ctclient.py", "CTClient"): "bounded memo of issuer key hashes: one setitem, "
    "a pure function of the issuer certificate",
    ("services/fulcio/service.py", "Fulcio"): "the issued-certificates count, under _issued_lock",
    ("services/fulcio/tokens.py", "TokenVerifier"): "CA bundle file per issuer CA, written only "
    "from _new_provider, which runtime.issuerkeys.Providers calls under its lock",
    ("services/mirror/api.py", "Directory"): "the live generation's origin-hash aliases, replaced "
    "as one (generation, map) tuple and read once per lookup",
    ("services/oidc/connectors/oidc.py", "OIDCConnector"): "the provider's discovery cache, "
    "replaced whole under _lock (double-checked)",
    ("services/oidc/connectors/options.py", "Options"): "configuration parsing at start, before "
    "any request",
    ("services/oidc/exchange.py", "TokenExchangeGrant"): "authlib makes a grant object per token "
    "request: its state is that request's",
    ("services/oidc/grants.py", "ServiceAccountGrant"): "authlib makes a grant object per token "
    "request: its state is that request's",
    ("services/oidc/keys.py", "KeyRing"): "the issuer-key cache: rows and expiry replaced as one "
    "tuple; signers and written expiries under _lock",
    ("services/rekor/log.py", "RekorLog"): "self.log.append is the tlog engine's append",
    ("services/rekor2/log.py", "Rekor2Log"): "self.log.append is the tlog engine's append; "
    "_head_parts, the last head's encoded parts, is a pure function of that head replaced as one "
    "tuple, and a reader checks the head it got before using the parts",
    ("services/runtime/issuerkeys.py", "Provider"): "the issuer-key cache: keyset, retry time and "
    "the refresh in flight, all written under _lock",
    ("services/runtime/issuerkeys.py", "Providers"): "issuers' key caches by URL (an LRU of "
    "meta-issuers), under _lock",
    ("services/tlog/engine.py", "Log"): "the sequencer: its queue, edge and connection are made "
    "under _start_lock once per process and then touched by the sequencer thread alone",
    ("services/tlog/tickets.py", "Ticket"): "made per submitted entry: its outcome is written "
    "once, by the sequencer (or publisher) thread, before its lock is released and its waiter "
    "notified",
    ("services/tlog/publish.py", "Publisher"): "the publisher thread's queue and flags, under the "
    "condition _cv; withheld is written by that thread alone",
    ("services/tlog/reads.py", "LogReads"): "the tile LRU, under _cache_lock",
    ("services/tlog/tiles.py", "Tile"): "levels computed on first use, assigned as one tuple: a "
    "racing thread computes the same hashes",
    ("services/tlog/tiles.py", "Edge"): "the right edge of the tree, owned by the sequencer "
    "thread's batch",
    ("services/tlog/tiles.py", "TileReader"): "made per proof: its memo is that read's",
    ("services/tlog/witnessing.py", "Witnesses"): "the witness pool, made on first use by the "
    "log's one publisher thread",
    ("services/tuf/online.py", "PublishedRepository"): "the expiry cache, replaced as one tuple "
    "and read once per call",
    ("services/witness/client.py", "WitnessClient"): "the size the witness last acknowledged, "
    "used by the log's one publisher thread",
    ("services/witness/logs.py", "Logs"): "the followed logs, built at start before any request",
    ("services/witness/feeder.py", "TileProofs"): "made per feed run: its tile memo is that run's",
}


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    return tuple((path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path)))
                 for path in sorted(SERVICES.rglob("*.py")))  # fmt: skip


def _modules() -> Iterator[tuple[str, ast.Module]]:
    yield from _parsed()


def _is_container(node: ast.expr | None) -> bool:
    if isinstance(node, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        return name in _CONTAINERS
    return False


def _written(target: ast.expr) -> Iterator[ast.expr]:
    """What a store or a mutating call changes: ``x`` of ``x[k] = v`` / ``x.add(v)``."""
    if isinstance(target, ast.Subscript):
        yield target.value


def module_state_written(tree: ast.Module) -> set[str]:
    """Module-level containers mutated anywhere in the module, and names rebound via ``global``."""
    containers = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_container(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            containers |= {t.id for t in targets if isinstance(t, ast.Name)} - {"__all__"}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found |= set(node.names)
        changed: list[ast.expr] = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                changed += _written(target)
                if isinstance(node, ast.AugAssign):
                    changed.append(target)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _MUTATORS:
                changed.append(node.func.value)
        found |= {c.id for c in changed if isinstance(c, ast.Name) and c.id in containers}
    return found


def _self_attr(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id == "self":
            return node.attr
    return None


def object_state_written(tree: ast.Module) -> dict[str, set[str]]:
    """Class -> ``self`` attributes set or mutated in a method other than ``__init__``."""
    found: dict[str, set[str]] = {}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for fn in cls.body:
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if fn.name in ("__init__", "__post_init__"):
                continue
            for node in ast.walk(fn):
                attrs: list[str | None] = []
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                    targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                               else [node.target])  # fmt: skip
                    for target in targets:
                        for sub in ast.walk(target):
                            if isinstance(sub, ast.Attribute) and isinstance(
                                sub.ctx, (ast.Store, ast.Del)
                            ):
                                attrs.append(_self_attr(sub))
                            attrs += [_self_attr(w) for w in _written(sub)]
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr in _MUTATORS:
                        attrs.append(_self_attr(node.func.value))
                names = {a for a in attrs if a is not None}
                if names:
                    found.setdefault(cls.name, set()).update(names)
    return found


def test_module_globals_are_not_written_after_import() -> None:
    found = {(path, name) for path, tree in _modules() for name in module_state_written(tree)}
    unexplained = sorted(found - set(MODULE_STATE))
    assert unexplained == [], (
        "module state written at run time; make it a constant, move it "
        f"onto an object, or add it to MODULE_STATE with the reason it is safe: {unexplained}"
    )


def test_shared_objects_change_only_where_it_is_explained() -> None:
    found = {(path, cls) for path, tree in _modules() for cls in object_state_written(tree)}
    unexplained = sorted(found - set(OBJECT_STATE))
    assert unexplained == [], (
        "objects changed after __init__; keep request state in locals or "
        f"the request, or add the class to OBJECT_STATE with the reason it is safe: {unexplained}"
    )


def test_every_allowance_names_something_that_exists() -> None:
    modules = dict(_modules())

    def defined(tree: ast.Module) -> set[str]:
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
        return names

    stale = [key for key in (*MODULE_STATE, *OBJECT_STATE)
             if key[0] not in modules or key[1] not in defined(modules[key[0]])]  # fmt: skip
    assert stale == []
    assert all(reason.strip() for reason in (*MODULE_STATE.values(), *OBJECT_STATE.values()))


def test_the_scan_finds_what_it_is_meant_to() -> None:
    # The device-flow bug's shape, and the module-level shapes, in a module of their own.
    source = """
CACHE = {}
SEEN = []
CONST = {"a": 1}
_last = None

def remember(k, v):
    CACHE[k] = v
    SEEN.append(k)
    global _last
    _last = k
    return CONST["a"]

class Endpoint:
    def __init__(self):
        self._payload = None
        self.seen = set()

    def create_authorization_response(self, request):
        self._payload = request.form
        self.seen.add(request.id)
        local = {}
        local["x"] = 1
"""
    tree = ast.parse(source)
    assert module_state_written(tree) == {"CACHE", "SEEN", "_last"}
    assert object_state_written(tree) == {"Endpoint": {"_payload", "seen"}}
