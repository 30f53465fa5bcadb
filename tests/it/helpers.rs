//! `TestApp`: the real server on port 0 over a fresh database, with a
//! client and shortcuts for the calls most tests make.

use std::net::TcpListener;

use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;
use tributary::config::Config;
use tributary::startup::{spawn, AppState};

/// A running server for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// A client without cookies.
    pub client: reqwest::Client,
    /// The server's state (database, keys).
    pub state: web::Data<AppState>,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres:///postgres?host=/var/run/postgresql".to_string())
}

fn use_postgres() -> bool {
    std::env::var("TEST_DATABASE")
        .map(|v| v == "postgres")
        .unwrap_or(false)
}

/// Swaps the database name in a PostgreSQL URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose configuration `tweak` may change first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pg = None;
        let database_url = if use_postgres() {
            let admin = postgres_admin_url();
            let name = format!("trb_test_{}", tributary::crypto::random_token(12));
            let mut conn =
                diesel::pg::PgConnection::establish(&admin).expect("connect to PostgreSQL");
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create test database");
            let url = with_database(&admin, &name);
            pg = Some((admin, name));
            url
        } else {
            format!("sqlite://{}", dir.path().join("test.db").display())
        };
        let mut config = Config::from_lookup(|_| None).expect("default config");
        config.database_url = database_url;
        config.secret_key = Some([42u8; 32]);
        config.jwt_secret = Some("test-secret".into());
        config.secret_key_file = dir.path().join("tributary.key");
        // Test sources (other servers, fake shops) listen on loopback.
        config.sync.allow_private = true;
        tweak(&mut config);
        let state = web::Data::new(
            web::block(move || AppState::init(config))
                .await
                .expect("init task")
                .expect("state"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let server = spawn(state.clone(), listener).expect("server");
        actix_web::rt::spawn(server);
        TestApp {
            addr,
            // Idle connections are dropped before the server's keep-alive ends,
            // so a slow step between two calls never meets a closed socket.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("client"),
            state,
            _dir: dir,
            pg,
        }
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// Adds a user (and organisation) directly, as the command line does.
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        org: &str,
        role: &str,
    ) -> tributary::services::users::AddedUser {
        let db = self.state.db.clone();
        let (email, password, org, role) = (
            email.to_string(),
            password.to_string(),
            org.to_string(),
            role.to_string(),
        );
        web::block(move || {
            let mut conn = db.conn().unwrap();
            tributary::services::users::add_user(&mut conn, &email, &password, &org, &role).unwrap()
        })
        .await
        .unwrap()
    }

    /// Logs in through the API and returns the token.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login failed: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A fresh admin user in organisation `org`; returns the token.
    pub async fn admin(&self, org: &str) -> String {
        let email = format!("admin@{}.example", org.to_lowercase().replace(' ', "-"));
        self.add_user(&email, "correct horse", org, "admin").await;
        self.token(&email, "correct horse").await
    }

    /// Sends a JSON request (or none) with an optional bearer; returns the
    /// status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request")).await
    }

    /// Sends a raw body with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let resp = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(bearer)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        read(resp).await
    }

    /// Creates a manual child account; returns its JSON.
    pub async fn create_child(&self, token: &str, name: &str) -> Value {
        let (status, body) = self
            .call("POST", "/api/v1/accounts", Some(token), Some(serde_json::json!({"name": name, "currency": "EUR", "connection": {"kind": "manual"}})))
            .await;
        assert_eq!(status, 201, "create child failed: {body}");
        body
    }
}

/// The status and the JSON body of a response (Null when empty, a string
/// when not JSON).
async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}

/// Asserts the error body of `api.md` with a code.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "unexpected body {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message in {body}"
    );
    assert!(body["error"]["details"].is_array(), "no details in {body}");
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Best effort: the pool may still hold connections, hence FORCE.
            std::thread::spawn(move || {
                if let Ok(mut conn) = diesel::pg::PgConnection::establish(&admin) {
                    let _ =
                        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            });
        }
    }
}

/// A client that keeps cookies and does not follow redirects (so a test
/// sees each `303` and its `Location`).
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first hidden `csrf_token` field of a page, if any.
pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker)? + marker.len();
    let end = html[at..].find('"')? + at;
    Some(html[at..end].to_string())
}

