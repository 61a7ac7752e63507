//! Hides the sections of a wiki's admin panel that a hosting platform owns, as An Otter Wiki's
//! PLATFORM_MODE did: on a platform, accounts, mail and repository remotes are the platform's
//! business, not the wiki owner's. On a self-hosted single wiki, everything shows.
//!
//! The sections to hide can be changed with the plugin setting `hide` (comma-separated ids).

use holt_plugin_sdk::{AdminSection, Plugin, config, context, register_plugin};

/// What a platform owns, unless the operator says otherwise.
const PLATFORM_OWNED: &[&str] = &["accounts", "mail", "remotes"];

struct AdminHiding;

impl Plugin for AdminHiding {
    fn new() -> Self {
        AdminHiding
    }

    fn admin_sections(&self, sections: Vec<AdminSection>) -> Vec<String> {
        if !context::wiki().hosted {
            return sections.into_iter().map(|s| s.id).collect();
        }
        let hide: Vec<String> = match config::get("hide") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => PLATFORM_OWNED.iter().map(|s| s.to_string()).collect(),
        };
        sections
            .into_iter()
            .map(|s| s.id)
            .filter(|id| !hide.contains(id))
            .collect()
    }
}

register_plugin!(AdminHiding);
