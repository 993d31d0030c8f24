#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::*;

const SECRET: &str = "test-secret-test-secret-test-secret";
const OTHER: &str = "another-secret-another-secret-xx";
const ISSUER: &str = "https://idp.council.test";
// Made once with openssl, private half discarded: shows a valid PEM loads and that its
// bytes cannot be abused as an HMAC secret. Nothing is generated at test time.
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoISDS8e2jAIbCIDCMemP
AnSM3kTvdDAE5UUus2bal7CrVCWgYjMMPygQTAHUwf+hnjssnyE3WRXhMuojgABq
tqqLBDrMwM5iojeusZGp0nnl7IHWJfo7ppXcZKQCZJsl+hUmuEv5ww9qLFVxvVWW
Noj73/q7qrQm1bv7QdbcMrnu1HGqZa6SeRNKwiDN1gkhTDeliz2qihSwh3AxQqnq
Q94+dx/+WTP1iroidHhOaS5qce0mrVtATbCylY6MJi6SkdIE14cKaU27XC4yLupL
/3Zn6jjv539VABCQ6NBrlCY+7kw4KfYljGlE9Lt33dwAnFDZfUqB5HTNerbhg/kh
DwIDAQAB
-----END PUBLIC KEY-----
";

fn key(algorithm: JwtAlgorithm, kid: Option<&str>, material: &str) -> JwtKey {
    let (secret, pem) = match algorithm {
        JwtAlgorithm::Hs256 => (Some(material.into()), None),
        _ => (None, Some(material.into())),
    };
    JwtKey { kid: kid.map(Into::into), algorithm, secret, public_key_pem: pem }
}

fn config() -> AuthConfig {
    AuthConfig {
        audience: "fieldbook".into(),
        issuer: Some(ISSUER.into()),
        jwt: vec![key(JwtAlgorithm::Hs256, None, SECRET)],
        jwks: None,
        static_tokens: None,
        disabled_subjects: vec![],
        leeway_seconds: 30,
    }
}

fn auth_with(cfg: &AuthConfig) -> Authenticator {
    Authenticator::from_config(cfg).unwrap()
}

fn claims(exp_offset: i64) -> Claims {
    Claims {
        sub: "amara".into(),
        role: Role::Worker,
        team: Some("north".into()),
        aud: "fieldbook".into(),
        exp: chrono::Utc::now().timestamp() + exp_offset,
        iss: Some(ISSUER.into()),
        nbf: None,
    }
}

/// Signs any payload with any header, then authenticates it.
fn present(
    auth: &Authenticator,
    header: Header,
    secret: &str,
    payload: &impl Serialize,
) -> Result<Identity, AuthError> {
    let key = EncodingKey::from_secret(secret.as_bytes());
    let token = jsonwebtoken::encode(&header, payload, &key).unwrap();
    auth.authenticate(Some(&format!("Bearer {token}")))
}

fn check(auth: &Authenticator, claims: &Claims) -> Result<Identity, AuthError> {
    present(auth, Header::default(), SECRET, claims)
}

/// Unpadded base64url, enough to hand-craft a token.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn static_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

#[test]
fn a_valid_hs256_token_gives_the_identity() {
    let token = issue_hs256(SECRET, &claims(600)).unwrap();
    let who = auth_with(&config()).authenticate(Some(&format!("Bearer {token}")));
    let team = Some("north".into());
    assert_eq!(who, Ok(Identity { subject: "amara".into(), role: Role::Worker, team }));
}

#[test]
fn a_bad_signature_is_refused() {
    let result = present(&auth_with(&config()), Header::default(), OTHER, &claims(600));
    assert_eq!(result, Err(AuthError::BadSignature));
}

#[test]
fn expiry_counts_the_leeway() {
    let auth = auth_with(&config());
    assert_eq!(check(&auth, &claims(-120)), Err(AuthError::Expired));
    assert!(check(&auth, &claims(-10)).is_ok());
}

