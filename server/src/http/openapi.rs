//! The OpenAPI document, generated: the operations come from the handlers' `#[utoipa::path]`
//! annotations as the router registers them, the schemas from the request and response types
//! themselves (`ToSchema`, in the core behind its `openapi` feature). Nothing is written by hand,
//! so the document cannot drift from what the handlers accept.

use std::sync::LazyLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

/// Everything but the operations (title, description, the bearer scheme).
pub(super) fn base() -> OpenApi {
    let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Fieldbook sync server")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The case system's API (JSON) and the device sync endpoint (CBOR, see \
                     docs/PROTOCOL.md). Every error body is an ErrorBody {error, message}: CBOR \
                     on /v1/sync, JSON elsewhere. Who may call what: docs/roles.md.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme("bearer", SecurityScheme::Http(bearer))
                .build(),
        ))
        .build()
}

/// The document the server serves at `/openapi.json`.
pub fn document() -> serde_json::Value {
    // Serialising a tree of strings, maps and numbers cannot fail; `null` would show it did.
    let mut doc = serde_json::to_value(super::api_router().split_for_parts().1).unwrap_or_default();
    split_nullable_types(&mut doc);
    doc
}

/// Rewrites utoipa's `{"type": ["string", "null"], "format": "date"}` (an `Option` of a
/// primitive) as the equivalent `{"oneOf": [{"type": "null"}, {"type": "string", "format":
/// "date"}]}`, the form it already uses for an `Option` of a named type. Same JSON Schema
/// meaning; but generators (schemathesis among them) drop `format` and `pattern` from a
/// multi-type schema and would call an empty string a valid date.
fn split_nullable_types(value: &mut serde_json::Value) {
    use serde_json::{json, Value};
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                split_nullable_types(v);
            }
            let types = map.get("type").and_then(Value::as_array).cloned().unwrap_or_default();
            let null = json!("null");
            if types.len() == 2 && types.contains(&null) {
                let Some(other) = types.into_iter().find(|t| *t != null) else { return };
                let description = map.remove("description");
                let mut inner = std::mem::take(map);
                inner.insert("type".into(), other);
                map.insert("oneOf".into(), json!([{"type": "null"}, Value::Object(inner)]));
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(split_nullable_types),
        _ => {}
    }
}

/// `document()` as JSON, built once.
pub(super) fn document_json() -> &'static str {
    static JSON: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string_pretty(&document()).unwrap_or_else(|_| "{}".into()));
    &JSON
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn metrics_count_every_documented_route_by_name() {
        let doc = document();
        let mut paths: Vec<&str> =
            doc["paths"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
        paths.sort_unstable();
        let mut counted: Vec<&str> =
            super::super::metrics::ROUTES.iter().copied().filter(|r| *r != "other").collect();
        counted.sort_unstable();
        assert_eq!(paths, counted, "a route missing from metrics::ROUTES is counted as `other`");
    }

    #[test]
    fn optional_primitives_are_one_of_null_or_the_constrained_type() {
        let mut v = serde_json::json!({"a": {"type": ["string", "null"], "format": "date",
                                             "description": "d"}});
        split_nullable_types(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": {"oneOf": [{"type": "null"}, {"type": "string", "format": "date"}],
                                     "description": "d"}})
        );
        let doc = document().to_string();
        assert!(!doc.contains(r#""type":["string","null"]"#), "every nullable type was split");
    }
}
