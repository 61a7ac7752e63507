//! End-to-end tests: the real `holt` binary over real HTTP, checked with real git.
//!
//! One binary with a module per area; `util::Server::start()` gives each test its own server on
//! an ephemeral port and a temporary data directory.

mod acl;
mod attachments;
mod cli;
mod crosspath;
mod hosts;
mod mcp;
mod oauth;
mod pages;
mod pds;
mod platform;
mod plugins;
mod relevance;
mod rest;
mod semantic;
mod signin;
mod util;
mod wide;
mod xss;
