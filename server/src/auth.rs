//! Who may connect, and over what: SCRAM-SHA-256 against the warehouse's users (stored as
//! PostgreSQL's SCRAM verifiers, see `starhouse_engine::catalog::read_users`), trust only on a
//! loopback address when the warehouse has no users, and TLS from a certificate and key given
//! as PEM files.
//!
//! A misconfiguration stops the server before it listens: it never falls back to plaintext or
//! to trust.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, ScramSecret, gen_salted_password};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::tokio::TlsAcceptor;
use starhouse_engine::Engine;
use starhouse_engine::catalog::{User, read_users};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServerError;

/// PostgreSQL's SCRAM-SHA-256 verifier of `password` with a fresh salt:
/// `SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>`, all base64.
pub fn scram_verifier(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    let ScramSecret::Verifier { stored_key, server_key, .. } =
        ScramSecret::verifier_from_salted_password(salt.to_vec(), salted, SCRAM_ITERATIONS)
    else {
        unreachable!("verifier_from_salted_password makes a verifier")
    };
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// A verifier as [`scram_verifier`] writes it (and PostgreSQL's `pg_authid` holds it).
fn parse_verifier(text: &str) -> Option<ScramSecret> {
    let rest = text.strip_prefix("SCRAM-SHA-256$")?;
    let (parameters, keys) = rest.split_once('$')?;
    let (iterations, salt) = parameters.split_once(':')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    Some(ScramSecret::Verifier {
        salt: STANDARD.decode(salt).ok()?,
        iterations: iterations.parse().ok()?,
        stored_key: STANDARD.decode(stored_key).ok()?,
        server_key: STANDARD.decode(server_key).ok()?,
    })
}

/// The warehouse's users, read at each login so that a user added while the server runs can
/// connect at once.
#[derive(Debug)]
pub(crate) struct WarehouseUsers {
    engine: Arc<Engine>,
}

impl WarehouseUsers {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    async fn all(&self) -> PgWireResult<Vec<User>> {
        read_users(self.engine.warehouse().root()).await.map_err(|e| PgWireError::ApiError(e.into()))
    }

    /// Whether the warehouse has users (and so asks every client for a password).
    pub async fn any(&self) -> PgWireResult<bool> {
        Ok(!self.all().await?.is_empty())
    }

    pub async fn user(&self, name: &str) -> PgWireResult<Option<User>> {
        Ok(self.all().await?.into_iter().find(|u| u.name == name))
    }
}

#[async_trait]
impl AuthSource for WarehouseUsers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered, and it asks for the verifier.
        Err(PgWireError::InvalidPassword(login.user().unwrap_or_default().to_string()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let name = login.user().unwrap_or_default();
        // An unknown user fails as a wrong password does, as in PostgreSQL.
        let secret = self.user(name).await?.and_then(|user| parse_verifier(&user.verifier));
        secret.map(|secret| (secret, None)).ok_or_else(|| PgWireError::InvalidPassword(name.to_string()))
    }
}

/// SCRAM over the warehouse's users; with TLS, SCRAM-SHA-256-PLUS (channel binding) too.
pub(crate) fn scram(users: Arc<WarehouseUsers>, certificate_pem: Option<&[u8]>) -> PgWireResult<ScramAuth> {
    let mut scram = ScramAuth::new(users);
    if let Some(pem) = certificate_pem {
        scram.configure_certificate(pem)?;
    }
    Ok(scram)
}

/// The TLS acceptor for a certificate chain and private key in PEM files, or the reason there
/// cannot be one.
pub(crate) fn tls_acceptor(certificate: &Path, key: &Path) -> Result<(TlsAcceptor, Vec<u8>), ServerError> {
    let fail = |reason: String| ServerError::Tls { reason };
    let pem = std::fs::read(certificate)
        .map_err(|e| fail(format!("cannot read the certificate {}: {e}", certificate.display())))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("{} is not a PEM certificate: {e}", certificate.display())))?;
    if chain.is_empty() {
        return Err(fail(format!("{} holds no certificate", certificate.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| fail(format!("cannot read a private key from {}: {e}", key.display())))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| fail(format!("the certificate and the key do not go together: {e}")))?;
    // PostgreSQL 17's direct TLS negotiates the protocol by ALPN.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_round_trips_and_never_holds_the_password() {
        let text = scram_verifier("s3cret");
        assert!(!text.contains("s3cret"));
        let Some(ScramSecret::Verifier { salt, iterations, stored_key, server_key }) = parse_verifier(&text) else {
            panic!("{text} parses");
        };
        assert_eq!((salt.len(), iterations, stored_key.len(), server_key.len()), (16, SCRAM_ITERATIONS, 32, 32));
        // A fresh salt each time: the same password gives a different verifier.
        assert_ne!(scram_verifier("s3cret"), text);
        assert!(parse_verifier("md5abc").is_none());
    }
}
