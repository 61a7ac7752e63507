//! The platform's addresses: the apex (`http://localhost:8080`) and each wiki's
//! (`http://{slug}.localhost:8080`), and which of them a request's Host names.

use std::net::{IpAddr, SocketAddr};

/// What a Host header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// The platform itself (its pages, management API and sign-in).
    Apex,
    /// The wiki with this slug.
    Wiki(String),
    /// Something else entirely.
    Other,
}

/// The public addresses of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Urls {
    /// From the configured public URL, or `http://localhost:<bound port>` when there is none.
    pub fn new(public_url: Option<&str>, bound: SocketAddr) -> Result<Urls, String> {
        let Some(url) = public_url else {
            return Ok(Urls {
                scheme: "http".into(),
                host: "localhost".into(),
                port: Some(bound.port()),
            });
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("public_url '{url}': write it as https://host or http://host:port")
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "public_url '{url}': the scheme must be http or https"
            ));
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!(
                "public_url '{url}': give only the scheme, host and port"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("public_url '{url}': bad port '{port}'"))?,
                ),
            ),
            None => (authority, None),
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(Urls {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
        })
    }

    /// Cookies are `Secure` when the platform is served over HTTPS.
    pub fn secure(&self) -> bool {
        self.scheme == "https"
    }

    /// The apex's host name (the cookie domain).
    pub fn domain(&self) -> &str {
        &self.host
    }

    fn port_suffix(&self) -> String {
        self.port.map(|p| format!(":{p}")).unwrap_or_default()
    }

    /// The platform's own URL.
    pub fn apex(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.port_suffix())
    }

    /// A wiki's URL.
    pub fn wiki(&self, slug: &str) -> String {
        format!(
            "{}://{slug}.{}{}",
            self.scheme,
            self.host,
            self.port_suffix()
        )
    }

    /// What a request's Host header names.
    pub fn classify(&self, host_header: &str) -> HostKind {
        let host = strip_port(host_header)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() {
            return HostKind::Other;
        }
        if host == self.host || host.parse::<IpAddr>().is_ok() {
            return HostKind::Apex;
        }
        match host.strip_suffix(&format!(".{}", self.host)) {
            Some(label) if !label.is_empty() && !label.contains('.') => {
                HostKind::Wiki(label.to_string())
            }
            _ => HostKind::Other,
        }
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_classify_into_apex_and_wikis() {
        let urls = Urls::new(None, "127.0.0.1:8080".parse().unwrap()).unwrap();
        assert_eq!(urls.apex(), "http://localhost:8080");
        assert_eq!(urls.wiki("notes"), "http://notes.localhost:8080");
        assert_eq!(urls.classify("localhost:8080"), HostKind::Apex);
        assert_eq!(urls.classify("127.0.0.1:8080"), HostKind::Apex);
        assert_eq!(urls.classify("[::1]:8080"), HostKind::Apex);
        assert_eq!(
            urls.classify("notes.localhost:8080"),
            HostKind::Wiki("notes".into())
        );
        assert_eq!(
            urls.classify("Notes.LocalHost"),
            HostKind::Wiki("notes".into())
        );
        assert_eq!(urls.classify("a.b.localhost"), HostKind::Other);
        assert_eq!(urls.classify("evil.example"), HostKind::Other);
        assert_eq!(urls.classify(""), HostKind::Other);
    }

    #[test]
    fn public_urls_are_parsed_and_checked() {
        let urls = Urls::new(
            Some("https://wiki.example.org/"),
            "127.0.0.1:8080".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            (urls.apex(), urls.wiki("a1b")),
            (
                "https://wiki.example.org".into(),
                "https://a1b.wiki.example.org".into()
            )
        );
        assert!(urls.secure());
        assert_eq!(
            urls.classify("a1b.wiki.example.org"),
            HostKind::Wiki("a1b".into())
        );
        assert!(Urls::new(Some("ftp://x"), "127.0.0.1:1".parse().unwrap()).is_err());
        assert!(Urls::new(Some("wiki.example.org"), "127.0.0.1:1".parse().unwrap()).is_err());
        assert!(Urls::new(Some("http://x/path"), "127.0.0.1:1".parse().unwrap()).is_err());
    }
}
