//! SCRAM-SHA-256 login (RFC 5802, RFC 7677) against the verifiers in the users file.
//!
//! pgwire's own SCRAM handler needs the salted password itself, which would let anyone who reads
//! the users file log in; PostgreSQL instead keeps only StoredKey and ServerKey, and so does this
//! handler. One handler serves one connection (it holds that connection's exchange).
//!
//! Channel binding (SCRAM-SHA-256-PLUS) is not offered: the server speaks plain TCP.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{Sink, SinkExt};
use lantern_query::access::Principal;
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use sha2::{Digest, Sha256};

use super::{PgFrontEnd, WireSession};
use crate::audit::Protocol;
use crate::users::{ScramVerifier, hmac};

const MECHANISM: &str = "SCRAM-SHA-256";

#[derive(Debug)]
enum Exchange {
    Initial,
    ServerFirstSent(Box<ServerFirstSent>),
    Done,
}

#[derive(Debug)]
struct ServerFirstSent {
    user: String,
    principal: Option<Principal>,
    verifier: ScramVerifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// The startup handler of one connection.
#[derive(Debug)]
pub struct ScramStartup {
    front: Arc<PgFrontEnd>,
    exchange: Mutex<Exchange>,
}

impl ScramStartup {
    pub fn new(front: Arc<PgFrontEnd>) -> Self {
        ScramStartup {
            front,
            exchange: Mutex::new(Exchange::Initial),
        }
    }

    fn client_first<C: ClientInfo>(&self, client: &C, data: &[u8]) -> PgWireResult<String> {
        let text = std::str::from_utf8(data).map_err(|_| invalid("client-first is not UTF-8"))?;
        // gs2 header: "n,," (no channel binding) or "y,," (client could, server does not).
        let bare = text
            .strip_prefix("n,,")
            .or_else(|| text.strip_prefix("y,,"))
            .ok_or_else(|| {
                invalid("channel binding is not supported; use channel_binding=disable or prefer")
            })?;
        let client_nonce =
            attribute(bare, 'r').ok_or_else(|| invalid("client-first has no nonce"))?;
        // PostgreSQL ignores the SCRAM user name; the startup message's user is the one.
        let user = client
            .metadata()
            .get(pgwire::api::METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let found = self.front.directory.scram(&user).unwrap_or_else(|error| {
            tracing::error!(%error, "Cannot read the users file.");
            None
        });
        let (principal, verifier) = match found {
            Some((principal, verifier)) => (Some(principal), verifier),
            None => (None, ScramVerifier::impossible()),
        };
        let nonce = format!("{client_nonce}{}", B64.encode(rand::random::<[u8; 18]>()));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        *self.exchange.lock().expect("exchange lock poisoned") =
            Exchange::ServerFirstSent(Box::new(ServerFirstSent {
                user,
                principal,
                verifier,
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                nonce,
            }));
        Ok(server_first)
    }

    /// Checks the client's proof; on success returns the principal and the server-final.
    fn client_final(&self, data: &[u8]) -> Result<(Principal, String), (String, PgWireError)> {
        let exchange = std::mem::replace(
            &mut *self.exchange.lock().expect("exchange lock poisoned"),
            Exchange::Done,
        );
        let Exchange::ServerFirstSent(sent) = exchange else {
            return Err((String::new(), PgWireError::InvalidSASLState));
        };
        let ServerFirstSent {
            user,
            principal,
            verifier,
            client_first_bare,
            server_first,
            nonce,
        } = *sent;
        let refuse = || (user.clone(), PgWireError::InvalidPassword(user.clone()));
        let text = std::str::from_utf8(data).map_err(|_| refuse())?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(refuse)?;
        let binding_ok = matches!(attribute(without_proof, 'c'), Some("biws" | "eSws"));
        let nonce_ok = attribute(without_proof, 'r') == Some(nonce.as_str());
        let proof: [u8; 32] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(refuse)?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(&verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let stored: [u8; 32] = Sha256::digest(&client_key).into();
        let proof_ok = constant_time_eq(&stored, &verifier.stored_key);
        match principal {
            Some(principal) if binding_ok && nonce_ok && proof_ok => {
                let server_signature = hmac(&verifier.server_key, auth_message.as_bytes());
                Ok((principal, format!("v={}", B64.encode(server_signature))))
            }
            _ => Err(refuse()),
        }
    }
}

#[async_trait::async_trait]
impl StartupHandler for ScramStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                        vec![MECHANISM.to_string()],
                    )))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let first = matches!(
                    *self.exchange.lock().expect("exchange lock poisoned"),
                    Exchange::Initial
                );
                if first {
                    let initial = message.into_sasl_initial_response()?;
                    if initial.auth_method != MECHANISM {
                        return Err(PgWireError::UnsupportedSASLAuthMethod(initial.auth_method));
                    }
                    let data = initial.data.unwrap_or_default();
                    let server_first = self.client_first(client, &data)?;
                    client
                        .send(PgWireBackendMessage::Authentication(
                            Authentication::SASLContinue(Bytes::from(server_first)),
                        ))
                        .await?;
                    return Ok(());
                }
                let response = message.into_sasl_response()?;
                match self.client_final(&response.data) {
                    Ok((principal, server_final)) => {
                        let session = self
                            .front
                            .engine
                            .session(principal)
                            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                        let wire = WireSession::new(session, client.socket_addr().to_string())?;
                        client.session_extensions().insert(wire);
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLFinal(Bytes::from(server_final)),
                            ))
                            .await?;
                        let (pid, secret) = RandomPidSecretKeyGenerator::default().generate(client);
                        client.set_pid_and_secret_key(pid, secret);
                        finish_authentication(client, &server_parameters()).await?;
                    }
                    Err((user, error)) => {
                        let mut track = self.front.tracker.start(
                            Protocol::Postgres,
                            client.socket_addr().to_string(),
                            None,
                        );
                        track.set_claimed_user(Some(&user));
                        track.unauthenticated("password authentication failed");
                        return Err(error);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the server tells clients about itself after login.
fn server_parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = "16.6 (Lantern)".to_string();
    parameters.is_superuser = false;
    parameters.default_transaction_read_only = true;
    parameters
}

fn invalid(reason: &str) -> PgWireError {
    PgWireError::InvalidScramMessage(reason.to_string())
}

/// The value of attribute `name` in a SCRAM message (`r=...,s=...`).
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.len() == 1 && key.starts_with(name)).then_some(value)
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
