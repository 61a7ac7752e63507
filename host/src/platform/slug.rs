//! Wiki names (slugs): a wiki lives at `{slug}.<domain>`, so a slug is a DNS label.

/// Names the platform keeps for itself.
pub const RESERVED: &[&str] = &[
    "www",
    "api",
    "auth",
    "mcp",
    "admin",
    "app",
    "static",
    "assets",
    "cdn",
    "mail",
    "smtp",
    "imap",
    "ftp",
    "help",
    "docs",
    "status",
    "blog",
    "support",
    "login",
    "logout",
    "signin",
    "signup",
    "account",
    "accounts",
    "settings",
    "dashboard",
    "holt",
    "root",
    "system",
    "localhost",
];

/// Why a name cannot be a wiki's (or a user's) name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("'{0}' is {1} characters long; a name has 3 to 63")]
    Length(String, usize),
    #[error("'{0}' may only contain lowercase letters, digits and hyphens")]
    Characters(String),
    #[error("'{0}' may not begin or end with a hyphen")]
    Hyphen(String),
    #[error("'{0}' is reserved")]
    Reserved(String),
}

/// Checks a wiki or user name: 3-63 lowercase letters, digits and hyphens (not at either end),
/// and not reserved.
pub fn check_slug(slug: &str) -> Result<(), SlugError> {
    let len = slug.chars().count();
    if !(3..=63).contains(&len) {
        return Err(SlugError::Length(slug.to_string(), len));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SlugError::Characters(slug.to_string()));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(SlugError::Hyphen(slug.to_string()));
    }
    if RESERVED.contains(&slug) {
        return Err(SlugError::Reserved(slug.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_at_and_past_each_limit() {
        assert!(check_slug("abc").is_ok());
        assert!(check_slug(&"a".repeat(63)).is_ok());
        assert!(check_slug("my-notes-2").is_ok());
        assert_eq!(check_slug("ab"), Err(SlugError::Length("ab".into(), 2)));
        assert_eq!(
            check_slug(&"a".repeat(64)).unwrap_err(),
            SlugError::Length("a".repeat(64), 64)
        );
        assert_eq!(
            check_slug("My-Notes"),
            Err(SlugError::Characters("My-Notes".into()))
        );
        assert_eq!(
            check_slug("my_notes"),
            Err(SlugError::Characters("my_notes".into()))
        );
        assert_eq!(
            check_slug("not.es"),
            Err(SlugError::Characters("not.es".into()))
        );
        assert_eq!(
            check_slug("-notes"),
            Err(SlugError::Hyphen("-notes".into()))
        );
        for reserved in ["www", "api", "auth", "mcp", "admin"] {
            assert_eq!(
                check_slug(reserved),
                Err(SlugError::Reserved(reserved.into()))
            );
        }
    }
}