impl TestApp {
    /// Logs in through the login form as a browser does: loads `/login`
    /// (which sets the pre-session cookie and carries the form's CSRF
    /// token), then posts the form. Returns the answer to the post.
    pub async fn form_login(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
        next: Option<&str>,
    ) -> reqwest::Response {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut fields = vec![
            ("email".to_string(), email.to_string()),
            ("password".to_string(), password.to_string()),
        ];
        if let Some(token) = csrf_in(&page) {
            fields.push(("csrf_token".into(), token));
        }
        if let Some(next) = next {
            fields.push(("next".into(), next.to_string()));
        }
        client
            .post(self.url("/login"))
            .form(&fields)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of the logged-in session behind `client` (read from
    /// the accounts page, as page script would).
    pub async fn session_csrf(&self, client: &reqwest::Client) -> String {
        let html = client
            .get(self.url("/accounts"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&html).expect("a logged-in page carries a CSRF token")
    }
}

/// Counts rows with a query of the form `SELECT count(*) AS n FROM …` on a
/// new connection of its own (not the server's pool), so it sees only what
/// is committed, as a restarted server would.
pub fn count_committed(database_url: &str, sql: &str) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let (backend, target) = tributary::db::parse_url(database_url);
    let query = diesel::sql_query(sql);
    let row: N = match backend {
        tributary::db::Backend::Postgres => {
            let mut c = diesel::pg::PgConnection::establish(&target).expect("connect");
            query.get_result(&mut c).expect("count")
        }
        tributary::db::Backend::Sqlite => {
            let mut c = diesel::sqlite::SqliteConnection::establish(&target).expect("connect");
            c.batch_execute("PRAGMA busy_timeout = 30000;")
                .expect("pragma");
            query.get_result(&mut c).expect("count")
        }
    };
    row.n
}

/// A fresh database for a server run as a separate process: a SQLite file
/// in `dir`, or a new PostgreSQL database with `TEST_DATABASE=postgres`
/// (dropped with this value).
pub struct FreshDatabase {
    /// Its `DATABASE_URL`.
    pub url: String,
    pg: Option<(String, String)>,
    /// The connection [`FreshDatabase::write_in_progress`] looks through,
    /// kept open (opening one per look would load the server it watches).
    probe: std::sync::Mutex<Option<tributary::db::DbConn>>,
}

impl FreshDatabase {
    /// Creates it.
    pub fn new(dir: &std::path::Path) -> FreshDatabase {
        if use_postgres() {
            let admin = postgres_admin_url();
            let name = format!("trb_test_{}", tributary::crypto::random_token(12));
            let mut conn =
                diesel::pg::PgConnection::establish(&admin).expect("connect to PostgreSQL");
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create test database");
            FreshDatabase {
                url: with_database(&admin, &name),
                pg: Some((admin, name)),
                probe: Default::default(),
            }
        } else {
            FreshDatabase {
                url: format!("sqlite://{}", dir.join("test.db").display()),
                pg: None,
                probe: Default::default(),
            }
        }
    }

    /// Whether a write transaction is open on it right now, seen from the
    /// outside: on SQLite the write lock is taken (`BEGIN IMMEDIATE` would
    /// have to wait); on PostgreSQL another session holds a transaction id
    /// (it has written).
    pub fn write_in_progress(&self) -> bool {
        use diesel::sql_types::BigInt;
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut probe = self.probe.lock().unwrap();
        if probe.is_none() {
            let (backend, target) = tributary::db::parse_url(&self.url);
            *probe = match backend {
                tributary::db::Backend::Postgres => diesel::pg::PgConnection::establish(&target)
                    .ok()
                    .map(tributary::db::DbConn::Pg),
                tributary::db::Backend::Sqlite => {
                    diesel::sqlite::SqliteConnection::establish(&target)
                        .ok()
                        .map(tributary::db::DbConn::Sqlite)
                }
            };
        }
        match probe.as_mut() {
            None => false,
            Some(tributary::db::DbConn::Pg(c)) => diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL",
            )
            .get_result::<N>(c)
            .is_ok_and(|r| r.n > 0),
            Some(tributary::db::DbConn::Sqlite(c)) => {
                if c.batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE;")
                    .is_err()
                {
                    return true;
                }
                let _ = c.batch_execute("ROLLBACK;");
                false
            }
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        self.probe.lock().unwrap().take();
        if let Some((admin, name)) = self.pg.take() {
            if let Ok(mut conn) = diesel::pg::PgConnection::establish(&admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