#[test]
fn not_before_counts_the_same_leeway_as_expiry() {
    let auth = auth_with(&config());
    let now = chrono::Utc::now().timestamp();
    let mut c = claims(7200);
    c.nbf = Some(now + 3600);
    assert_eq!(check(&auth, &c), Err(AuthError::NotYetValid), "an hour ahead");
    c.nbf = Some(now + 120);
    assert_eq!(check(&auth, &c), Err(AuthError::NotYetValid), "beyond the 30 s leeway");
    c.nbf = Some(now + 10);
    assert!(check(&auth, &c).is_ok(), "within the leeway: a clock a little ahead");
    c.nbf = Some(now - 60);
    assert!(check(&auth, &c).is_ok());
}

#[test]
fn audience_and_issuer_must_match() {
    let auth = auth_with(&config());
    let mut c = claims(600);
    c.aud = "another-app".into();
    assert_eq!(check(&auth, &c), Err(AuthError::WrongAudience));
    let mut c = claims(600);
    c.iss = Some("https://evil.test".into());
    assert_eq!(check(&auth, &c), Err(AuthError::WrongIssuer));
    c.iss = None;
    assert_eq!(check(&auth, &c), Err(AuthError::MissingClaim("iss")));
}

#[test]
fn alg_none_is_refused() {
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(serde_json::to_string(&claims(600)).unwrap().as_bytes());
    let result = auth_with(&config()).authenticate(Some(&format!("Bearer {header}.{payload}.")));
    assert_eq!(result, Err(AuthError::Malformed));
}

#[test]
fn algorithms_not_configured_for_a_key_are_refused() {
    let mut cfg = config();
    cfg.jwt.push(key(JwtAlgorithm::Rs256, None, RSA_PUBLIC_PEM));
    let auth = auth_with(&cfg);
    // Algorithm confusion: HS256 keyed with the RSA public key's bytes.
    let confused = present(&auth, Header::default(), RSA_PUBLIC_PEM, &claims(600));
    assert_eq!(confused, Err(AuthError::BadSignature));
    let hs512 = present(&auth, Header::new(Algorithm::HS512), SECRET, &claims(600));
    assert_eq!(hs512, Err(AuthError::BadSignature));
    assert!(check(&auth, &claims(600)).is_ok());
}

#[test]
fn the_kid_picks_the_key() {
    let mut cfg = config();
    cfg.jwt = vec![
        key(JwtAlgorithm::Hs256, Some("a"), SECRET),
        key(JwtAlgorithm::Hs256, Some("b"), OTHER),
    ];
    let auth = auth_with(&cfg);
    let with_kid = |kid: &str| Header { kid: Some(kid.into()), ..Header::default() };
    assert!(present(&auth, with_kid("b"), OTHER, &claims(600)).is_ok());
    assert_eq!(present(&auth, with_kid("a"), OTHER, &claims(600)), Err(AuthError::BadSignature));
    assert_eq!(present(&auth, with_kid("c"), OTHER, &claims(600)), Err(AuthError::BadSignature));
    // Without a kid every key is tried.
    assert!(present(&auth, Header::default(), OTHER, &claims(600)).is_ok());
}

#[test]
fn a_manager_needs_a_team_and_everyone_a_known_role() {
    let auth = auth_with(&config());
    let mut c = claims(600);
    c.role = Role::Manager;
    c.team = None;
    assert_eq!(check(&auth, &c), Err(AuthError::MissingClaim("team")));
    let mut payload = serde_json::to_value(claims(600)).unwrap();
    payload["role"] = "superuser".into();
    let result = present(&auth, Header::default(), SECRET, &payload);
    assert_eq!(result, Err(AuthError::MissingClaim("role")));
    payload.as_object_mut().unwrap().remove("sub");
    let result = present(&auth, Header::default(), SECRET, &payload);
    assert_eq!(result, Err(AuthError::MissingClaim("sub")));
}

