//! Who may connect to a warehouse over the wire: `<root>/_starhouse/users.json`, kept beside
//! the log rather than in it, so that a password changed or a user removed is not kept in the
//! history every version carries. A user is stored with a SCRAM verifier (as PostgreSQL stores
//! one), never with a password.

use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::store::WarehouseRoot;

const USERS_FILE: &str = "_starhouse/users.json";

/// A user of the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>`.
    pub verifier: String,
    /// Whether the user may change the warehouse (DDL, loads); readers only query.
    #[serde(default)]
    pub writer: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

/// The warehouse's users, by name (none when the file does not exist).
pub async fn read_users(root: &WarehouseRoot) -> Result<Vec<User>, CatalogError> {
    let path = root.path(USERS_FILE);
    let bytes = match async { root.store().get(&path).await?.bytes().await }.await {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(source) => return Err(CatalogError::Store { action: "read", path: root.display_path(&path), source }),
    };
    let file: UsersFile = serde_json::from_slice(&bytes)
        .map_err(|source| CatalogError::CorruptVersion { path: root.display_path(&path), source })?;
    Ok(file.users)
}

/// Adds `user`, or replaces the user of that name.
pub async fn put_user(root: &WarehouseRoot, user: User) -> Result<(), CatalogError> {
    let mut users = read_users(root).await?;
    users.retain(|u| u.name != user.name);
    users.push(user);
    users.sort_by(|a, b| a.name.cmp(&b.name));
    write_users(root, users).await
}

/// Removes the user `name`; whether there was one.
pub async fn remove_user(root: &WarehouseRoot, name: &str) -> Result<bool, CatalogError> {
    let mut users = read_users(root).await?;
    let before = users.len();
    users.retain(|u| u.name != name);
    if users.len() == before {
        return Ok(false);
    }
    write_users(root, users).await.map(|()| true)
}

async fn write_users(root: &WarehouseRoot, users: Vec<User>) -> Result<(), CatalogError> {
    let path = root.path(USERS_FILE);
    let bytes = serde_json::to_vec_pretty(&UsersFile { users }).expect("users always serialise to JSON");
    root.store().put(&path, PutPayload::from(bytes)).await.map(drop).map_err(|source| CatalogError::Store {
        action: "write",
        path: root.display_path(&path),
        source,
    })
}
