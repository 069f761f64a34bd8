"""The OpenAPI 3.1 document of /api/v1 (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _json(_ref("Error"), "missing or invalid token"),
    "403": _json(_ref("Error"), "not allowed"),
    "404": _json(_ref("Error"), "not found or not visible to the caller"),
}
DELEGATION = {"type": "object", "properties": {
    "id": {"type": "integer"}, "from": {"type": "string"}, "to": {"type": "string"},
    "starts_on": {"type": "string", "format": "date"},
    "ends_on": {"type": "string", "format": "date"},
    "scope": {"type": "array", "items": {"type": "string"}}, "reason": {"type": "string"},
    "created_by": {"type": "string"}, "created_at": {"type": "string"},
    "ended_at": {"type": ["string", "null"]}}}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True,
               "schema": {"type": "integer"}}
DOCUMENT_ID = {"name": "document_id", "in": "path", "required": True,
               "schema": {"type": "integer"}}
PERIOD = [{"name": n, "in": "query", "required": True,
           "schema": {"type": "string", "format": "date"}} for n in ("from", "to")]
UNIT = {"name": "unit", "in": "query", "required": False, "schema": {"type": "string"}}
YEAR = {"name": "year", "in": "path", "required": True, "schema": {"type": "integer"}}
DATA_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"data": {"type": "object"}}}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "docroute API", "version": "1.0.0",
             "description": "Start cases, work tasks and read histories. Authenticate with "
                            "'Authorization: Bearer TOKEN' ('docroute token create NAME')."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/definitions": {"get": {
            "summary": "Deployed processes the caller may start",
            "responses": {"200": _json({"type": "array", "items": _ref("Definition")}, "ok"),
                          **ERRORS}}},
        "/definitions/{key}/instances": {"post": {
            "summary": "Start a case",
            "parameters": [{"name": "key", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"data": {"type": "object"},
                                                 "document_id": {"type": "integer"}}}}}},
            "responses": {"201": _json(_ref("Instance"), "the started case"),
                          "422": _json(_ref("FieldErrors"), "invalid data"), **ERRORS}}},
        "/instances/{instance_id}": {"get": {
            "summary": "A case's status", "parameters": [INSTANCE_ID],
            "responses": {"200": _json(_ref("Instance"), "ok"), **ERRORS}}},
        "/instances/{instance_id}/history": {"get": {
            "summary": "A case's events (participants, administrators, auditors)",
            "parameters": [INSTANCE_ID],
            "responses": {"200": _json({"type": "array", "items": _ref("Event")}, "ok"),
                          **ERRORS}}},
        "/cases/{instance_id}/chase": {"post": {
            "summary": "催办: notify the holders of the case's open tasks (registry, "
                       "supervision and office staff involved in the case; once per 2 hours)",
            "parameters": [INSTANCE_ID],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "note": {"type": "string", "maxLength": 500}}}}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "instance_id": {"type": "integer"},
                "tasks": {"type": "array", "items": {"type": "string"}},
                "notified": {"type": "array", "items": {"type": "string"}}}},
                "chased and recorded"),
                "409": _json(_ref("Error"), "finished, nobody to chase, or chased just now"),
                **ERRORS}}},
        "/tasks": {"get": {
            "summary": "Open user tasks visible to the caller",
            "parameters": [
                {"name": "scope", "in": "query",
                 "schema": {"type": "string", "enum": ["mine", "group", "all"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
                {"name": "offset", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _json({"type": "array", "items": _ref("Task")}, "ok"),
                          **ERRORS}}},
        "/tasks/{task_id}": {"get": {
            "summary": "A task with its form (JSON Schema, every choice an enum)",
            "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("TaskWithForm"), "ok"),
                          "409": _json(_ref("Error"), "no longer open"), **ERRORS}}},
        "/tasks/{task_id}/claim": {"post": {
            "summary": "Claim a group task", "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("Task"), "claimed"),
                          "409": _json(_ref("Error"), "claimed by someone else"), **ERRORS}}},
        "/tasks/{task_id}/unclaim": {"post": {
            "summary": "Release a claimed task", "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("Task"), "released"),
                          "409": _json(_ref("Error"), "not yours"), **ERRORS}}},
        "/tasks/{task_id}/delegate": {"post": {
            "summary": "Hand a task to another user", "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["to"],
                "properties": {"to": {"type": "string"}}}}}},
            "responses": {"200": _json(_ref("Task"), "delegated"), **ERRORS}}},
        "/tasks/{task_id}/complete": {"post": {
            "summary": "Complete a task with form data", "parameters": [TASK_ID],
            "requestBody": DATA_BODY,
            "responses": {"200": _json(_ref("Instance"), "the case after the step"),
                          "409": _json(_ref("Error"), "no longer open, or claimed by another"),
                          "422": _json(_ref("FieldErrors"), "invalid data"), **ERRORS}}},
        # --- 委托 (webui/api_delegations.py) ---
        "/delegations": {
            "get": {"summary": "The delegations (委托) you gave or received (administrators: "
                               "every one)",
                    "responses": {"200": _json({"type": "array", "items": DELEGATION},
                                               "ok"), **ERRORS}},
            "post": {"summary": "Record a delegation for leave: from you (administrators: "
                                "anyone) to someone who may hold those tasks",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object",
                                    "required": ["to", "starts_on", "ends_on", "reason"],
                                    "properties": {
                                        "from": {"type": "string"},
                                        "to": {"type": "string"},
                                        "starts_on": {"type": "string", "format": "date"},
                                        "ends_on": {"type": "string", "format": "date"},
                                        "scope": {"type": "array",
                                                  "items": {"type": "string"}},
                                        "reason": {"type": "string"}}}}}},
                     "responses": {"201": _json(DELEGATION, "recorded"), **ERRORS}}},
        "/delegations/{delegation_id}/end": {"post": {
            "summary": "End a delegation early (the person who gave it, or an administrator)",
            "parameters": [{"name": "delegation_id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["reason"],
                "properties": {"reason": {"type": "string"}}}}}},
            "responses": {"200": _json(DELEGATION, "ended"),
                          "409": _json(_ref("Error"), "already ended"), **ERRORS}}},
        # --- linked cases (webui/api_links.py) ---
        "/instances/{instance_id}/links": {"get": {
            "summary": "Cases linked to this one: a meeting's decisions and their follow-up "
                       "(督办) cases, an instruction (批示) and its follow-up",
            "parameters": [INSTANCE_ID],
            "responses": {"200": _json({"type": "array", "items": _ref("LinkedCase")}, "ok"),
                          **ERRORS}}},
        "/instances/{instance_id}/supervision": {"post": {
            "summary": "Open a follow-up (督办) case from an incoming document's 批示: text, "
                       "deadline and units carried over, linked both ways",
            "parameters": [INSTANCE_ID],
            "responses": {"201": _json(_ref("Instance"), "the follow-up case"),
                          "409": _json(_ref("Error"), "no instruction yet, or already "
                                                      "opened"), **ERRORS}}},
        # --- reports (webui/api_reports.py) ---
        "/reports/kpi": {"get": {
            "summary": "Performance figures per unit for cases started in a period (办结率, "
                       "按期办结率, 超期件数, working days per step, 办复率, 满意率, 答复率, 督办)",
            "parameters": [*PERIOD, UNIT],
            "responses": {"200": _json({"type": "object"}, "all units first, then each unit"),
                          "422": _json(_ref("FieldErrors"), "bad period"), **ERRORS}}},
        "/reports/kpi/cases": {"get": {
            "summary": "The cases behind one figure (drill-down), as far as the caller is "
                       "cleared",
            "parameters": [*PERIOD, UNIT, {"name": "figure", "in": "query", "required": True,
                                           "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "array", "items": {"type": "integer"}},
                                       "case ids"),
                          "422": _json(_ref("FieldErrors"), "bad period or figure"),
                          **ERRORS}}},
        "/reports/kpi.csv": {"get": {
            "summary": "The figures as CSV", "parameters": [*PERIOD, UNIT],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                          **ERRORS}}},
        "/reports/disclosure/{year}": {"get": {
            "summary": "政府信息公开年度报告: requests and results by applicant type",
            "parameters": [YEAR],
            "responses": {"200": _json({"type": "object"}, "the table"), **ERRORS}}},
        "/reports/disclosure/{year}.csv": {"get": {
            "summary": "The annual report table as CSV", "parameters": [YEAR],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                          **ERRORS}}},
        # --- documents (webui/api_documents.py) ---
        "/documents": {
            "get": {
                "summary": "Search documents the caller is cleared for, newest first",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": t}}
                    for n, t in (("q", "string"), ("kind", "string"), ("doc_type", "string"),
                                 ("department", "string"), ("status", "string"),
                                 ("from", "string"), ("to", "string"), ("limit", "integer"),
                                 ("offset", "integer"))],
                "responses": {"200": _json({"type": "array", "items": _ref("Document")}, "ok"),
                              **ERRORS}},
            "post": {
                "summary": "Register a document",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["kind", "fields"], "properties": {
                        "kind": {"type": "string", "enum": [
                            "incoming", "outgoing", "proposal", "supervision", "seal",
                            "disclosure"]},
                        "fields": {"type": "object"}}}}}},
                "responses": {"201": _json(_ref("DocumentDetail"), "registered"),
                              "422": _json(_ref("FieldErrors"), "invalid fields or a broken "
                                                                 "routing rule"), **ERRORS}}},
        "/documents/{document_id}": {
            "get": {"summary": "A document with its attachments and cases",
                    "parameters": [DOCUMENT_ID],
                    "responses": {"200": _json(_ref("DocumentDetail"), "ok"), **ERRORS}},
            "patch": {"summary": "Change some fields (null removes one); never the "
                                 "classification (see /classification)",
                      "parameters": [DOCUMENT_ID],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": {"type": "object", "properties": {
                              "fields": {"type": "object"}}}}}},
                      "responses": {"200": _json(_ref("DocumentDetail"), "changed"),
                                    "422": _json(_ref("FieldErrors"), "invalid fields"),
                                    **ERRORS}}},
        "/documents/{document_id}/classification": {"post": {
            "summary": "Raise or lower the classification (定密/解密): confidentiality "
                       "officers, the person who set it, administrators; with a reason",
            "parameters": [DOCUMENT_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["classification", "reason"], "properties": {
                    "classification": {"type": "string", "enum": [
                        "none", "confidential", "secret", "top_secret"]},
                    "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}}}},
            "responses": {"200": _json(_ref("DocumentDetail"), "changed and recorded"),
                          "422": _json(_ref("FieldErrors"), "a bad level or no reason"),
                          **ERRORS}}},
        "/documents/{document_id}/attachments": {"post": {
            "summary": "Attach a file (next version when the name exists)",
            "parameters": [DOCUMENT_ID],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"201": _json(_ref("Attachment"), "stored"),
                          "413": _json(_ref("Error"), "larger than the attachment limit"),
                          "422": _json(_ref("Error"), "a refused file type"), **ERRORS}}},
        "/documents/{document_id}/attachments/{attachment_id}": {"get": {
            "summary": "Download an attachment",
            "parameters": [DOCUMENT_ID, {"name": "attachment_id", "in": "path",
                                         "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the file",
                                  "content": {"application/octet-stream": {}}},
                          "422": _json(_ref("Error"), "withheld (archived classified)"),
                          **ERRORS}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "FieldErrors": {"type": "object", "required": ["error", "errors"], "properties": {
                "error": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "Definition": {"type": "object", "required": ["key", "version", "name"],
                           "properties": {"key": {"type": "string"},
                                          "version": {"type": "integer"},
                                          "name": {"type": "string"},
                                          "start_form": {"type": ["object", "null"]}}},
            "LinkedCase": {"type": "object", "required": ["id", "relation", "direction"],
                           "properties": {
                "id": {"type": "integer"},
                "relation": {"type": "string", "enum": ["meeting_decision", "instruction"]},
                "direction": {"type": "string", "enum": ["opened", "opened_by"]},
                "definition_key": {"type": "string"}, "name": {"type": "string"},
                "title": {"type": "string"}, "status": {"type": "string"},
                "open_tasks": {"type": "array", "items": {"type": "string"}},
                "due_at": {"type": ["string", "null"]}, "started_at": {"type": "string"},
                "ended_at": {"type": ["string", "null"]}}},
            "Instance": {"type": "object", "required": ["id", "status"], "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string", "enum": ["running", "completed", "suspended",
                                                      "terminated", "error"]},
                "title": {"type": "string"},
                "definition_key": {"type": "string"},
                "definition_version": {"type": "integer"},
                "document": {"type": ["object", "null"]},
                "incident": {"type": ["string", "null"]}}},
            "Task": {"type": "object", "required": [
                "id", "name", "instance_id", "form_key", "assignee", "candidate_groups",
                "due_at", "urgency", "reminder_level"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "instance_id": {"type": "integer"},
                "form_key": {"type": ["string", "null"]},
                "assignee": {"type": ["string", "null"]},
                "candidate_groups": {"type": "array", "items": {"type": "string"}},
                "due_at": {"type": ["string", "null"], "format": "date-time"},
                "urgency": {"type": "string"}, "reminder_level": {"type": "string"}}},
            "TaskWithForm": {"allOf": [_ref("Task"), {"type": "object", "properties": {
                "form": {"type": "object"}, "data": {"type": "object"}}}]},
            "Event": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "type": {"type": "string"},
                "actor": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                "task_id": {"type": ["string", "null"]}, "data": {"type": "object"},
                "hash": {"type": "string"}}},
            "Document": {"type": "object", "required": [
                "id", "kind", "title", "doc_number", "classification", "status", "fields"],
                "properties": {
                    "id": {"type": "integer"}, "kind": {"type": "string"},
                    "title": {"type": "string"}, "doc_number": {"type": ["string", "null"]},
                    "doc_type": {"type": "string"},
                    "classification": {"type": "string", "enum": [
                        "none", "confidential", "secret", "top_secret"]},
                    "urgency": {"type": "string"}, "department": {"type": "string"},
                    "status": {"type": "string", "enum": [
                        "open", "in_progress", "returned", "closed", "archived"]},
                    "fields": {"type": "object"}, "created_by": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"}}},
            "Attachment": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "version": {"type": "integer"}, "size": {"type": "integer"},
                "sha256": {"type": "string"}, "content_type": {"type": "string"},
                "uploaded_by": {"type": "string"},
                "uploaded_at": {"type": "string", "format": "date-time"},
                "url": {"type": "string"}}},
            "DocumentDetail": {"allOf": [_ref("Document"), {"type": "object", "properties": {
                "attachments": {"type": "array", "items": _ref("Attachment")},
                "cases": {"type": "array", "items": {"type": "object"}}}}]},
        },
    },
}
