"""The central's published API and backend_client.wire must describe the same wire format.

The running central's /openapi.json is compared with the JSON schemas of the wire models,
route by route (field names, types, formats, constraints, required fields), and every
refusal code the central can give must be a wire.ErrorCode.  A change on one side only
(a field renamed, a type changed, a model of the central's own) fails here.
"""

from __future__ import annotations

import ast
import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from backend_client import wire
from tests.shared_data import REPO_ROOT
from tests.support.central_server import RunningCentral

CENTRAL_SOURCES = REPO_ROOT / "central"
TIMEOUT = (5.0, 10.0)
# Keys that document a schema without changing what is valid on the wire.
_DOC_KEYS = frozenset({"title", "description", "examples", "example"})


@dataclass(frozen=True)
class RouteContract:
    method: str
    request: type[BaseModel] | None
    response: type[BaseModel] | None  # None: 204 without a body
    idempotent: bool = False


CONTRACT: dict[str, RouteContract] = {
    wire.Routes.HELLO: RouteContract("get", None, wire.KioskHello),
    wire.Routes.LOOKUP_CODE: RouteContract("post", wire.CodeLookupRequest, wire.LookupResponse),
    wire.Routes.LOOKUP_TOKEN: RouteContract("post", wire.TokenLookupRequest, wire.LookupResponse),
    wire.Routes.CLAIMS: RouteContract("post", wire.ClaimRequest, wire.ClaimResponse, idempotent=True),
    wire.Routes.CLAIM_PRINTING: RouteContract("post", wire.PrintNotice, wire.PrintPermit, idempotent=True),
    wire.Routes.CLAIM_REPORT: RouteContract("post", wire.ClaimReport, wire.ClaimStatus, idempotent=True),
    wire.Routes.KEYS: RouteContract("get", None, wire.KeySet),
    wire.Routes.REVOCATIONS: RouteContract("get", None, wire.RevocationList),
    wire.Routes.CARD_TAP: RouteContract("post", wire.CardTap, wire.CardView),
    wire.Routes.CARD_SHOWINGS: RouteContract("get", None, wire.CardShowings),
    wire.Routes.SHOWING_SEATS: RouteContract("get", None, wire.SeatMap),
    wire.Routes.REDEMPTIONS: RouteContract("post", wire.RedemptionRequest, wire.RedemptionView, idempotent=True),
    wire.Routes.REDEMPTION: RouteContract("get", None, wire.RedemptionView),
    wire.Routes.REDEMPTION_DEBITING: RouteContract("post", wire.DebitNotice, wire.RedemptionView, idempotent=True),
    wire.Routes.REDEMPTION_CONFIRM: RouteContract("post", wire.DebitProofBody, wire.RedemptionResult,
                                                  idempotent=True),
    wire.Routes.REDEMPTION_CANCEL: RouteContract("post", wire.RedemptionCancel, wire.RedemptionView),
    wire.Routes.REDEMPTION_CLAIM: RouteContract("post", wire.OwedClaimRequest, wire.ClaimResponse, idempotent=True),
    wire.Routes.CARD_BLACKLIST: RouteContract("get", None, wire.CardBlacklist),
    wire.Routes.OFFLINE_DEBITS: RouteContract("post", wire.OfflineDebitBatch, wire.OfflineDebitResult),
    wire.Routes.CARD_TRANSACTIONS: RouteContract("get", None, wire.CardTransactionPage),
    wire.Routes.STAFF_LOGIN: RouteContract("post", wire.StaffLogin, wire.StaffSession),
    wire.Routes.STAFF_LOGOUT: RouteContract("post", None, None),
    wire.Routes.CARD_SELL: RouteContract("post", wire.CardUpdateRequest, wire.CardUpdate),
    wire.Routes.CARD_RENEW: RouteContract("post", wire.CardUpdateRequest, wire.CardUpdate),
    wire.Routes.CARD_RECYCLE: RouteContract("post", None, wire.CardView),
    wire.Routes.CARD_BLACKLIST_ENTRY: RouteContract("post", wire.BlacklistRequest, wire.CardView),
    wire.Routes.RECOVERY_SESSIONS: RouteContract("post", wire.RecoveryStart, wire.RecoverySession, idempotent=True),
    wire.Routes.RECOVERY_SESSION: RouteContract("get", None, wire.RecoverySession),
    wire.Routes.RECOVERY_FACE: RouteContract("post", wire.FaceAttempt, wire.FaceVerdict, idempotent=True),
    wire.Routes.RECOVERY_SMS: RouteContract("post", None, wire.SmsSent, idempotent=True),
    wire.Routes.RECOVERY_SMS_CHECK: RouteContract("post", wire.SmsCodeCheck, wire.SmsVerdict, idempotent=True),
    wire.Routes.RECOVERY_COMPLETE: RouteContract("post", wire.RecoveryComplete, wire.RecoveryResult,
                                                 idempotent=True),
}
# The partner API (partner platforms' servers, never a kiosk).
PARTNER_CONTRACT: dict[str, RouteContract] = {
    wire.PartnerRoutes.LOSS_REPORT: RouteContract("post", wire.LossReport, wire.LossReportResult),
    wire.PartnerRoutes.ACCOUNTS: RouteContract("post", wire.AccountBinding, wire.AccountView),
    wire.PartnerRoutes.FACE_TEMPLATES: RouteContract("post", wire.FaceEnrolment, wire.FaceTemplateView),
    wire.PartnerRoutes.FACE_TEMPLATE_DELETE: RouteContract("post", wire.FaceTemplateDeletion,
                                                           wire.FaceTemplateDeleted),
}
# Further operations on a path of CONTRACT (the one route with two methods).
MORE_OPERATIONS: list[tuple[str, RouteContract]] = [
    (wire.Routes.CARD_BLACKLIST_ENTRY, RouteContract("delete", None, wire.CardView)),
]
OPERATIONS = [*CONTRACT.items(), *PARTNER_CONTRACT.items(), *MORE_OPERATIONS]


