//! The starter pages of a new wiki. The texts live in the repository's `bootstrap-template/`
//! folder, with `{{placeholders}}` filled from the host's parameters (wiki name, owner, URLs).

use holt_plugin_sdk::{NewPage, Plugin, register_plugin};

/// (page, template) for every starter page.
const PAGES: &[(&str, &str)] = &[
    ("Home", include_str!("../../../bootstrap-template/Home.md")),
    (
        "Getting Started",
        include_str!("../../../bootstrap-template/Getting Started.md"),
    ),
    (
        "Administration",
        include_str!("../../../bootstrap-template/Administration.md"),
    ),
    (
        "Agent Guide",
        include_str!("../../../bootstrap-template/Agent Guide.md"),
    ),
];

/// Added to the Home page of a hosted wiki, linking the other starter pages.
const START_HERE: &str = "\n## Start here\n\n\
    - [[Getting Started]]: editing, links, history, attachments, and using the wiki from git or an AI assistant.\n\
    - [[Administration]]: who may do what, collaborators, tokens and settings.\n\
    - [[Agent Guide]]: how an AI assistant should work with this wiki.\n";

struct Bootstrap;

/// Replaces every `{{key}}` with its value; unknown placeholders stay as they are.
fn fill(template: &str, params: &[(String, String)]) -> String {
    let mut text = template.to_string();
    for (key, value) in params {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    text
}

impl Plugin for Bootstrap {
    fn new() -> Self {
        Bootstrap
    }

    fn bootstrap_pages(&self, params: &[(String, String)]) -> Result<Vec<NewPage>, String> {
        for required in ["wiki_name", "owner", "wiki_url", "mcp_url"] {
            if !params.iter().any(|(k, v)| k == required && !v.is_empty()) {
                return Err(format!("the parameter '{required}' is missing"));
            }
        }
        Ok(PAGES
            .iter()
            .map(|(path, template)| {
                let mut content = fill(template, params);
                if *path == "Home" {
                    content.push_str(START_HERE);
                }
                NewPage {
                    path: path.to_string(),
                    content,
                }
            })
            .collect())
    }
}

register_plugin!(Bootstrap);
