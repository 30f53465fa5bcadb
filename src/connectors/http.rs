//! The outbound HTTP client every connector shares: a timeout per attempt,
//! no redirects, the source's address checked against the operator's
//! private-address rule (and pinned, so a second lookup cannot move it), and
//! retries with backoff for what can pass — refused or timed-out
//! connections, 5xx, 429 (honouring `Retry-After`) — for at most the
//! configured budget per request.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;

use crate::config::SyncConfig;
use crate::connectors::SyncError;

/// A client for one source host.
pub struct Http {
    client: Client,
    budget: Duration,
}

/// A successful answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub body: String,
}

/// Whether an address is loopback, private, link-local, unspecified or
/// otherwise not on the public internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

impl Http {
    /// A client for `base_url` (checked: http/https, and, unless the
    /// operator allows it, not a private address).
    pub fn for_base(base_url: &str, config: &SyncConfig) -> Result<Http, SyncError> {
        let url = reqwest::Url::parse(base_url)
            .map_err(|_| SyncError::new(format!("{base_url} is not a valid address")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SyncError::new(
                "only http:// and https:// sources are supported",
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| SyncError::new(format!("{base_url} names no host")))?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let mut builder = Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .connect_timeout(Duration::from_secs(config.timeout_seconds.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let addrs: Vec<SocketAddr> = (bare, port)
                .to_socket_addrs()
                .map_err(|e| SyncError::new(format!("{host} could not be resolved: {e}")))?
                .collect();
            if addrs.is_empty() || addrs.iter().any(|a| is_private(a.ip())) {
                return Err(SyncError::new(format!(
                    "{host} is a private or loopback address, and this server does not allow connections to those (TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS)"
                )));
            }
            builder = builder.resolve(bare, addrs[0]);
        }
        Ok(Http {
            client: builder
                .build()
                .map_err(|e| SyncError::new(format!("the HTTP client could not start: {e}")))?,
            budget: Duration::from_secs(config.retry_seconds),
        })
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the request `build` makes, retrying what can pass until the
    /// budget is spent; a 2xx answer comes back with its body, anything
    /// else is an error naming what the source said.
    pub fn send(
        &self,
        what: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Answer, SyncError> {
        let deadline = Instant::now() + self.budget;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (retry_after, problem) = match build(&self.client).send() {
                Ok(resp) => match classify(resp) {
                    Ok(answer) => return Ok(answer),
                    Err(Outcome::Fatal(e)) => return Err(SyncError::new(format!("{what}: {e}"))),
                    Err(Outcome::Retry(after, e)) => (after, e),
                },
                Err(e) => (None, describe(&e)),
            };
            let backoff = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5)))
                .min(Duration::from_secs(8));
            let wait = retry_after.unwrap_or(backoff);
            if Instant::now() + wait > deadline {
                return Err(SyncError::new(format!(
                    "{what}: {problem} (gave up after {attempt} attempts)"
                )));
            }
            tracing::info!(what, attempt, wait_ms = wait.as_millis() as u64, problem = %problem, "sync request retried");
            std::thread::sleep(wait);
        }
    }

    /// How long one request may be retried.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

enum Outcome {
    Retry(Option<Duration>, String),
    Fatal(String),
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the source did not answer in time".into()
    } else if e.is_connect() {
        "the source could not be reached".into()
    } else {
        format!("the request failed ({})", e.without_url_ref())
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut s = self.to_string();
        if let Some(url) = self.url() {
            s = s.replace(url.as_str(), "");
        }
        s
    }
}

/// Parses `Retry-After` (seconds; an HTTP date counts as a short wait).
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    match v.trim().parse::<f64>() {
        Ok(s) if s >= 0.0 => Some(Duration::from_secs_f64(s.min(3600.0))),
        _ => Some(Duration::from_secs(1)),
    }
}

fn classify(resp: Response) -> Result<Answer, Outcome> {
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Outcome::Retry(
            retry_after(&resp),
            "the source asked to slow down (429)".into(),
        ));
    }
    if status.is_server_error() {
        return Err(Outcome::Retry(
            retry_after(&resp),
            format!("the source had an error ({})", status.as_u16()),
        ));
    }
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => {
                "the source refused the credentials; enter the secret of this connection again"
            }
            404 => {
                "the source does not know this address or account; check the connection settings"
            }
            _ => "the source refused the request",
        };
        return Err(Outcome::Fatal(format!("{hint} ({})", status.as_u16())));
    }
    let headers = resp.headers().clone();
    match resp.text() {
        Ok(body) => Ok(Answer {
            status: status.as_u16(),
            headers,
            body,
        }),
        Err(e) => Err(Outcome::Retry(None, describe(&e))),
    }
}
