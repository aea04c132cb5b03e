//! The running server's view of the users file: reloaded when it changes, so `lantern users add`
//! and `remove` take effect without a restart. It also holds the dashboard's login sessions:
//! a user logs in with the password of their PostgreSQL login and gets a session token that
//! the HTTP API accepts like their own token, until it expires or the user is removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lantern_query::access::Principal;
use sha2::{Digest, Sha256};

use crate::users::{self, ScramVerifier, UserRecord, UsersError, UsersFile};

/// Dashboard session tokens: `lns.<user>.<64 hex digits>`, kept in memory only (a restart logs
/// everyone out).
const SESSION_PREFIX: &str = "lns.";

/// Why a caller could not be authenticated. Deliberately vague towards the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid or revoked token")]
    Invalid,
    #[error("wrong user name or password")]
    Login,
    #[error("the session has expired: log in again")]
    Expired,
    #[error(transparent)]
    Users(#[from] UsersError),
}

#[derive(Debug, Default)]
struct Loaded {
    /// Modification time and length of the file when it was read.
    stamp: Option<(SystemTime, u64)>,
    users: Arc<HashMap<String, UserRecord>>,
    /// SHA-256 of tokens already verified against their argon2 hash -> who they are. Cleared
    /// whenever the file changes, so a removed user's token stops working at once.
    verified: HashMap<[u8; 32], Principal>,
    /// SHA-256 of live session tokens -> whose, and until when.
    sessions: HashMap<[u8; 32], (String, Instant)>,
}

/// Users and their credentials, as the server checks them.
#[derive(Debug)]
pub struct Directory {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl Directory {
    /// Reads `path` now, so a malformed users file fails the server at start.
    pub fn open(path: &Path) -> Result<Arc<Self>, UsersError> {
        let directory = Directory {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded::default()),
        };
        directory.users()?;
        Ok(Arc::new(directory))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users, re-read if the file changed since last time.
    fn users(&self) -> Result<Arc<HashMap<String, UserRecord>>, UsersError> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut loaded = self.loaded.lock().expect("directory lock poisoned");
        if loaded.stamp != stamp || stamp.is_none() {
            let file = UsersFile::load(&self.path)?;
            loaded.users = Arc::new(
                file.users()
                    .iter()
                    .map(|u| (u.name.clone(), u.clone()))
                    .collect(),
            );
            loaded.verified.clear();
            loaded.stamp = stamp;
        }
        Ok(Arc::clone(&loaded.users))
    }

    /// Who a bearer token (a user's own token or a session token) belongs to.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let users = self.users()?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if token.starts_with(SESSION_PREFIX) {
            return self.session_user(&users, &digest);
        }
        if let Some(who) = self
            .loaded
            .lock()
            .expect("directory lock poisoned")
            .verified
            .get(&digest)
        {
            return Ok(who.clone());
        }
        let user = users::token_user(token)
            .and_then(|name| users.get(name))
            .ok_or(AuthError::Invalid)?
            .clone();
        let token = token.to_string();
        let hash = user.token.clone();
        let matches = tokio::task::spawn_blocking(move || users::verify_token(&token, &hash))
            .await
            .unwrap_or(false);
        if !matches {
            return Err(AuthError::Invalid);
        }
        let who = user.principal();
        self.loaded
            .lock()
            .expect("directory lock poisoned")
            .verified
            .insert(digest, who.clone());
        Ok(who)
    }

    /// Checks `password` against `user`'s SCRAM verifier and opens a session of `ttl`: its
    /// token, and who it is. An unknown user costs the same time as a wrong password.
    pub async fn login(
        &self,
        user: &str,
        password: &str,
        ttl: Duration,
    ) -> Result<(String, Principal), AuthError> {
        let users = self.users()?;
        let record = users.get(user);
        let verifier = record
            .and_then(|u| ScramVerifier::parse(&u.password).ok())
            .unwrap_or_else(ScramVerifier::impossible);
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || verifier.matches(&password))
            .await
            .unwrap_or(false);
        let Some(record) = record.filter(|_| matches) else {
            return Err(AuthError::Login);
        };
        let token = format!(
            "{SESSION_PREFIX}{}.{}",
            record.name,
            users::hex_string(&users::random_bytes::<32>())
        );
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut loaded = self.loaded.lock().expect("directory lock poisoned");
        let now = Instant::now();
        loaded.sessions.retain(|_, (_, until)| *until > now);
        loaded
            .sessions
            .insert(digest, (record.name.clone(), now + ttl));
        Ok((token, record.principal()))
    }

    /// Ends the session of `token`, if it is one.
    pub fn logout(&self, token: &str) {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.loaded
            .lock()
            .expect("directory lock poisoned")
            .sessions
            .remove(&digest);
    }

    /// The user of a live session, as the users file says now (a removed user's sessions end).
    fn session_user(
        &self,
        users: &HashMap<String, UserRecord>,
        digest: &[u8; 32],
    ) -> Result<Principal, AuthError> {
        let mut loaded = self.loaded.lock().expect("directory lock poisoned");
        let (name, until) = loaded.sessions.get(digest).ok_or(AuthError::Invalid)?;
        if *until <= Instant::now() {
            loaded.sessions.remove(digest);
            return Err(AuthError::Expired);
        }
        users
            .get(name)
            .map(UserRecord::principal)
            .ok_or(AuthError::Invalid)
    }

    /// The SCRAM verifier and principal of `user`, if that user exists.
    pub fn scram(&self, user: &str) -> Result<Option<(Principal, ScramVerifier)>, UsersError> {
        let users = self.users()?;
        Ok(users.get(user).and_then(|u| {
            ScramVerifier::parse(&u.password)
                .ok()
                .map(|v| (u.principal(), v))
        }))
    }
}
