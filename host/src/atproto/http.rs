//! `PeerHttp`: how Holt talks to ATProto services (PDSs, authorization servers, the PLC
//! directory, handle hosts). Addresses come from strangers' DID documents and handles, so
//! it follows no redirects, bounds time and body size, and in production speaks only https
//! to public addresses.

use std::error::Error;
use std::net::IpAddr;
use std::time::Duration;

use atrium_xrpc::http::{Request, Response};

/// Largest body read from a peer (DID documents and OAuth metadata are a few KiB).
const MAX_BODY: usize = 1 << 20;

type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The HTTP client of the ATProto sign-in.
pub struct PeerHttp {
    client: reqwest::Client,
    allow_http: bool,
}

impl PeerHttp {
    /// `allow_http` also allows loopback and private addresses (tests with local peers).
    pub fn new(allow_http: bool) -> Result<Self, reqwest::Error> {
        // TLS uses ring (already in the tree); installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("Holt/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PeerHttp { client, allow_http })
    }

    /// Refuses URLs a stranger could use to make Holt reach what it should not.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(format!("{url}: the {other} scheme is not allowed")),
        }
        if self.allow_http {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
            return Err(format!("{url}: local addresses are not allowed"));
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !is_public(ip)
        {
            return Err(format!("{url}: private addresses are not allowed"));
        }
        Ok(())
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

impl atrium_xrpc::HttpClient for PeerHttp {
    async fn send_http(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, BoxError> {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string())?;
        self.check_url(&url)?;
        let mut response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut builder = Response::builder().status(response.status());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is larger than {MAX_BODY} bytes").into());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(builder.body(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_plain_http_and_private_addresses() {
        let http = PeerHttp::new(false).unwrap();
        let ok = |u: &str| http.check_url(&reqwest::Url::parse(u).unwrap()).is_ok();
        assert!(ok("https://bsky.social/xrpc/x"));
        assert!(ok("https://8.8.8.8/"));
        for bad in [
            "http://bsky.social/",
            "https://localhost/",
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "file:///etc/passwd",
        ] {
            assert!(!ok(bad), "{bad} should be refused");
        }
        let tests = PeerHttp::new(true).unwrap();
        assert!(
            tests
                .check_url(&reqwest::Url::parse("http://127.0.0.1:2583/").unwrap())
                .is_ok()
        );
    }
}
