//! JWT verification: the key is chosen by `kid` and algorithm (never by what the token claims
//! alone), then signature, audience, issuer, expiry and not-before are checked with one leeway.

use fieldbook_core::document::authorship::normalise_worker_id;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthError, Authenticator, Identity, Role};

/// The claims Fieldbook issues (for tests, the demo and development set-ups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Not before (seconds since the epoch): checked with the same leeway as `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// All optional: jsonwebtoken deserializes claims *before* checking `exp`/`aud`/`iss`, and a
/// strict struct would turn an expired token with an odd payload into a parse error.
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    role: Option<serde_json::Value>,
    team: Option<String>,
}

impl Authenticator {
    pub(super) fn verify_jwt(&self, token: &str) -> Result<Identity, AuthError> {
        // jsonwebtoken has no `none` algorithm, so an unsigned token fails here as malformed.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        // A kid picks its key; an unknown kid may still match a key configured without one.
        let published = self.jwks.as_ref().map(|j| j.keys()).unwrap_or_default();
        let all = || self.keys.iter().chain(published.iter());
        let kid_known = all().any(|k| k.kid.is_some() && k.kid == header.kid);
        let candidates = all().filter(|k| {
            let kid_fits =
                header.kid.is_none() || k.kid == header.kid || (!kid_known && k.kid.is_none());
            // Only keys configured for the token's algorithm: an RSA public key must never
            // serve as an HMAC secret (algorithm confusion).
            kid_fits && k.algorithm == header.alg
        });
        let mut required = vec!["exp", "aud", "sub"];
        if self.issuer.is_some() {
            required.push("iss");
        }
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&required);
            // Off by default in jsonwebtoken: a token issued for later is not valid yet. The
            // same leeway as for `exp` absorbs a device clock a little ahead.
            validation.validate_nbf = true;
            validation.leeway = self.leeway;
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match jsonwebtoken::decode::<TokenClaims>(token, &key.decoding, &validation) {
                Ok(data) => return identity_of(data.claims),
                // Another key of the same algorithm may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(map_jwt_error(e.kind())),
            }
        }
        Err(AuthError::BadSignature)
    }
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(
            ["exp", "aud", "iss", "sub"].into_iter().find(|r| r == c).unwrap_or("sub"),
        ),
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey => AuthError::BadSignature,
        _ => AuthError::Malformed,
    }
}

/// The identity a verified token's claims (`sub`, `role`, `team`) stand for: the one mapping
/// of device tokens and of the oversight sign-in's ID tokens (`docs/council-backend.md`).
pub fn identity_from_claims(claims: &serde_json::Value) -> Result<Identity, AuthError> {
    let claims = TokenClaims::deserialize(claims).map_err(|_| AuthError::Malformed)?;
    identity_of(claims)
}

fn identity_of(claims: TokenClaims) -> Result<Identity, AuthError> {
    // Where a token becomes an identity, the subject is normalised once, so every comparison of
    // worker ids downstream (allocation, authorship, C5) sees one spelling per worker.
    let subject = claims
        .sub
        .map(|s| normalise_worker_id(&s))
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingClaim("sub"))?;
    // A role Fieldbook does not know grants nothing, the same as no role at all.
    let role = claims
        .role
        .and_then(|r| serde_json::from_value::<Role>(r).ok())
        .ok_or(AuthError::MissingClaim("role"))?;
    let team = claims.team.filter(|t| !t.is_empty());
    // A manager's view is their team's cases; without a team there is nothing safe to show.
    if role == Role::Manager && team.is_none() {
        return Err(AuthError::MissingClaim("team"));
    }
    Ok(Identity { subject, role, team })
}

/// Issues an HS256 token (tests, the demo, a council's development set-up).
pub fn issue_hs256(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
}
