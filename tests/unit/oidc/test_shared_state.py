"""No request state on objects that outlive a request (issue 11, item 1).

A worker serves many requests at once on threads that share the app: the authlib server, its
client authentication, the registered endpoints, the issuer and its settings, and every module.
Anything a request writes there can be read by another request. These tests hold that line: the
shared objects look the same after a mix of requests as before, and the issuer's modules have no
mutable containers at module level.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from sigstack.services.oidc import app as oidc_app
from sigstack.services.oidc.config import OIDCConfig
from tests.support.oidc import csrf_from, pkce

from .helpers import PASSWORD, auth_params, basic, code_from, login

OIDC = Path(oidc_app.__file__).resolve().parent


def _shared(env):
    server = env.app.extensions["sigstack_oidc_server"]
    objects = {"server": server, "client_auth": server._client_auth, "issuer": env.issuer}
    for name, endpoints in server._endpoints.items():
        for i, endpoint in enumerate(endpoints):
            objects[f"endpoint {name}[{i}]"] = endpoint
    return objects


def _snapshot(objects):
    return {name: {k: id(v) for k, v in vars(obj).items()} for name, obj in objects.items()}


def test_requests_leave_no_state_on_shared_objects(env):
    objects = _shared(env)
    before = _snapshot(objects)
    verifier, challenge = pkce()
    env.client.post(
        "/device/code",
        data={
            "client_id": "sigstore",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    env.client.post("/device/code", data={"client_id": "sigstore"})
    code = code_from(login(env, auth_params(challenge)))
    env.client.post(
        "/token",
        headers=basic("sigstore"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": auth_params(None)["redirect_uri"],
            "code_verifier": verifier,
        },
    )
    login(env, auth_params(challenge), password="wrong")
    page = env.client.get("/device")
    env.client.post(
        "/device",
        data={
            "user_code": "BCDF-GHJK",
            "username": "alice",
            "password": PASSWORD,
            "decision": "approve",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert _snapshot(objects) == before


def _mutable(node: ast.expr) -> bool:
    if isinstance(node, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter"}
    )


def test_no_module_level_mutable_containers():
    """Module globals are shared by every thread: constants are tuples, frozensets or
    read-only mappings. (``__all__`` is a list by convention and never written.)"""
    found = []
    for path in sorted(OIDC.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if names != ["__all__"] and _mutable(node.value):
                    found.append(f"{path.name}:{node.lineno} {', '.join(names)}")
    assert found == []


def test_loaded_configurations_share_no_mutable_value():
    first = OIDCConfig.load(environ={})
    for value in dataclasses.asdict(first).values():
        assert not isinstance(value, (list, dict, set)), value
