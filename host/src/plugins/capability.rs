//! Capabilities: what a plugin may ask the host to do. The manifest asks, the operator grants;
//! a call needs both, and then still needs the permission of the user the call acts for.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One thing a plugin may be allowed to do through the host's imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Read pages, history, links and search (`pages`, `search` imports).
    PagesRead,
    /// Create, edit, delete, rename and revert pages.
    PagesWrite,
    /// Read attachments.
    AttachmentsRead,
    /// Add and delete attachments.
    AttachmentsWrite,
    /// Keep data in its own key-value store.
    Kv,
}

impl Capability {
    pub const ALL: [Capability; 5] = [
        Capability::PagesRead,
        Capability::PagesWrite,
        Capability::AttachmentsRead,
        Capability::AttachmentsWrite,
        Capability::Kv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::PagesRead => "pages:read",
            Capability::PagesWrite => "pages:write",
            Capability::AttachmentsRead => "attachments:read",
            Capability::AttachmentsWrite => "attachments:write",
            Capability::Kv => "kv",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                format!("unknown capability '{s}' (known: {})", known.join(", "))
            })
    }
}

/// The capabilities a loaded plugin holds: asked for in its manifest and granted by the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(BTreeSet<Capability>);

/// Why a plugin's capabilities could not be settled at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error(
        "asks for the capability '{0}', which the operator has not granted (add it to `grants`)"
    )]
    NotGranted(Capability),
    #[error("{0}")]
    Unknown(String),
}

impl Grants {
    /// Settles a plugin's capabilities: every capability it asks for must be granted.
    /// Grants it did not ask for are ignored (a plugin never holds more than it asked).
    pub fn settle(asked: &[String], granted: &[String]) -> Result<Grants, GrantError> {
        let asked: BTreeSet<Capability> = asked
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(GrantError::Unknown)?;
        let granted: BTreeSet<Capability> = granted
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(GrantError::Unknown)?;
        if let Some(missing) = asked.difference(&granted).next() {
            return Err(GrantError::NotGranted(*missing));
        }
        Ok(Grants(asked))
    }

    pub fn allows(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }

    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_plugin_holds_what_it_asked_and_was_granted() {
        let grants =
            Grants::settle(&strings(&["pages:read"]), &strings(&["pages:read", "kv"])).unwrap();
        assert!(grants.allows(Capability::PagesRead));
        assert!(
            !grants.allows(Capability::Kv),
            "granted but not asked: not held"
        );
        assert!(!grants.allows(Capability::PagesWrite));
    }

    #[test]
    fn asking_for_what_was_not_granted_refuses_the_plugin() {
        let err = Grants::settle(
            &strings(&["pages:read", "pages:write"]),
            &strings(&["pages:read"]),
        )
        .unwrap_err();
        assert_eq!(err, GrantError::NotGranted(Capability::PagesWrite));
        assert!(err.to_string().contains("pages:write"));
    }

    #[test]
    fn unknown_capabilities_are_named() {
        let err = Grants::settle(&strings(&["network"]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("unknown capability 'network'"),
            "{err}"
        );
        let err = Grants::settle(&[], &strings(&["root"])).unwrap_err();
        assert!(err.to_string().contains("'root'"));
    }

    #[test]
    fn every_deny_case_of_every_capability() {
        for asked in Capability::ALL {
            let grants =
                Grants::settle(&[asked.name().to_string()], &[asked.name().to_string()]).unwrap();
            for other in Capability::ALL {
                assert_eq!(
                    grants.allows(other),
                    other == asked,
                    "asked {asked}, checking {other}"
                );
            }
        }
    }
}
