"""Evaluate k8s/admission's ValidatingAdmissionPolicy on an admission request, offline.

The 1.20 test API server cannot run admission policies (admissionregistration.k8s.io/v1
ValidatingAdmissionPolicy is 1.30+), so the policy's CEL is evaluated here with
cel-python, as the API server would: variables in order, then every validation; an
expression that errors refuses (failurePolicy: Fail). `request` is the `request` of an
AdmissionReview (admission.k8s.io/v1), as a 1.20 API server sends it to a webhook
(tests/integration/test_admission_recorded.py records them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import celpy
import yaml

POLICY_FILE = Path(__file__).parents[1] / "k8s" / "admission" / "requests-policy.yaml"
ENVIRONMENT = celpy.Environment()


def documents() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load_all(POLICY_FILE.read_text(encoding="utf-8"))
    return {document["kind"]: document for document in loaded}


@attrs.frozen
class Verdict:
    allowed: bool
    message: str = ""

    def __str__(self) -> str:
        return "allowed" if self.allowed else f"refused: {self.message}"


def _program(expression: str) -> Any:
    return ENVIRONMENT.program(ENVIRONMENT.compile(expression))


def _true(result: Any) -> bool:
    return isinstance(result, celpy.celtypes.BoolType) and bool(result)


def judge(request: dict[str, Any], params: dict[str, Any] | None = None) -> Verdict:
    """The policy's verdict on an AdmissionReview's `request`, with the shipped
    parameters (the ConfigMap) unless `params` is given."""
    shipped = documents()
    policy = shipped["ValidatingAdmissionPolicy"]["spec"]
    rules = policy["matchConstraints"]["resourceRules"]
    resource = request["resource"]
    operation = request["operation"]
    matched = any(
        resource["group"] in rule["apiGroups"]
        and resource["resource"] in rule["resources"]
        and not request.get("subResource")
        and operation in rule["operations"]
        for rule in rules
    )
    if not matched:
        return Verdict(True, "not matched")
    activation: dict[str, Any] = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(request.get("object")),
        "oldObject": celpy.json_to_cel(request.get("oldObject")),
        "params": celpy.json_to_cel(params if params is not None else shipped["ConfigMap"]),
    }
    variables: dict[str, Any] = {}
    for variable in policy.get("variables", ()):
        activation["variables"] = celpy.celtypes.MapType(variables)
        try:
            value = _program(variable["expression"]).evaluate(activation)
        except celpy.CELEvalError as error:  # an error only matters where it is used
            value = error
        variables[celpy.celtypes.StringType(variable["name"])] = value
    activation["variables"] = celpy.celtypes.MapType(variables)
    for validation in policy["validations"]:
        try:
            result = _program(validation["expression"]).evaluate(activation)
        except celpy.CELEvalError as error:  # failurePolicy: Fail, an error refuses
            result = error
        if not _true(result):
            message = validation.get("message", "")
            if "messageExpression" in validation:
                try:
                    said = _program(validation["messageExpression"]).evaluate(activation)
                except celpy.CELEvalError:
                    said = None  # the server falls back to `message`
                if isinstance(said, str):
                    message = str(said)
            return Verdict(False, message or f"failed: {validation['expression']}")
    return Verdict(True)
