//! The order-plan page in a real headless Chromium: totals, the master's
//! rows expanding into each child's amounts, sorting, filtering, the
//! explanation, CSV export, the switcher keeping the view, and user data
//! shown as text.

use fantoccini::Locator;
use serde_json::json;

use crate::browser::{browser, log_in, start_driver};
use crate::plans::{put, two_children};

#[actix_web::test]
async fn order_plan_page_sorts_filters_expands_explains_and_exports() {
    let Some(driver) = start_driver() else { return };
    let org = two_children().await;
    put(
        &org.app,
        &org.token,
        &org.shop,
        "variants",
        json!([{"id": "X", "sku": "<script>alert(1)</script>", "title": "Mug <b>bold</b>", "category": "Kitchen"},
               {"id": "Y", "sku": "AAA-1", "title": "Plate", "category": "Kitchen"}]),
    )
    .await;
    let c = browser(&driver).await;
    log_in(&c, &org.app).await;
    let page = org.app.url(&format!("/accounts/{}/order-plan", org.master));
    c.goto(&page).await.unwrap();
    let rows = c
        .find_all(Locator::Css("#order-plan > tbody > tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    // Default sort: most urgent first — the red T-shirt must be ordered soon.
    assert_eq!(
        rows[0].attr("data-sku").await.unwrap().as_deref(),
        Some("TS-RED-M")
    );
    let now = c
        .find(Locator::Css("[data-testid=soon-units]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(now, "87");
    // User data is text, never markup.
    let body = c.source().await.unwrap();
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<b>bold</b>"));

    // A master row expands into each child's own amounts.
    let first = &rows[0];
    first
        .find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let sub = first
        .find_all(Locator::Css("details table.sub tbody tr"))
        .await
        .unwrap();
    assert_eq!(sub.len(), 2);
    let cells = sub[1].find_all(Locator::Css("td")).await.unwrap();
    assert_eq!(cells[0].text().await.unwrap(), "Wholesale");
    assert_eq!(cells[1].text().await.unwrap(), "15");
    assert_eq!(cells[4].text().await.unwrap(), "29");

    // Sort by SKU (click the header), then descending.
    crate::browser::click_to_navigate(&c, Locator::Css("th a[data-sort=sku]")).await;
    let skus = plan_skus(&c).await;
    assert_eq!(skus, ["<script>alert(1)</script>", "AAA-1", "TS-RED-M"]);
    crate::browser::click_to_navigate(&c, Locator::Css("th a[data-sort=sku]")).await;
    assert_eq!(plan_skus(&c).await[0], "TS-RED-M");

    // Filter: search and category.
    let q = c.find(Locator::Css("#filter-q")).await.unwrap();
    q.send_keys("aaa").await.unwrap();
    crate::browser::click_to_navigate(&c, Locator::Css("#plan-filters button")).await;
    assert_eq!(plan_skus(&c).await, ["AAA-1"]);
    c.goto(&format!("{page}?category=Kitchen")).await.unwrap();
    assert_eq!(plan_skus(&c).await.len(), 2);

    // CSV export of what is shown.
    let href = c
        .find(Locator::Css("#export-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = c
        .execute(
            "return fetch(arguments[0]).then(r => r.text());",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("sku,title,vendor"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        3,
        "header + the two Kitchen rows: {csv}"
    );

    // The explanation of a row.
    c.goto(&page).await.unwrap();
    c.find(Locator::Css("tr[data-sku=TS-RED-M] a.explain"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let qty = c
        .wait()
        .for_element(Locator::Css("#order-quantity"))
        .await
        .unwrap();
    assert_eq!(qty.text().await.unwrap(), "87");
    let contributions = c
        .find_all(Locator::Css("#explain-contributions tbody tr"))
        .await
        .unwrap();
    assert_eq!(contributions.len(), 2);
    assert!(!c
        .find_all(Locator::Css("#explain-steps tbody tr"))
        .await
        .unwrap()
        .is_empty());

    // The switcher keeps the view: the master's order plan → the shop's.
    c.goto(&page).await.unwrap();
    c.find(Locator::Css("#account-select"))
        .await
        .unwrap()
        .select_by_value(&org.shop)
        .await
        .unwrap();
    c.wait()
        .for_url(
            &url::Url::parse(&org.app.url(&format!("/accounts/{}/order-plan", org.shop))).unwrap(),
        )
        .await
        .unwrap();
    let order = c
        .find(Locator::Css("tr[data-sku=TS-RED-M] td.order"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(order, "58");
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("tributary-order-plan.png"), png);
    }
    c.close().await.unwrap();
}

async fn plan_skus(c: &fantoccini::Client) -> Vec<String> {
    let mut out = Vec::new();
    for r in c
        .find_all(Locator::Css("#order-plan > tbody > tr"))
        .await
        .unwrap()
    {
        out.push(r.attr("data-sku").await.unwrap().unwrap_or_default());
    }
    out
}

/// The first morning, in a browser: log in and land on the master's order
/// plan; filter by vendor and see the totals follow; open a flagged row's
/// explanation, go to its demand page and back; import a shipped template
/// and a sales file that names a SKU and a warehouse instead of their ids.
#[actix_web::test]
async fn the_first_morning_from_login_to_import() {
    let Some(driver) = start_driver() else { return };
    let org = two_children().await;
    let (shop, master) = (org.shop.clone(), org.master.clone());
    put(
        &org.app,
        &org.token,
        &shop,
        "vendors",
        json!([{"id": "GLOBEX", "name": "Globex Lamps"}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &shop,
        "variants",
        json!([{"id": "V2", "sku": "LAMP-1", "title": "Desk lamp", "vendor_id": "GLOBEX", "cost_price": "10"}]),
    )
    .await;
    put(
        &org.app,
        &org.token,
        &shop,
        "sales-orders",
        crate::plans::daily_sales("SL", "V2", 1, "W1"),
    )
    .await;
    let (s, b) = org
        .app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{master}/sku-settings"),
            Some(&org.token),
            Some(json!([{"sku": "LAMP-1", "not_for_reorder": true, "note": "Range ends"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let c = browser(&driver).await;
    log_in(&c, &org.app).await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/accounts/{master}/order-plan"),
        "login lands on the master's order plan"
    );
    let soon = |c: &fantoccini::Client| {
        let c = c.clone();
        async move {
            c.find(Locator::Css("[data-testid=soon-units]"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        soon(&c).await,
        "87",
        "only the T-shirt is ordered (the lamp is held)"
    );
    c.find(Locator::Css("#filter-vendor"))
        .await
        .unwrap()
        .select_by_value("Globex Lamps")
        .await
        .unwrap();
    crate::browser::click_to_navigate(&c, Locator::Css("#plan-filters button[type=submit]")).await;
    assert_eq!(soon(&c).await, "0", "the totals follow the vendor filter");
    c.find(Locator::Css("#totals-scope")).await.unwrap();
    // The held lamp's row is flagged; its explanation says so.
    let row = c
        .find(Locator::Css("#order-plan > tbody > tr[data-sku=LAMP-1]"))
        .await
        .unwrap();
    assert!(row.text().await.unwrap().contains("not for reorder"));
    crate::browser::click_to_navigate(
        &c,
        Locator::Css("#order-plan > tbody > tr[data-sku=LAMP-1] a.explain"),
    )
    .await;
    let body = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("Marked not for reorder: Range ends"),
        "{body}"
    );
    crate::browser::click_to_navigate(&c, Locator::Css("#to-demand")).await;
    assert!(c.current_url().await.unwrap().path().contains("/demand/"));
    crate::browser::click_to_navigate(&c, Locator::Css("#to-plan-line")).await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/order-plan/lamp-1"));
    // Imports: a shipped template as it is, and sales naming SKU and warehouse.
    let dir = tempfile::tempdir().unwrap();
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/templates/warehouses.csv");
    let sales = dir.path().join("sales.csv");
    std::fs::write(
        &sales,
        "id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price\nWEB-1,2026-02-27T10:00:00Z,main,EUR,1,lamp-1,2,25.00\n",
    )
    .unwrap();
    c.goto(&org.app.url(&format!("/accounts/{shop}/imports")))
        .await
        .unwrap();
    for (entity, file) in [("warehouses", &template), ("sales-orders", &sales)] {
        let form = c
            .find(Locator::Css(&format!("form[data-entity={entity}]")))
            .await
            .unwrap();
        form.find(Locator::Css("input[type=file]"))
            .await
            .unwrap()
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        form.find(Locator::Css("button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let outcome = c
            .wait()
            .for_element(Locator::Css("#import-outcome .ok"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(outcome.contains("1 created"), "{entity}: {outcome}");
        c.goto(&org.app.url(&format!("/accounts/{shop}/imports")))
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}
