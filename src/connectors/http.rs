//! The outbound HTTP client every connector shares: a timeout per attempt,
//! no redirects, the source's address checked against the operator's
//! private-address rule (and pinned, so a second lookup cannot move it), and
//! retries with backoff for what can pass — refused or timed-out
//! connections, 5xx, 429 (honouring `Retry-After`) — for at most the
//! configured budget per request. An answer's body is read up to a byte cap
//! (`SyncConfig::answer_cap`): a source cannot make the server hold more
//! than one bounded page in memory.

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
    max_answer_bytes: u64,
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

/// Whether an address is not globally routable: loopback, private,
/// shared, link-local, site-local, unspecified, documentation,
/// benchmarking, reserved, multicast or broadcast. An IPv4 address
/// embedded in IPv6 (`::a.b.c.d`, `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is judged as the IPv4 address it carries; otherwise
/// only global unicast IPv6 (`2000::/3`) outside its special ranges passes.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            a == 0 // "this network"
                || a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 0 && c == 2) // documentation
                || (a == 192 && b == 88 && c == 99) // 6to4 relay
                || (a == 192 && b == 168)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || (a == 198 && b == 51 && c == 100) // documentation
                || (a == 203 && b == 0 && c == 113) // documentation
                || a >= 224 // multicast, reserved, broadcast
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            (seg[0] & 0xe000) != 0x2000 // not global unicast 2000::/3
                || (seg[0] == 0x2001 && seg[1] < 0x0200) // 2001::/23 protocol assignments
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] & 0xfff0) == 0x3ff0 // 3fff::/20 documentation
        }
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms
/// that reach an IPv4 host: IPv4-compatible `::/96` (but `::` and `::1`),
/// IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`,
/// 6to4 `2002::/16`.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let seg = v6.segments();
    let o = v6.octets();
    let last = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if seg[..6] == [0, 0, 0, 0, 0, 0] {
        // `::` and `::1` are IPv6's own unspecified and loopback: judged
        // as such (both refused) by the caller through 0.0.0.0 / 0.0.0.1.
        return Some(last);
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(last);
    }
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        // Local-use NAT64: never global.
        return Some(std::net::Ipv4Addr::new(127, 0, 0, 1));
    }
    if seg[0] == 0x2002 {
        return Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Checks a source address as it is saved and before every sync: an
/// http:// or https:// URL with a host and no user-info, query or fragment
/// (a connector appends its own paths and queries), and, unless the operator
/// allows private addresses or names the host in
/// `TRIBUTARY_PRIVATE_CONNECTION_HOSTS`, every address the host resolves to
/// globally routable. Returns the URL, its host and the resolved addresses
/// to pin (empty when private addresses are allowed).
pub fn check_target(
    base_url: &str,
    config: &SyncConfig,
) -> Result<(reqwest::Url, String, Vec<SocketAddr>), SyncError> {
    let url = reqwest::Url::parse(base_url)
        .map_err(|_| SyncError::new(format!("{base_url} is not a valid address")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SyncError::new(
            "only http:// and https:// sources are supported",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SyncError::new(
            "the address must not hold a user name or password; enter credentials in their own fields",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SyncError::new(
            "the address must not hold a query (?…) or fragment (#…); give the source's base address",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| SyncError::new(format!("{base_url} names no host")))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let allowed_host = config
        .private_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&bare));
    if config.allow_private || allowed_host {
        return Ok((url, bare, Vec::new()));
    }
    let addrs: Vec<SocketAddr> = (bare.as_str(), port)
        .to_socket_addrs()
        .map_err(|_| SyncError::new(format!("{host} could not be resolved")))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| is_private(a.ip())) {
        return Err(SyncError::new(format!(
            "{host} is a private, loopback or otherwise not public address, and this server does not allow connections to those (TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS, TRIBUTARY_PRIVATE_CONNECTION_HOSTS)"
        )));
    }
    Ok((url, bare, addrs))
}

impl Http {
    /// A client for `base_url` (checked by [`check_target`]; the checked
    /// address is pinned, so a second lookup cannot move it).
    pub fn for_base(base_url: &str, config: &SyncConfig) -> Result<Http, SyncError> {
        let (_, bare, addrs) = check_target(base_url, config)?;
        let mut builder = Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .connect_timeout(Duration::from_secs(config.timeout_seconds.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")));
        if let Some(first) = addrs.first() {
            builder = builder.resolve(&bare, *first);
        }
        Ok(Http {
            client: builder
                .build()
                .map_err(|e| SyncError::new(format!("the HTTP client could not start: {e}")))?,
            budget: Duration::from_secs(config.retry_seconds),
            max_answer_bytes: config.answer_cap(),
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
                Ok(resp) => match classify(resp, self.max_answer_bytes) {
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

fn classify(resp: Response, cap: u64) -> Result<Answer, Outcome> {
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
    read_capped(resp, cap).map(|body| Answer {
        status: status.as_u16(),
        headers,
        body,
    })
}

/// Reads an answer's body, at most `cap` bytes: an announced length over
/// the cap is refused before anything is read; otherwise the body is read
/// in chunks and counted, and refused as soon as it passes the cap.
fn read_capped(mut resp: Response, cap: u64) -> Result<String, Outcome> {
    use std::io::Read;
    let too_big = |n: String| {
        Outcome::Fatal(format!(
            "the source sent a page of {n} bytes, more than the {cap} bytes this server reads in one answer (TRIBUTARY_SYNC_MAX_ANSWER_BYTES, or a smaller TRIBUTARY_SYNC_PAGE_SIZE); nothing of it was stored"
        ))
    };
    if let Some(len) = resp.content_length().filter(|l| *l > cap) {
        return Err(too_big(len.to_string()));
    }
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match resp.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let problem = match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                    Some(re) => describe(re),
                    None => format!("the answer could not be read ({e})"),
                };
                return Err(Outcome::Retry(None, problem));
            }
        };
        if body.len() as u64 + n as u64 > cap {
            return Err(too_big(format!("more than {cap}")));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(body)
        .map_err(|_| Outcome::Fatal("the source sent an answer that is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Every range of the review passes no more, public addresses still do.
    #[test]
    fn only_globally_routable_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::7f00:1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private} passed");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public} refused");
        }
    }

    /// A saved address holds no credentials, query or fragment, and by
    /// default no private host; a host named by the operator may be one.
    #[test]
    fn a_source_address_is_checked_as_saved() {
        let strict = SyncConfig {
            allow_private: false,
            ..SyncConfig::default()
        };
        for (url, says) in [
            ("http://127.0.0.1:9/internal/admin?token=abc&x=", "query"),
            ("https://shop.example/#frag", "fragment"),
            ("https://user:pw@shop.example", "user name"),
            ("ftp://shop.example", "http://"),
            ("http://127.0.0.1:9", "not public"),
            ("http://[::7f00:1]:9", "not public"),
            ("http://localhost:9", "not public"),
        ] {
            let err = check_target(url, &strict).unwrap_err();
            assert!(err.message.contains(says), "{url}: {}", err.message);
        }
        let lan = SyncConfig {
            private_hosts: vec!["127.0.0.1".into()],
            ..strict
        };
        assert!(check_target("http://127.0.0.1:9", &lan).is_ok());
    }
    use std::net::TcpListener;

    /// A one-shot server on loopback answering every request with `head`
    /// and then `len` bytes of a JSON string, written as fast as read.
    fn big_server(with_length: bool, len: usize) -> (String, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = if with_length {
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", len + 2)
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(b"\"");
            let block = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < len {
                let n = block.len().min(len - sent);
                if s.write_all(&block[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            let _ = s.write_all(b"\"");
            sent
        });
        (addr, handle)
    }

    fn capped(cap: u64) -> SyncConfig {
        SyncConfig {
            allow_private: true,
            max_answer_bytes: Some(cap),
            retry_seconds: 1,
            ..SyncConfig::default()
        }
    }

    /// An answer announcing more than the cap is refused unread; one
    /// without a length is cut off once it passes the cap; one under the
    /// cap is read whole.
    #[test]
    fn an_answer_over_the_cap_fails_with_a_clear_error() {
        let cap = 1 << 20;
        for with_length in [true, false] {
            let (addr, server) = big_server(with_length, 64 << 20);
            let http = Http::for_base(&addr, &capped(cap)).unwrap();
            let err = match http.send("reading variants", |c| c.get(&addr)) {
                Ok(a) => panic!("read a body of {} bytes", a.body.len()),
                Err(e) => e,
            };
            assert!(
                err.message
                    .contains("more than the 1048576 bytes this server reads"),
                "{}",
                err.message
            );
            let sent = server.join().unwrap();
            // The server could not write its 64 MiB: the client stopped
            // reading at the cap (what the socket buffers hold aside).
            assert!(
                sent < 16 << 20,
                "with_length {with_length}: {sent} bytes sent"
            );
        }
        let (addr, server) = big_server(false, 1000);
        let http = Http::for_base(&addr, &capped(cap)).unwrap();
        let answer = http.send("reading variants", |c| c.get(&addr)).unwrap();
        assert_eq!(answer.body.len(), 1002);
        server.join().unwrap();
    }
}