# -- schema comparison -------------------------------------------------------------------


def resolve(schema: Any, root: dict[str, Any]) -> Any:
    """Inline every $ref (OpenAPI components or pydantic $defs) and drop documentation keys."""
    if isinstance(schema, list):
        return [resolve(item, root) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return resolve({**target, **siblings}, root)
    return {
        key: resolve(value, root)
        for key, value in schema.items()
        # FastAPI leaves out "default": null; whether a field may be absent is in "required".
        if key not in _DOC_KEYS and key != "$defs" and not (key == "default" and value is None)
    }


def model_schema(model: type[BaseModel], mode: str) -> Any:
    schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    return resolve(schema, schema)


def differences(wire_side: Any, central_side: Any, where: str) -> list[str]:
    """Every place where two resolved schemas disagree, as readable lines."""
    if isinstance(wire_side, dict) and isinstance(central_side, dict):
        found: list[str] = []
        for key in sorted(set(wire_side) | set(central_side)):
            if key not in central_side:
                found.append(f"{where}.{key}: only in wire ({wire_side[key]!r})")
            elif key not in wire_side:
                found.append(f"{where}.{key}: only in the central ({central_side[key]!r})")
            elif key in ("required", "enum"):
                if sorted(map(str, wire_side[key])) != sorted(map(str, central_side[key])):
                    found.append(f"{where}.{key}: wire {sorted(wire_side[key])} != central {sorted(central_side[key])}")
            else:
                found += differences(wire_side[key], central_side[key], f"{where}.{key}")
        return found
    if isinstance(wire_side, list) and isinstance(central_side, list) and len(wire_side) == len(central_side):
        return [line for i, (a, b) in enumerate(zip(wire_side, central_side, strict=True))
                for line in differences(a, b, f"{where}[{i}]")]
    return [] if wire_side == central_side else [f"{where}: wire {wire_side!r} != central {central_side!r}"]


def json_body_schema(container: dict[str, Any], spec: dict[str, Any]) -> Any:
    content = container.get("content", {})
    assert "application/json" in content, f"no JSON body: {sorted(content)}"
    return resolve(content["application/json"]["schema"], spec)


# -- the running central ------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(module_central: RunningCentral) -> dict[str, Any]:
    response = requests.get(module_central.base_url + "/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:300]
    spec: dict[str, Any] = response.json()
    return spec


def test_every_wire_route_is_in_the_contract() -> None:
    routes = {value for name, value in vars(wire.Routes).items() if name.isupper()}
    assert routes == set(CONTRACT)
    partner_routes = {value for name, value in vars(wire.PartnerRoutes).items() if name.isupper()}
    assert partner_routes == set(PARTNER_CONTRACT)


@pytest.mark.parametrize("path, contract", OPERATIONS, ids=[f"{c.method} {p}" for p, c in OPERATIONS])
def test_route_schemas_are_the_wire_models(openapi: dict[str, Any], path: str, contract: RouteContract) -> None:
    assert path in openapi["paths"], f"the central does not serve {path}"
    operation = openapi["paths"][path].get(contract.method)
    assert operation is not None, f"the central does not accept {contract.method.upper()} {path}"

    if contract.request is None:
        assert "requestBody" not in operation
    else:
        central_request = json_body_schema(operation["requestBody"], openapi)
        wire_request = model_schema(contract.request, "validation")
        assert differences(wire_request, central_request, contract.request.__name__) == []

    successes = [status for status in operation["responses"] if status.startswith("2")]
    assert len(successes) == 1, f"{path}: expected one success status, got {successes}"
    if contract.response is None:
        assert successes == ["204"] and "content" not in operation["responses"]["204"]
        return
    central_answer = json_body_schema(operation["responses"][successes[0]], openapi)
    wire_answer = model_schema(contract.response, "serialization")
    assert differences(wire_answer, central_answer, contract.response.__name__) == []


@pytest.mark.parametrize("path", sorted(p for p, c in CONTRACT.items() if c.idempotent))
def test_idempotency_header_has_the_wire_name(openapi: dict[str, Any], path: str) -> None:
    operation = openapi["paths"][path][CONTRACT[path].method]
    header_names = {p["name"].lower(): p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}
    idempotency_like = {low: name for low, name in header_names.items() if "idempot" in low}
    # The central may read the header without declaring it; if declared, it must be the wire's name.
    assert set(idempotency_like.values()) <= {wire.IDEMPOTENCY_HEADER}


def test_documented_errors_are_error_bodies(openapi: dict[str, Any]) -> None:
    error_body = model_schema(wire.ErrorBody, "serialization")
    for path, contract in OPERATIONS:
        for status, answer in openapi["paths"][path][contract.method]["responses"].items():
            if status.startswith(("4", "5")) and "application/json" in answer.get("content", {}):
                central_error = json_body_schema(answer, openapi)
                assert differences(error_body, central_error, f"{path} {status}") == [], (
                    "a refusal documented by the central is not a wire.ErrorBody"
                )


def test_published_error_codes_are_wire_error_codes(openapi: dict[str, Any]) -> None:
    wire_codes = {code.value for code in wire.ErrorCode}
    for name, schema in openapi.get("components", {}).get("schemas", {}).items():
        code = resolve(schema, openapi).get("properties", {}).get("code", {})
        if "enum" in code:
            assert set(code["enum"]) <= wire_codes, f"{name} names codes the kiosk does not know"


def test_central_answers_refusals_as_error_bodies(module_central: RunningCentral) -> None:
    """Refusals made by the framework itself (auth, validation) must be wire ErrorBodies too."""
    central = module_central
    probes = [
        ("get", wire.Routes.HELLO, {}, None),
        ("get", wire.Routes.HELLO, {"Authorization": "Bearer nobody.wrong"}, None),
        ("post", wire.Routes.LOOKUP_CODE, {"Authorization": f"Bearer {central.kiosk_credential}"}, b"{not json"),
        ("post", wire.Routes.LOOKUP_CODE, {"Authorization": f"Bearer {central.kiosk_credential}"},
         json.dumps({"serial": "12", "verification": 5}).encode()),
        ("post", wire.Routes.CLAIMS, {"Authorization": f"Bearer {central.kiosk_credential}"},
         json.dumps({"order_id": "o", "ticket_ids": []}).encode()),
    ]
    for method, path, headers, body in probes:
        response = requests.request(method, central.base_url + path, data=body, timeout=TIMEOUT,
                                    headers={**headers, "Content-Type": "application/json"})
        error = wire.ErrorBody.model_validate_json(response.content)
        assert response.status_code == wire.ERROR_HTTP_STATUS[error.code], (path, error)


# -- the central's source -----------------------------------------------------------------


def central_modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(CENTRAL_SOURCES.rglob("*.py"))]


def test_central_names_only_wire_error_codes() -> None:
    used: set[tuple[str, str]] = set()
    for path, module in central_modules():
        for node in ast.walk(module):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
                used.add((node.attr, str(path.relative_to(REPO_ROOT))))
    assert used, "the central names no ErrorCode at all: is the scan looking in the right place?"
    unknown = sorted((name, where) for name, where in used if name not in wire.ErrorCode.__members__)
    assert unknown == []


def test_central_defines_no_wire_model_of_its_own() -> None:
    wire_names = {
        name for name, value in vars(wire).items()
        if isinstance(value, type) and issubclass(value, (BaseModel, enum.Enum))
        and value.__module__ == wire.__name__
    }
    defined = [
        (node.name, str(path.relative_to(REPO_ROOT)))
        for path, module in central_modules()
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef) and node.name in wire_names
    ]
    assert defined == [], "the central must import these from backend_client.wire"


