//! Where the ATProto sign-in keeps its state: sign-ins under way (in memory, for ten
//! minutes; a restart only means signing in again) and the OAuth sessions Holt holds for
//! its users (in the platform database, so they survive restarts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrium_api::types::string::Did;
use atrium_common::store::Store;
use atrium_oauth::store::session::{Session, SessionStore};
use atrium_oauth::store::state::{InternalStateData, StateStore};

use crate::platform::Platform;

/// How long a visitor has to finish signing in at their PDS.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// At most this many sign-ins under way at once (older ones are dropped first).
const MAX_PENDING: usize = 10_000;

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
#[error("sign-in store: {0}")]
pub struct StoreError(String);

/// Sign-ins under way, by OAuth `state`.
#[derive(Clone, Default)]
pub struct PendingSignIns {
    entries: Arc<Mutex<HashMap<String, (Instant, InternalStateData)>>>,
}

impl PendingSignIns {
    /// The application state of a sign-in under way, without consuming it (the callback
    /// checks it belongs to this browser before the code is exchanged).
    pub fn peek(&self, state: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(state)
            .filter(|(at, _)| at.elapsed() < PENDING_FOR)
            .and_then(|(_, data)| data.app_state.clone())
    }
}

impl Store<String, InternalStateData> for PendingSignIns {
    type Error = StoreError;

    async fn get(&self, key: &String) -> Result<Option<InternalStateData>, StoreError> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < PENDING_FOR)
            .map(|(_, data)| data.clone()))
    }

    async fn set(&self, key: String, value: InternalStateData) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < PENDING_FOR);
        if entries.len() >= MAX_PENDING
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key, (Instant::now(), value));
        Ok(())
    }

    async fn del(&self, key: &String) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.clear();
        Ok(())
    }
}

impl StateStore for PendingSignIns {}

/// Users' ATProto sessions, in the platform database.
#[derive(Clone)]
pub struct SessionTable {
    pub platform: Arc<Platform>,
}

impl Store<Did, Session> for SessionTable {
    type Error = StoreError;

    async fn get(&self, key: &Did) -> Result<Option<Session>, StoreError> {
        let data = self
            .platform
            .atproto_session(key.as_str())
            .map_err(|e| StoreError(e.to_string()))?;
        data.map(|json| serde_json::from_str(&json).map_err(|e| StoreError(e.to_string())))
            .transpose()
    }

    async fn set(&self, key: Did, value: Session) -> Result<(), StoreError> {
        let json = serde_json::to_string(&value).map_err(|e| StoreError(e.to_string()))?;
        self.platform
            .set_atproto_session(key.as_str(), &json)
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn del(&self, key: &Did) -> Result<(), StoreError> {
        self.platform
            .delete_atproto_session(key.as_str())
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.platform
            .clear_atproto_sessions()
            .map_err(|e| StoreError(e.to_string()))
    }
}

impl SessionStore for SessionTable {}