#[test]
fn disabled_subjects_are_refused_until_re_enabled() {
    let mut cfg = config();
    cfg.disabled_subjects = vec!["amara".into()];
    let auth = auth_with(&cfg);
    assert_eq!(check(&auth, &claims(600)), Err(AuthError::Disabled));
    auth.set_disabled("amara", false);
    assert!(check(&auth, &claims(600)).is_ok());
    auth.set_disabled("amara", true);
    assert_eq!(check(&auth, &claims(600)), Err(AuthError::Disabled));
}

#[test]
fn static_tokens_are_checked_first() {
    let (_dir, path) = static_file(
        r#"{"tokens": [{"token": "dev-ben", "subject": "ben", "role": "worker", "team": "north"},
                       {"token": "dev-cms", "subject": "case-system", "role": "integration"}]}"#,
    );
    let mut cfg = config();
    cfg.static_tokens = Some(path);
    let auth = auth_with(&cfg);
    assert_eq!(auth.authenticate(Some("Bearer dev-ben")).unwrap().subject, "ben");
    assert_eq!(auth.authenticate(Some("bearer dev-cms")).unwrap().role, Role::Integration);
    assert_eq!(auth.authenticate(Some("Bearer dev-bob")), Err(AuthError::UnknownToken));
    assert!(check(&auth, &claims(600)).is_ok());
    auth.set_disabled("ben", true);
    assert_eq!(auth.authenticate(Some("Bearer dev-ben")), Err(AuthError::Disabled));
    assert!(constant_time_eq(b"abc", b"abc") && constant_time_eq(b"", b""));
    assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"abcd"));
}

#[test]
fn malformed_headers_are_refused() {
    let auth = auth_with(&config());
    assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
    assert_eq!(auth.authenticate(Some("Bearer")), Err(AuthError::Missing));
    assert_eq!(auth.authenticate(Some("Bearer   ")), Err(AuthError::Missing));
    assert_eq!(auth.authenticate(Some("Basic x")), Err(AuthError::Malformed));
    assert_eq!(auth.authenticate(Some("Bearer a b")), Err(AuthError::Malformed));
    assert_eq!(auth.authenticate(Some("Bearer not-a-jwt")), Err(AuthError::Malformed));
}

#[test]
fn configuration_errors_are_typed() {
    let mut cfg = config();
    cfg.jwt.push(key(JwtAlgorithm::Rs256, None, "not a pem"));
    let err = Authenticator::from_config(&cfg).unwrap_err();
    assert!(matches!(
        err,
        AuthConfigError::InvalidPem { index: 1, algorithm: JwtAlgorithm::Rs256, .. }
    ));
    cfg.jwt = vec![key(JwtAlgorithm::Es256, None, RSA_PUBLIC_PEM)];
    assert!(matches!(Authenticator::from_config(&cfg), Err(AuthConfigError::InvalidPem { .. })));
    cfg.jwt = vec![key(JwtAlgorithm::Hs256, None, "short")];
    assert!(matches!(
        Authenticator::from_config(&cfg),
        Err(AuthConfigError::WeakSecret { index: 0 })
    ));
    cfg.jwt = vec![];
    assert!(matches!(Authenticator::from_config(&cfg), Err(AuthConfigError::NothingConfigured)));
    let (_dir, path) = static_file(r#"{"tokens": [{"token": "secret-dev-token", "role": 7}]}"#);
    cfg.static_tokens = Some(path);
    let err = Authenticator::from_config(&cfg).unwrap_err();
    assert!(matches!(err, AuthConfigError::StaticTokensParse { .. }));
    assert!(!err.to_string().contains("secret-dev-token"));
    cfg.static_tokens = Some(PathBuf::from("/nonexistent/tokens.json"));
    let err = Authenticator::from_config(&cfg).unwrap_err();
    assert!(matches!(err, AuthConfigError::StaticTokensRead { .. }));
    let json = serde_json::json!({"audience": "x", "jwt": [{"algorithm": "none"}]});
    assert!(serde_json::from_value::<AuthConfig>(json).is_err());
}

#[test]
fn debug_output_has_no_secrets() {
    let mut cfg = config();
    cfg.jwt.push(key(JwtAlgorithm::Rs256, None, RSA_PUBLIC_PEM));
    let printed = format!("{cfg:?} {:?}", auth_with(&cfg));
    assert!(!printed.contains(SECRET) && !printed.contains("MIIBIjAN"));
    assert!(printed.contains("<redacted>"));
}

#[tokio::test]
async fn the_extractor_accepts_or_answers_401() {
    let state = Arc::new(auth_with(&config()));
    let parts = |value: String| {
        let request = axum::http::Request::builder().header(header::AUTHORIZATION, value);
        request.body(()).unwrap().into_parts().0
    };
    let good = issue_hs256(SECRET, &claims(600)).unwrap();
    let who = Identity::from_request_parts(&mut parts(format!("Bearer {good}")), &state).await;
    assert_eq!(who.unwrap().subject, "amara");
    let forged = issue_hs256(OTHER, &claims(600)).unwrap();
    let mut request = parts(format!("Bearer {forged}"));
    let rejection = Identity::from_request_parts(&mut request, &state).await.unwrap_err();
    assert_eq!(rejection, AuthError::BadSignature);
    let response = rejection.into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["message"], AuthError::BadSignature.to_string());
    assert!(!body.to_string().contains(&forged));
    let mut none = axum::http::Request::new(()).into_parts().0;
    let rejection = Identity::from_request_parts(&mut none, &state).await;
    assert_eq!(rejection, Err(AuthError::Missing));
}

