//! Holt: a git-backed Markdown wiki engine and hosting platform with WebAssembly plugins.
//!
//! Modules depend downward only: `web` → `tenancy`/`wiki` → `render`/`index` → `store` → `db`.

pub mod atproto;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod import;
pub mod index;
pub mod mcp;
pub mod oauth;
pub mod platform;
pub mod plugins;
pub mod render;
pub mod semantic;
pub mod server;
pub mod store;
pub mod tenancy;
pub mod web;
pub mod wiki;
pub mod wikis;
