//! The OpenAPI 3.1 document of the online CA's API, written by hand beside the routes it
//! describes (a test checks that every route is in it).

use serde_json::{Value, json};

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(schema: &str) -> Value {
    json!({ "description": "done", "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn problem(what: &str) -> Value {
    json!({ "description": what, "content": { "application/problem+json": {
        "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// The problems every issuing operation may answer with.
fn issuing(schema: &str, authenticated: bool) -> Value {
    let mut r = json!({
        "200": ok(schema),
        "400": problem("the body is not the JSON this operation takes"),
        "403": problem("not permitted (another node's agency, an unknown, used or expired token, ...)"),
        "413": problem("the body is over 64 KiB"),
        "422": problem("the request or its CSR was refused; nothing was issued"),
        "503": problem("sealed: the custodians have not unsealed the online CA"),
    });
    if authenticated {
        r["401"] = problem("no client certificate");
    }
    r
}

fn string() -> Value {
    json!({ "type": "string" })
}

#[allow(clippy::needless_pass_by_value)] // reads as object(&[..], json!({..}))
fn object(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props,
            "additionalProperties": false })
}

/// The whole document.
pub(super) fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sandi online CA (keymgr serve)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Issues node, official and application certificates and key bindings, and signs network directory versions two operators approved. Mutual TLS with certificates from the Network CA."
        },
        "paths": paths(),
        "components": components(),
    })
}

fn paths() -> Value {
    let node = json!([{ "nodeCertificate": [] }]);
    let operator = json!([{ "operatorCertificate": [] }]);
    json!({
        "/api/v1/sys/status": { "get": { "operationId": "sealStatus", "tags": ["sys"],
            "responses": { "200": ok("SealStatus") } } },
        "/api/v1/sys/unseal": { "post": { "operationId": "unseal", "tags": ["sys"],
            "requestBody": body("UnsealRequest"),
            "responses": { "200": ok("SealStatus"),
                "400": problem("not JSON"),
                "422": problem("a share that is damaged, repeated or of another ceremony: it counts as nothing") } } },
        "/api/v1/enrol/node": { "post": { "operationId": "enrolNode", "tags": ["nodes"],
            "requestBody": body("EnrolRequest"), "responses": issuing("Certificate", false) } },
        "/api/v1/nodes/renew": { "post": { "operationId": "renewNode", "tags": ["nodes"],
            "security": node, "requestBody": body("CsrRequest"),
            "responses": issuing("Certificate", true) } },
        "/api/v1/officials/certificate": { "post": { "operationId": "issueOfficial",
            "tags": ["officials"], "security": node, "requestBody": body("OfficialRequest"),
            "responses": issuing("Certificate", true) } },
        "/api/v1/officials/binding": { "post": { "operationId": "bindOfficial",
            "tags": ["officials"], "security": node, "requestBody": body("BindingRequest"),
            "responses": issuing("Binding", true) } },
        "/api/v1/applications/certificate": { "post": { "operationId": "issueApplication",
            "tags": ["applications"], "security": node,
            "requestBody": body("ApplicationRequest"),
            "responses": issuing("Certificate", true) } },
        "/api/v1/directory": { "get": { "operationId": "directory", "tags": ["directory"],
            "security": [{ "nodeCertificate": [] }, { "operatorCertificate": [] }],
            "responses": { "200": ok("Directory"), "401": problem("no client certificate"),
                "404": problem("none signed yet") } } },
        "/api/v1/directory/proposals": { "post": { "operationId": "proposeDirectory",
            "tags": ["directory"], "security": operator,
            "requestBody": body("DirectoryInput"),
            "responses": { "201": ok("Proposal"), "401": problem("no client certificate"),
                "403": problem("not an operator"), "422": problem("a bad input or version"),
                "503": problem("sealed") } } },
        "/api/v1/directory/proposals/{id}": { "get": { "operationId": "proposal",
            "tags": ["directory"], "security": operator,
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": string() }],
            "responses": { "200": ok("Proposal"), "403": problem("not an operator"),
                "422": problem("no such proposal") } } },
        "/api/v1/directory/proposals/{id}/approve": { "post": { "operationId": "approveDirectory",
            "tags": ["directory"], "security": operator,
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": string() }],
            "requestBody": body("Approval"),
            "responses": { "200": ok("Directory"), "403": problem("not an operator"),
                "409": problem("the proposer, a second approval, or another input than reviewed"),
                "503": problem("sealed") } } },
        "/api/v1/openapi.json": { "get": { "operationId": "openapi", "tags": ["sys"],
            "responses": { "200": { "description": "this document" } } } }
    })
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "nodeCertificate": { "type": "mutualTLS",
                "description": "a node certificate from the Network CA" },
            "operatorCertificate": { "type": "mutualTLS",
                "description": "an operator certificate (`keymgr operator add`)" }
        },
        "schemas": {
            "Problem": object(&["type", "title", "status", "detail"], json!({
                "type": string(), "title": string(), "status": { "type": "integer" },
                "detail": string() })),
            "SealStatus": object(&["sealed", "threshold", "received"], json!({
                "sealed": { "type": "boolean" }, "threshold": { "type": "integer" },
                "received": { "type": "integer" } })),
            "UnsealRequest": object(&["share"], json!({ "share": { "type": "string",
                "description": "the online keystore's share of one custodian (sandi-share-v1.…)" } })),
            "EnrolRequest": object(&["token", "csr_pem"], json!({
                "token": string(), "csr_pem": string() })),
            "CsrRequest": object(&["csr_pem"], json!({ "csr_pem": string() })),
            "OfficialRequest": object(&["nip", "name", "agency", "clearance", "csr_pem"], json!({
                "nip": { "type": "string", "pattern": "^[0-9]{18}$" }, "name": string(),
                "agency": string(),
                "clearance": { "enum": ["biasa", "terbatas", "rahasia", "sangat_rahasia"] },
                "csr_pem": { "type": "string",
                    "description": "PKCS#10 whose subject's serialNumber is the NIP" } })),
            "BindingRequest": object(&["nip", "age_recipient"], json!({
                "nip": string(), "age_recipient": string() })),
            "ApplicationRequest": object(&["name", "agency", "csr_pem"], json!({
                "name": string(), "agency": string(), "csr_pem": string() })),
            "Certificate": { "type": "object",
                "required": ["certificate_pem", "chain_pem", "serial", "not_after"],
                "properties": { "certificate_pem": string(),
                    "chain_pem": { "type": "string", "description": "issuing CA, then root" },
                    "serial": string(), "not_after": string() } },
            "Binding": { "type": "object", "required": ["binding"],
                "properties": { "binding": { "type": "object",
                    "description": "a key binding as `keymgr bind-key` writes it" } } },
            "DirectoryInput": object(&["version", "nodes"], json!({
                "version": { "type": "integer", "minimum": 1 },
                "nodes": { "type": "array",
                    "items": { "$ref": "#/components/schemas/NodeEntry" } } })),
            "NodeEntry": object(
                &["id", "agencies", "base_url", "spki_sha256", "accreditation", "status"],
                json!({ "id": string(),
                    "agencies": { "type": "array", "items": string() },
                    "base_url": { "type": "string", "description": "https://host:port" },
                    "spki_sha256": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$",
                        "description": "SHA-256 (hex) of the SubjectPublicKeyInfo (DER) of the node's certificate: its key, which a renewal keeps" },
                    "accreditation": { "type": "string",
                        "enum": ["biasa", "terbatas", "rahasia", "sangat_rahasia"] },
                    "status": { "type": "string",
                        "enum": ["active", "suspended", "revoked"] } })),
            "Proposal": { "type": "object",
                "required": ["id", "version", "input_sha256", "proposed_by", "input"],
                "properties": { "id": string(), "version": { "type": "integer" },
                    "input_sha256": string(), "proposed_by": string(),
                    "approved_by": { "type": ["string", "null"] },
                    "input": { "$ref": "#/components/schemas/DirectoryInput" } } },
            "Approval": object(&["input_sha256"], json!({ "input_sha256": string() })),
            "Directory": { "type": "object",
                "description": "a signed network directory as `keymgr directory sign` writes it" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::document;

    /// Every route the router serves is in the document, and every `$ref` resolves.
    #[test]
    fn describes_every_route_and_resolves() {
        let doc = document();
        let text = doc.to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(parsed["openapi"], "3.1.0");
        for path in [
            "/api/v1/sys/status",
            "/api/v1/sys/unseal",
            "/api/v1/enrol/node",
            "/api/v1/nodes/renew",
            "/api/v1/officials/certificate",
            "/api/v1/officials/binding",
            "/api/v1/applications/certificate",
            "/api/v1/directory",
            "/api/v1/directory/proposals",
            "/api/v1/directory/proposals/{id}",
            "/api/v1/directory/proposals/{id}/approve",
            "/api/v1/openapi.json",
        ] {
            assert!(parsed["paths"][path].is_object(), "{path} is not described");
        }
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').expect("end of ref")];
            assert!(
                parsed["components"]["schemas"][name].is_object(),
                "{name} is referenced but not defined"
            );
        }
    }
}