#[test]
fn admin_is_read_as_operator() {
    let auth = auth_with(&config());
    for name in ["operator", "admin"] {
        let mut payload = serde_json::to_value(claims(600)).unwrap();
        payload["role"] = name.into();
        let who = present(&auth, Header::default(), SECRET, &payload).unwrap();
        assert_eq!(who.role, Role::Operator, "{name}");
    }
    let (_dir, path) =
        static_file(r#"{"tokens": [{"token": "dev-ops", "subject": "olive", "role": "admin"}]}"#);
    let mut cfg = config();
    cfg.static_tokens = Some(path);
    assert_eq!(auth_with(&cfg).authenticate(Some("Bearer dev-ops")).unwrap().role, Role::Operator);
    assert_eq!(serde_json::to_value(Role::Operator).unwrap(), "operator");
}

#[test]
fn a_jwks_yields_only_public_keys_of_the_accepted_algorithms() {
    // Well-formed base64url components; the keys are never used to verify here.
    let b = "AQAB";
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(serde_json::json!({"keys": [
        // A symmetric key published in a JWKS could be used by anyone who read it.
        {"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": b, "e": b},
        {"kty": "RSA", "kid": "rsa-no-alg", "n": b, "e": b},
        // An algorithm Fieldbook does not accept.
        {"kty": "RSA", "kid": "rsa-384", "alg": "RS384", "n": b, "e": b},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b, "y": b},
    ]}))
    .unwrap();
    let keys: Vec<_> =
        super::jwks::keys_of(&set).into_iter().map(|k| (k.kid.unwrap(), k.algorithm)).collect();
    assert_eq!(
        keys,
        vec![
            ("rsa".to_string(), Algorithm::RS256),
            ("rsa-no-alg".to_string(), Algorithm::RS256),
            ("ec".to_string(), Algorithm::ES256),
        ]
    );
}

#[test]
fn a_jwks_url_alone_is_a_configuration() {
    let mut cfg = config();
    cfg.jwt.clear();
    cfg.jwks = Some(JwksConfig {
        url: "http://127.0.0.1:9/jwks".into(),
        max_age_seconds: 600,
        refetch_interval_seconds: 60,
    });
    let auth = auth_with(&cfg);
    assert_eq!(auth.jwks_fetches(), 0, "nothing is fetched before a token needs it");
    cfg.jwks = None;
    assert!(matches!(Authenticator::from_config(&cfg), Err(AuthConfigError::NothingConfigured)));
}
