//! `Idempotency-Key`: a client that retries a report (a timeout, a dropped connection) sends
//! the same key, and gets the first answer back instead of filing the report twice. The same key
//! with a different body is a client bug, answered 409.
//!
//! Keys belong to a user (two users may pick the same key). Accepted answers are appended to a
//! JSON-lines file and synced before the client hears them, so a retry after a restart is still
//! answered from the file; at start the file is read back, expired entries dropped and the rest
//! rewritten. Requests with the same key are handled one at a time.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One remembered answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub user: String,
    pub key: String,
    /// SHA-256 of the request body, hex.
    pub body_sha256: String,
    pub status: u16,
    pub response: Value,
    pub at: DateTime<Utc>,
}

/// What the store says of a request.
#[derive(Debug)]
pub enum Lookup {
    /// Never seen: go ahead (holding the returned guard until the answer is stored).
    New,
    /// Seen with this body: answer the same again.
    Replay(Answer),
    /// Seen with another body.
    Conflict,
}

#[derive(Debug)]
pub struct IdempotencyStore {
    path: PathBuf,
    ttl: Duration,
    answers: Mutex<HashMap<KeyId, Answer>>,
    /// One lock per key in use, so concurrent retries wait for the first to finish.
    in_flight: Mutex<HashMap<KeyId, Arc<tokio::sync::Mutex<()>>>>,
}

/// (user, key): keys belong to the user who sent them.
type KeyId = (String, String);

impl IdempotencyStore {
    /// Reads `path` (missing: empty), drops entries older than `ttl`, and rewrites it.
    pub fn open(path: &Path, ttl: Duration) -> std::io::Result<Self> {
        let mut answers = HashMap::new();
        let cutoff = Utc::now() - ttl;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    // A torn last line (a crash mid-append) was never acknowledged: skip it.
                    if let Ok(answer) = serde_json::from_str::<Answer>(line)
                        && answer.at > cutoff
                    {
                        answers.insert((answer.user.clone(), answer.key.clone()), answer);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("jsonl.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        for answer in answers.values() {
            writeln!(file, "{}", serde_json::to_string(answer)?)?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(IdempotencyStore {
            path: path.to_path_buf(),
            ttl,
            answers: Mutex::new(answers),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for any other request with this key to finish, then says what to do. Keep the
    /// guard until the answer is [stored](Self::remember) or the request has failed.
    pub async fn begin(
        &self,
        user: &str,
        key: &str,
        body_sha256: &str,
    ) -> (Lookup, tokio::sync::OwnedMutexGuard<()>) {
        let id = (user.to_string(), key.to_string());
        let lock = {
            let mut in_flight = self.in_flight.lock().expect("idempotency lock poisoned");
            // Locks no request holds any more are dropped, so the map stays as small as the
            // number of keys in use at once.
            in_flight.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(in_flight.entry(id.clone()).or_default())
        };
        let guard = lock.lock_owned().await;
        let answers = self.answers.lock().expect("idempotency lock poisoned");
        let lookup = match answers.get(&id) {
            Some(a) if a.at <= Utc::now() - self.ttl => Lookup::New,
            Some(a) if a.body_sha256 == body_sha256 => Lookup::Replay(a.clone()),
            Some(_) => Lookup::Conflict,
            None => Lookup::New,
        };
        (lookup, guard)
    }

    /// Keeps an answer: synced to the file before the caller sends it.
    pub fn remember(&self, answer: Answer) -> std::io::Result<()> {
        let line = serde_json::to_string(&answer)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{line}")?;
        file.sync_data()?;
        self.answers
            .lock()
            .expect("idempotency lock poisoned")
            .insert((answer.user.clone(), answer.key.clone()), answer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(user: &str, key: &str, body: &str) -> Answer {
        Answer {
            user: user.into(),
            key: key.into(),
            body_sha256: body.into(),
            status: 202,
            response: serde_json::json!({"event_id": "e1"}),
            at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn replays_survive_a_restart_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.jsonl");
        let store = IdempotencyStore::open(&path, Duration::hours(24)).unwrap();
        let (lookup, guard) = store.begin("ana", "k1", "h1").await;
        assert!(matches!(lookup, Lookup::New));
        store.remember(answer("ana", "k1", "h1")).unwrap();
        drop(guard);

        let store = IdempotencyStore::open(&path, Duration::hours(24)).unwrap();
        assert!(
            matches!(store.begin("ana", "k1", "h1").await.0, Lookup::Replay(a) if a.response["event_id"] == "e1")
        );
        assert!(matches!(
            store.begin("ana", "k1", "h2").await.0,
            Lookup::Conflict
        ));
        assert!(
            matches!(store.begin("bob", "k1", "h2").await.0, Lookup::New),
            "keys are per user"
        );

        let expired = IdempotencyStore::open(&path, Duration::zero()).unwrap();
        assert!(matches!(
            expired.begin("ana", "k1", "h2").await.0,
            Lookup::New
        ));
    }
}
