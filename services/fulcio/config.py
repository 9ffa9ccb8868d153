"""Fulcio's configuration: the server keys (``FulcioConfig``) and the identity part, which OIDC
issuers are trusted and how their tokens map to certs (``IdentityConfig``).

The file is JSON, read once at start, with the key spellings of upstream Fulcio's JSON config
(``OIDCIssuers``, ``MetaIssuers``, ``CIIssuerMetadata``, ``IssuerURL``, ``ClientID``, ``Type``, ...;
see docs/fulcio.md) so an upstream config can be reused. Validation happens here, at load, so a bad
file stops the service instead of failing requests later.

Meta-issuer patterns follow Fulcio >= 1.8.5: every character is literal except ``*``, which matches
``[-_a-zA-Z0-9]+`` (never ``.`` or ``/``), and the pattern is anchored at both ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from cryptography import x509

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.config import ServiceConfig

from .policy import Rule, parse_policy

TYPES = ("email", "uri", "username", "kubernetes", "spiffe", "ci-provider")

# Built-in ci-provider mappings (extension name -> template); see fulcio.md section 4.5.
GITHUB_ACTIONS: dict[str, Any] = {
    "DefaultTemplateValues": {"url": "https://github.com", "environment": ""},
    "SubjectAlternativeNameTemplate": "{{ .url }}/{{ .job_workflow_ref }}",
    "ExtensionTemplates": {
        "GithubWorkflowTrigger": "event_name",
        "GithubWorkflowSHA": "sha",
        "GithubWorkflowName": "workflow",
        "GithubWorkflowRepository": "repository",
        "GithubWorkflowRef": "ref",
        "BuildSignerURI": "{{ .url }}/{{ .job_workflow_ref }}",
        "BuildSignerDigest": "job_workflow_sha",
        "RunnerEnvironment": "runner_environment",
        "SourceRepositoryURI": "{{ .url }}/{{ .repository }}",
        "SourceRepositoryDigest": "sha",
        "SourceRepositoryRef": "ref",
        "SourceRepositoryIdentifier": "repository_id",
        "SourceRepositoryOwnerURI": "{{ .url }}/{{ .repository_owner }}",
        "SourceRepositoryOwnerIdentifier": "repository_owner_id",
        "BuildConfigURI": "{{ .url }}/{{ .workflow_ref }}",
        "BuildConfigDigest": "workflow_sha",
        "BuildTrigger": "event_name",
        "RunInvocationURI": "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}"
        "/attempts/{{ .run_attempt }}",
        "SourceRepositoryVisibilityAtSigning": "repository_visibility",
        "DeploymentEnvironment": "environment",
    },
}

# No default ``url``: the identity code uses the token's ``iss`` (the GitLab instance), so
# self-managed GitLab works without configuration; DefaultTemplateValues.url overrides it.
GITLAB_CI: dict[str, Any] = {
    "DefaultTemplateValues": {"environment": ""},
    "SubjectAlternativeNameTemplate": "https://{{ .ci_config_ref_uri }}",
    "ExtensionTemplates": {
        "BuildSignerURI": "https://{{ .ci_config_ref_uri }}",
        "BuildSignerDigest": "ci_config_sha",
        "RunnerEnvironment": "runner_environment",
        "SourceRepositoryURI": "{{ .url }}/{{ .project_path }}",
        "SourceRepositoryDigest": "sha",
        "SourceRepositoryRef": 'refs/{{if eq .ref_type "branch"}}heads/{{ else }}tags/{{end}}{{ .ref }}',
        "SourceRepositoryIdentifier": "project_id",
        "SourceRepositoryOwnerURI": "{{ .url }}/{{ .namespace_path }}",
        "SourceRepositoryOwnerIdentifier": "namespace_id",
        "BuildConfigURI": "https://{{ .ci_config_ref_uri }}",
        "BuildConfigDigest": "ci_config_sha",
        "BuildTrigger": "pipeline_source",
        "RunInvocationURI": "{{ .url }}/{{ .project_path }}/-/jobs/{{ .job_id }}",
        "SourceRepositoryVisibilityAtSigning": "project_visibility",
        "DeploymentEnvironment": "environment",
    },
}

BUILTIN_CI = {"github-workflow": GITHUB_ACTIONS, "gitlab-pipeline": GITLAB_CI}

# Upstream ExtensionTemplates keys -> protocol.x509ext names.
EXTENSION_KEYS = {
    "GithubWorkflowTrigger": "github_workflow_trigger",
    "GithubWorkflowSHA": "github_workflow_sha",
    "GithubWorkflowName": "github_workflow_name",
    "GithubWorkflowRepository": "github_workflow_repository",
    "GithubWorkflowRef": "github_workflow_ref",
    "BuildSignerURI": "build_signer_uri",
    "BuildSignerDigest": "build_signer_digest",
    "RunnerEnvironment": "runner_environment",
    "SourceRepositoryURI": "source_repository_uri",
    "SourceRepositoryDigest": "source_repository_digest",
    "SourceRepositoryRef": "source_repository_ref",
    "SourceRepositoryIdentifier": "source_repository_identifier",
    "SourceRepositoryOwnerURI": "source_repository_owner_uri",
    "SourceRepositoryOwnerIdentifier": "source_repository_owner_identifier",
    "BuildConfigURI": "build_config_uri",
    "BuildConfigDigest": "build_config_digest",
    "BuildTrigger": "build_trigger",
    "RunInvocationURI": "run_invocation_uri",
    "SourceRepositoryVisibilityAtSigning": "source_repository_visibility_at_signing",
    "DeploymentEnvironment": "deployment_environment",
}


@dataclass(frozen=True)
class CIProvider:
    san_template: str
    extension_templates: Mapping[str, str]
    defaults: Mapping[str, str]


@dataclass(frozen=True)
class Issuer:
    """One trusted OIDC issuer (or, with ``wildcard``, a meta-issuer pattern)."""

    url: str
    type: str
    client_id: str = "sigstore"
    wildcard: bool = False
    ci_provider: CIProvider | None = None
    issuer_claim: str = ""
    subject_domain: str = ""
    spiffe_trust_domain: str = ""
    challenge_claim: str = ""
    ca_cert: str = ""
    skip_email_verification: bool = False
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    policy: tuple[Rule, ...] = ()  # IssuancePolicy: every rule must hold (policy.py)

    def configuration_json(self) -> dict[str, Any]:
        """The entry of ``GET /api/v2/configuration`` (every field emitted, as grpc-gateway does)."""
        return {
            ("wildcardIssuerUrl" if self.wildcard else "issuerUrl"): self.url,
            "audience": self.client_id,
            "challengeClaim": self.challenge_claim or ("email" if self.type == "email" else "sub"),
            "spiffeTrustDomain": self.spiffe_trust_domain,
            "issuerType": self.type,
            "subjectDomain": self.subject_domain,
            "skipEmailVerification": self.skip_email_verification,
        }


def meta_pattern(pattern: str) -> re.Pattern[str]:
    """Anchored regex for a meta-issuer pattern: literal text, ``*`` = ``[-_a-zA-Z0-9]+``."""
    return re.compile("^" + "[-_a-zA-Z0-9]+".join(re.escape(p) for p in pattern.split("*")) + "$")


@dataclass(frozen=True)
class IdentityConfig:
    issuers: Mapping[str, Issuer]
    meta_issuers: tuple[Issuer, ...]

    def lookup(self, iss: str) -> Issuer | None:
        """Exact issuer first, then meta-issuers in file order (a match returns a concrete copy)."""
        found = self.issuers.get(iss)
        if found is not None:
            return found
        for meta in self.meta_issuers:
            assert meta.pattern is not None
            if meta.pattern.match(iss):
                return Issuer(**{**_fields(meta), "url": iss, "wildcard": False, "pattern": None})
        return None

    def all(self) -> list[Issuer]:
        return [*self.issuers.values(), *self.meta_issuers]


def _fields(issuer: Issuer) -> dict[str, Any]:
    return {name: getattr(issuer, name) for name in Issuer.__dataclass_fields__}


def _ci_provider(name: str, metadata: Mapping[str, Any]) -> CIProvider:
    user, builtin = metadata.get(name), BUILTIN_CI.get(name)
    if user is None and builtin is None:
        raise ConfigError(f"ci-provider {name!r} has no CIIssuerMetadata entry")
    if user is not None and not isinstance(user, Mapping):
        raise ConfigError(f"CIIssuerMetadata {name!r} must be a JSON object")
    user, builtin = user or {}, builtin or {}
    # An entry named like a built-in mapping overrides it key by key (defaults merged), so a
    # self-managed instance only states what differs.
    raw = {**builtin, **user}
    raw["DefaultTemplateValues"] = {
        **(builtin.get("DefaultTemplateValues") or {}),
        **(user.get("DefaultTemplateValues") or {}),
    }
    templates = dict(raw.get("ExtensionTemplates") or {})
    unknown = sorted(set(templates) - set(EXTENSION_KEYS))
    if unknown:
        raise ConfigError(f"ci-provider {name!r}: unknown extension template(s) {unknown}")
    san = raw.get("SubjectAlternativeNameTemplate") or ""
    if not san:
        raise ConfigError(f"ci-provider {name!r} needs a SubjectAlternativeNameTemplate")
    from .templates import parse_template

    for text in [san, *templates.values()]:
        parse_template(text)  # raises ConfigError on a bad template
    defaults = {str(k): str(v) for k, v in (raw.get("DefaultTemplateValues") or {}).items()}
    return CIProvider(san, {EXTENSION_KEYS[k]: v for k, v in templates.items()}, defaults)


def _issuer(url: str, raw: Any, metadata: Mapping[str, Any], wildcard: bool) -> Issuer:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"issuer {url!r} must be a JSON object")
    kind = raw.get("Type", "")
    if kind not in TYPES:
        raise ConfigError(f"issuer {url!r}: Type must be one of {', '.join(TYPES)}")
    issuer_url = raw.get("IssuerURL") or url
    if issuer_url != url:
        raise ConfigError(f"issuer {url!r}: IssuerURL must equal the key it is listed under")
    ci = _ci_provider(raw.get("CIProvider", ""), metadata) if kind == "ci-provider" else None
    if raw.get("IssuerClaim") and kind != "email":
        raise ConfigError(f"issuer {url!r}: IssuerClaim is only allowed for email issuers")
    domain = raw.get("SubjectDomain", "")
    if kind in ("uri", "username") and not domain:
        raise ConfigError(f"issuer {url!r}: SubjectDomain is required for {kind} issuers")
    if kind == "uri" and not urlsplit(domain).scheme:
        raise ConfigError(f"issuer {url!r}: the uri SubjectDomain needs a scheme")
    trust_domain = raw.get("SPIFFETrustDomain", "")
    if kind == "spiffe":
        if wildcard:
            raise ConfigError(f"meta-issuer {url!r}: spiffe issuers cannot be meta-issuers")
        if not trust_domain or not re.fullmatch(r"[a-z0-9._-]+", trust_domain):
            raise ConfigError(f"issuer {url!r}: a valid SPIFFETrustDomain is required")
    ca_cert = raw.get("CACert", "")
    if ca_cert:
        try:
            x509.load_pem_x509_certificates(ca_cert.encode())
        except ValueError as exc:
            raise ConfigError(f"issuer {url!r}: CACert is not PEM certificates") from exc
    return Issuer(
        url=url,
        type=kind,
        client_id=raw.get("ClientID") or "sigstore",
        wildcard=wildcard,
        ci_provider=ci,
        issuer_claim=raw.get("IssuerClaim", ""),
        subject_domain=domain,
        spiffe_trust_domain=trust_domain,
        challenge_claim=raw.get("ChallengeClaim", ""),
        ca_cert=ca_cert,
        skip_email_verification=bool(raw.get("SkipEmailVerification", False)),
        pattern=meta_pattern(url) if wildcard else None,
        policy=parse_policy(raw.get("IssuancePolicy"), f"issuer {url!r}"),
    )


def parse_identity_config(raw: Mapping[str, Any]) -> IdentityConfig:
    """Validate the issuer part of the configuration file."""
    metadata = raw.get("CIIssuerMetadata") or {}
    issuers = {
        url: _issuer(url, value, metadata, False)
        for url, value in (raw.get("OIDCIssuers") or {}).items()
    }
    metas = tuple(
        _issuer(url, value, metadata, True) for url, value in (raw.get("MetaIssuers") or {}).items()
    )
    if not issuers and not metas:
        raise ConfigError("the Fulcio configuration lists no OIDCIssuers or MetaIssuers")
    names = [rule.name for issuer in [*issuers.values(), *metas] for rule in issuer.policy]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # a refusal, its log line and its metric name the rule alone
        raise ConfigError(f"IssuancePolicy rule names must be unique in the file: {repeated}")
    return IdentityConfig(issuers, metas)


# Seconds: (lowest, highest) of the keys that bound the OIDC discovery/JWKS cache and fetch.
_SECONDS = {"oidc_cache_max_age": (1, 3600), "oidc_fetch_timeout": (0.1, 60)}


@dataclass(frozen=True)
class FulcioConfig(ServiceConfig):
    """Every key of ``sigstack serve fulcio`` (docs/configuration.md); ``identity`` is the issuer
    part of the file (``OIDCIssuers``, ``MetaIssuers``, ``CIIssuerMetadata``), file only."""

    SERVICE: ClassVar[str] = "fulcio"

    max_body_bytes: int = 4 << 20
    ct_log_url: str = ""  # "" disables CT: no SCTs
    ct_log_public_key: str = ""  # PEM file; "" leaves the SCTs unchecked
    client_signing_algorithms: Any = None  # a list of pop.KNOWN_ALGORITHMS; None: the defaults
    ca_key: str = ""  # key URI; "" = the data directory's CA (serve)
    ca_chain: str = ""  # PEM file, issuing certificate first
    oidc_cache_max_age: float = 300
    oidc_fetch_timeout: float = 10
    identity: IdentityConfig | None = field(default=None, compare=False)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Self:
        """The server keys, then the issuers parsed and checked (``parse_identity_config``)."""
        config = super().from_mapping({k: v for k, v in raw.items() if k != "identity"})
        for key, (low, high) in _SECONDS.items():
            if not low <= getattr(config, key) <= high:
                raise ConfigError(f"{key} must be a number of seconds from {low:g} to {high:g}")
        return config.with_values(identity=parse_identity_config(raw))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {k: v for k, v in super().defaults().items() if k != "identity"}
