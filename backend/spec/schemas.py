"""Response and hook schemas of the HTTP contract (``docs/spec``), apart from any logic.

The request models of the connectors live with their connector modules; the hook
models live here because every connector shares them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from backend.spec.fields import SECRET, TEXT

# --- ApplicationMessage ------------------------------------------------------------------------


class Durability(StrEnum):
    transient = "transient"
    persistent = "persistent"
    temporary = "temporary"


class SystemMessageKind(StrEnum):
    success = "success"
    error = "error"
    warning = "warning"
    info = "info"


class Display(StrEnum):
    field = "field"
    screen = "screen"
    notification = "notification"


class ApplicationMessage(BaseModel):
    id: str | None = Field(default=None, title="Id")
    code: str = Field(title="Code")
    title: str = Field(title="Title")
    body: str = Field(title="Body")
    durability: Durability | None = Durability.temporary
    duration: int | None = Field(default=5000, title="Duration")
    kind: SystemMessageKind | None = SystemMessageKind.info
    details: dict[str, list[str]] | None = Field(default=None, title="Details")
    payload: Any = Field(default=None, title="Payload")
    action: Annotated[dict[str, Any], WithJsonSchema({"type": "object"})] | None = Field(default=None, title="Action")
    display: Display | None = Display.notification
    created_at: str | None = Field(default=None, title="Created At")


# --- supported_types ---------------------------------------------------------------------------


class Property(BaseModel):
    type: str | list[str] | None = Field(default=None, title="Type")
    default: str | int | float | bool | None = Field(default=None, title="Default")
    values: list[str] | None = Field(default=None, title="Values")


PropertyMap = dict[str, dict[str, Property]]


class SupportedConnectionTypes(BaseModel):
    connectors: PropertyMap | None = Field(default=None, title="Connectors")
    write_connectors: PropertyMap | None = Field(default=None, title="Write Connectors")
    hooks: PropertyMap | None = Field(default=None, title="Hooks")


# --- functionalities ---------------------------------------------------------------------------


class FunctionalityName(StrEnum):
    HIGH_PERFORMANCE_WRITING = "HIGH_PERFORMANCE_WRITING"
    IDEMPOTENT_WRITING = "IDEMPOTENT_WRITING"


class FunctionalityKind(StrEnum):
    ADDITIVE = "ADDITIVE"
    PREVENTIVE = "PREVENTIVE"


class FunctionalityApplicability(StrEnum):
    FULL = "FULL"
    PARTIAL = "PARTIAL"


class FunctionalityCapabilityName(StrEnum):
    IDENTITY_WRITING = "IDENTITY_WRITING"
    DATA_TRUNCATION = "DATA_TRUNCATION"
    DATA_DELETION = "DATA_DELETION"
    INDEX_MANAGEMENT = "INDEX_MANAGEMENT"
    FOREIGN_KEY_MANAGEMENT = "FOREIGN_KEY_MANAGEMENT"
    UNIQUE_CONSTRAINT_MANAGEMENT = "UNIQUE_CONSTRAINT_MANAGEMENT"
    TRIGGER_MANAGEMENT = "TRIGGER_MANAGEMENT"
    SCHEMA_MANAGEMENT = "SCHEMA_MANAGEMENT"


class FunctionalityCapabilitySchema(BaseModel):
    name: FunctionalityCapabilityName | None = None
    depends_on: list[str] | None = Field(default=None, title="Depends On")


class FunctionalitySchema(BaseModel):
    name: FunctionalityName | None = None
    description: str | None = Field(default=None, title="Description")
    kind: FunctionalityKind | None = None
    applicability: FunctionalityApplicability | None = None
    capabilities: list[FunctionalityCapabilitySchema] | None = Field(default=None, title="Capabilities")


class FunctionalityListSchema(BaseModel):
    functionalities: list[FunctionalitySchema] | None = Field(default=[], title="Functionalities")


# --- hooks -------------------------------------------------------------------------------------


STRICT = ConfigDict(strict=True)

# Hook models carry no docstring: it would become a description the spec does not have.


class CreateSSHTunnelHooksSchema(BaseModel):
    model_config = STRICT
    # An SSH tunnel to the connector's host and port, opened before the database is reached.

    host: str | None = Field(default=None, title="Host")
    port: int | None = Field(default=None, title="Port")
    username: str | None = Field(default=None, title="Username")
    local_port: int | None = Field(default=None, title="Local Port")
    local_host: str | None = Field(default=None, title="Local Host")
    password: Annotated[str | None, SECRET] = Field(default=None, title="Password", repr=False)
    pkey_password: Annotated[str | None, SECRET] = Field(default=None, title="Pkey Password", repr=False)
    pkey: Annotated[str | None, SECRET, TEXT] = Field(default=None, title="Pkey", repr=False)


class CreateSSLHooksSchema(BaseModel):
    model_config = STRICT
    # TLS settings: a mode, and the CA, client certificate and key as server-side files or inline PEM.

    ca_filename: str | None = Field(default=None, title="Ca Filename")
    cert_filename: str | None = Field(default=None, title="Cert Filename")
    key_filename: str | None = Field(default=None, title="Key Filename")
    ssl_mode: str | None = Field(default=None, title="Ssl Mode")
    ca: Annotated[str | None, TEXT] = Field(default=None, title="Ca")
    cert: Annotated[str | None, TEXT] = Field(default=None, title="Cert")
    key: Annotated[str | None, SECRET, TEXT] = Field(default=None, title="Key", repr=False)


class CreateKerberosHooksSchema(BaseModel):
    model_config = STRICT
    # Kerberos (GSSAPI) login with a principal and a keytab inside ``WIZARD_FILES_DIR``.

    principal: str | None = Field(default=None, title="Principal")
    keytab_file: str | None = Field(default=None, title="Keytab File")


class CreateConnectionHooksSchema(BaseModel):
    model_config = STRICT
    SSHTunnel: CreateSSHTunnelHooksSchema | None = None
    SSL: CreateSSLHooksSchema | None = None
    Kerberos: CreateKerberosHooksSchema | None = None


HOOK_MODELS: dict[str, type[BaseModel]] = {
    "SSHTunnel": CreateSSHTunnelHooksSchema,
    "SSL": CreateSSLHooksSchema,
    "Kerberos": CreateKerberosHooksSchema,
}


# --- forms (an extension beyond the spec: GET …/forms/) ----------------------------------------


class FormField(BaseModel):
    name: str
    label: str
    help: str | None = None
    placeholder: str | None = None
    advanced: bool = False
    row: str | None = None
    upload: bool = False
    # What the field is (as ``supported_types`` says it), so that ``forms/`` alone builds the form:
    type: str | list[str] = "string"
    default: Any = None
    values: list[str] | None = None
    required: bool = False
    secret: bool = False
    """A stored secret: masked in the UI, never echoed back (a saved one reads as ``mask``)."""
    minimum: int | float | None = None
    maximum: int | float | None = None
    group: str = "connection"
    """``connection`` for the connector's own fields, else the hook (``SSHTunnel``, ``SSL``, ``Kerberos``)."""