# -- the comparison itself can fail ---------------------------------------------------------


class ClaimResponseWithRenamedField(wire.WireModel):
    claim_id: str
    order: str  # renamed from order_id
    lease_expires_at: Any
    tickets: list[wire.ClaimedTicket]


class ClaimedTicketWithPriceAsText(wire.WireModel):
    ticket_id: str
    row: str
    seat: str
    price_fen: str
    entrance_token: str


class ClaimRequestWithOptionalTickets(wire.WireModel):
    order_id: str
    ticket_ids: list[str] = []


def test_comparison_sees_a_renamed_field() -> None:
    found = differences(model_schema(wire.ClaimResponse, "serialization"),
                        model_schema(ClaimResponseWithRenamedField, "serialization"), "ClaimResponse")
    assert any("order_id" in line for line in found)
    assert any("required" in line for line in found)


def test_comparison_sees_a_changed_type() -> None:
    found = differences(model_schema(wire.ClaimedTicket, "serialization"),
                        model_schema(ClaimedTicketWithPriceAsText, "serialization"), "ClaimedTicket")
    assert found == ["ClaimedTicket.properties.price_fen.type: wire 'integer' != central 'string'"]


def test_comparison_sees_a_dropped_constraint_and_required_field() -> None:
    found = differences(model_schema(wire.ClaimRequest, "validation"),
                        model_schema(ClaimRequestWithOptionalTickets, "validation"), "ClaimRequest")
    assert any("minItems" in line for line in found)
    assert any("required" in line for line in found)


def test_comparison_accepts_the_same_model_through_openapi_refs() -> None:
    schema = wire.ClaimResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    spec = {"components": {"schemas": {**schema.pop("$defs"), "ClaimResponse": schema}}}
    as_published = resolve({"$ref": "#/components/schemas/ClaimResponse"}, spec)
    assert differences(model_schema(wire.ClaimResponse, "serialization"), as_published, "ClaimResponse") == []
