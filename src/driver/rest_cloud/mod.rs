//! What the REST-cloud drivers (`digitalocean`, `linode`, `hetzner`, `vultr`) share, written
//! once: the `Driver` itself, generic over what one API does its own way, and the client calls
//! every such API makes alike (`driver`); their settings block and API client (`settings`);
//! the tags that mark a node with its lineage and address (`marks`); the ports and records
//! of keys and firewalls (`objects`); the adoption snapshot, dependency check and user data
//! of a node create (`node`); what a refresh makes of its lists (`refresh`). Each driver keeps
//! only what its API does differently.

pub mod driver;
pub mod marks;
pub mod node;
pub mod objects;
pub mod refresh;
pub mod settings;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A lock that survives a panicked holder (the data are caches and sets of names).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