class FormOption(BaseModel):
    label: str
    fields: list[str]


class FormAlternative(BaseModel):
    name: str
    label: str
    options: list[FormOption]


class FormURI(BaseModel):
    schemes: list[str]
    example: str


class ConnectorForm(BaseModel):
    connector_type: str
    label: str
    category: str
    source: bool
    destination: bool = True
    target_fields: list[str]
    """Where the connection goes: changing one while a secret is the stored mask is refused (name it)."""
    hooks: list[str] = Field(default_factory=list)
    """The hooks that make sense for this connector, in the order of ``ConnectionForms.hooks``."""
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Field path → what differs for this connector (``hooks_params.SSL.ssl_mode``: its own ``values``)."""
    stages: list[str] = Field(default_factory=list)
    """Its test's stages, in order (``payload.stages``)."""
    uri: FormURI | None
    fields: list[FormField]
    alternatives: list[FormAlternative]


class HookForm(BaseModel):
    label: str
    help: str
    fields: list[FormField]
    alternatives: list[FormAlternative]
    target_fields: list[str] = Field(default_factory=list)
    """The hook's fields that say where a connection goes (an SSH server's host and port)."""


class PlainWords(BaseModel):
    label: str
    meaning: str


class ConnectionForms(BaseModel):
    connectors: list[ConnectorForm]
    hooks: dict[str, HookForm]
    mask: str = "**********"
    """How a stored secret reads in a saved connection; sent back, it keeps the stored value."""
    stages: dict[str, str] = Field(default_factory=dict)
    """Each stage name as a person reads it ("Find the server")."""
    words: dict[str, PlainWords] = Field(default_factory=dict)
    """Capability, functionality and access names in plain words (label and meaning)."""


def optional_not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a field that may be left out but not sent as null (a PATCH's
    ``name``): its schema loses the ``null`` alternative and the ``default: null``."""
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]
