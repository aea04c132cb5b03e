//! The running server's view of the users file: reloaded when it changes, so `lantern users add`
//! and `remove` take effect without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lantern_query::access::Principal;
use sha2::{Digest, Sha256};

use crate::users::{self, ScramVerifier, UserRecord, UsersError, UsersFile};

/// Why a caller could not be authenticated. Deliberately vague towards the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid or revoked token")]
    Invalid,
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

    /// Who a bearer token belongs to.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let users = self.users()?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
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
