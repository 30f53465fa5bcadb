//! Pages in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver: log in, see the master and its
//! children in the account switcher, switch account.
//!
//! Set `TRIBUTARY_SKIP_BROWSER=1` to skip on a machine without Chromium
//! (`.ci/run` installs it, so CI always runs these).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::TestApp;

pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_driver() -> Option<Driver> {
    if std::env::var("TRIBUTARY_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("TRIBUTARY_SKIP_BROWSER=1: browser test skipped");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: install Debian's chromium and chromium-driver (or set TRIBUTARY_SKIP_BROWSER=1)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver { child, port })
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    let profile = tempfile::tempdir().unwrap().keep();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1280,900"
            ]
        }
    });
    let caps = caps.as_object().unwrap().clone().into_iter().collect();
    // Plain HTTP to the local driver: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver")
}

#[actix_web::test]
async fn log_in_and_switch_between_master_and_children() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    app.create_child(&token, "Shopify store").await;
    let second = app.create_child(&token, "Wholesale IMS").await;
    let master_id = second["master_id"].as_str().unwrap().to_string();
    let c = browser(&driver).await;

    c.goto(&app.url("/accounts")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/login"));
    log_in(&c, &app).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/accounts");

    let options = c
        .find_all(Locator::Css("#account-select option[data-kind]"))
        .await
        .unwrap();
    let mut labels = Vec::new();
    for o in &options {
        labels.push(o.text().await.unwrap());
    }
    assert_eq!(
        labels,
        vec!["All accounts", "— Shopify store", "— Wholesale IMS"]
    );

    // Choosing the master in the switcher opens its page, which lists both children.
    c.find(Locator::Css("#account-select"))
        .await
        .unwrap()
        .select_by_value(&master_id)
        .await
        .unwrap();
    c.wait()
        .for_url(&url::Url::parse(&app.url(&format!("/accounts/{master_id}"))).unwrap())
        .await
        .unwrap();
    let children = c
        .find_all(Locator::Css("#children tbody tr"))
        .await
        .unwrap();
    assert_eq!(children.len(), 2);
    let selected = c
        .find(Locator::Css("#account-select option:checked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(selected, "All accounts");
    // With the keyboard, an arrow key moves the choice without leaving the
    // page; Enter opens it.
    let here = c.current_url().await.unwrap();
    let select = c.find(Locator::Css("#account-select")).await.unwrap();
    select.send_keys("\u{E015}").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        c.current_url().await.unwrap(),
        here,
        "an arrow key navigated"
    );
    select.send_keys("\u{E007}").await.unwrap();
    for _ in 0..50 {
        if c.current_url().await.unwrap() != here {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(
        c.current_url().await.unwrap(),
        here,
        "Enter opens the account"
    );
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("tributary-switcher.png"), png);
    }
    c.close().await.unwrap();
}

/// Fills and submits the login form (from wherever the browser is, or the
/// login page) and waits for the accounts page.
pub(crate) async fn log_in(c: &Client, app: &TestApp) {
    if !c.current_url().await.unwrap().path().starts_with("/login") {
        c.goto(&app.url("/login")).await.unwrap();
    }
    c.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("admin@acme.example")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("correct horse")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Every page after login carries the account switcher.
    c.wait()
        .for_element(Locator::Css("#account-select"))
        .await
        .unwrap();
}

/// Clicks what `locator` finds and waits until the browser has left the
/// current URL: reading the page straight after a click that navigates can
/// meet the old document's elements as they are detached.
pub(crate) async fn click_to_navigate(c: &Client, locator: Locator<'_>) {
    let before = c.current_url().await.unwrap();
    c.find(locator).await.unwrap().click().await.unwrap();
    for _ in 0..200 {
        if c.current_url().await.unwrap() != before {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the click did not leave {before}");
}

/// Chooses a file in an entity's upload form and submits it.
async fn upload(c: &Client, entity: &str, file: &std::path::Path) {
    let form = c
        .find(Locator::Css(&format!("form[data-entity={entity}]")))
        .await
        .unwrap();
    let input = form.find(Locator::Css("input[type=file]")).await.unwrap();
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    form.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[actix_web::test]
async fn upload_a_csv_on_the_imports_page_and_see_row_errors() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Shopify store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("warehouses.csv");
    std::fs::write(&good, "id,name\nW1,Main\nW2,\"Store, Berlin\"\n").unwrap();
    let bad = dir.path().join("variants.csv");
    std::fs::write(&bad, "id,sku,colour\nV1,SKU-1,red\n").unwrap();
    let c = browser(&driver).await;
    log_in(&c, &app).await;

    c.goto(&app.url(&format!("/accounts/{id}/imports")))
        .await
        .unwrap();
    upload(&c, "warehouses", &good).await;
    let outcome = c
        .wait()
        .for_element(Locator::Css("#import-outcome .ok"))
        .await
        .unwrap();
    assert!(
        outcome.text().await.unwrap().contains("2 created"),
        "{}",
        outcome.text().await.unwrap()
    );

    upload(&c, "variants", &bad).await;
    let row = c
        .wait()
        .for_element(Locator::Css("#import-errors tbody tr"))
        .await
        .unwrap();
    let cells = row.find_all(Locator::Css("td")).await.unwrap();
    assert_eq!(cells[0].text().await.unwrap(), "1");
    assert_eq!(cells[1].text().await.unwrap(), "colour");
    let log = c
        .find_all(Locator::Css("#import-log tbody tr"))
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    c.close().await.unwrap();
}
