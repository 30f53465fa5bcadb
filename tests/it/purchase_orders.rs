//! Acting on the plan: `POST /api/v1/accounts/{id}/purchase-orders/from-plan`,
//! `GET/PATCH /api/v1/purchase-orders/{po_id}`, confirm, receive, cancel and
//! history. Numbers are worked by hand: demand is constant (so the safety
//! stock is 0), the planning date is 2026-03-01 and the coverage window is
//! the lead time plus 30 days of stock.
//!
//! The shop (a manual account, EUR) sells:
//! - TS-RED (vendor ACME: USD, lead time 10 days, packs of 12; cost 4):
//!   2 a day, 10 in stock → coverage 2 × 40 = 80, need 70, ordered 72
//!   (6 packs); 5 days of cover < 10 days of lead time: `now`.
//! - MUG (vendor BOLT: no currency, no lead time → the account's EUR and
//!   14 days; cost 2.5): 1 a day, 10 in stock → 44 − 10 = 34; `now`.
//! - HAT (ACME, cost 3): 1 a day, 12 in stock → 40 − 12 = 28 → 36 (3 packs).
//! - CAP (ACME): 1 a day, 100 in stock → nothing to order.

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::plans::put;
use crate::TestApp;

const TODAY: &str = "2026-03-01";

fn daily_sales(variants: &[(&str, u32)]) -> Value {
    let orders: Vec<Value> = (1..=28)
        .map(|d| {
            let lines: Vec<Value> = variants
                .iter()
                .enumerate()
                .map(|(i, (v, q))| json!({"id": format!("{}", i + 1), "variant_id": v, "quantity": q, "unit_price": "10"}))
                .collect();
            json!({
                "id": format!("SO-{d}"),
                "ordered_at": format!("2026-02-{d:02}T12:00:00Z"),
                "warehouse_id": "W1",
                "lines": lines,
            })
        })
        .collect();
    Value::Array(orders)
}

pub(crate) struct Shop {
    pub(crate) app: TestApp,
    pub(crate) token: String,
    pub(crate) shop: String,
}

pub(crate) async fn shop() -> Shop {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let shop = app.create_child(&token, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &app,
        &token,
        &shop,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}, {"id": "W2", "name": "Back"}]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "vendors",
        json!([
            {"id": "ACME", "name": "Acme Textiles", "currency": "USD", "lead_time_days": 10, "pack_size": "12"},
            {"id": "BOLT", "name": "Bolt Ceramics"}
        ]),
    )
    .await;
    put(
        &app,
        &token,
        &shop,
        "variants",
        json!([
            {"id": "V1", "sku": "TS-RED", "title": "T-shirt red", "vendor_id": "ACME", "cost_price": "4"},
            {"id": "V2", "sku": "MUG", "title": "Mug", "vendor_id": "BOLT", "cost_price": "2.5"},
            {"id": "V3", "sku": "HAT", "title": "Hat", "vendor_id": "ACME", "cost_price": "3"},
            {"id": "V4", "sku": "CAP", "title": "Cap", "vendor_id": "ACME", "cost_price": "3"}
        ]),
    )
    .await;
    let stock: Vec<Value> = [("V1", 10), ("V2", 10), ("V3", 12), ("V4", 100)]
        .iter()
        .map(|(v, q)| json!({"variant_id": v, "warehouse_id": "W1", "on_hand": q, "updated_at": "2026-01-01T00:00:00Z"}))
        .collect();
    put(&app, &token, &shop, "stock", Value::Array(stock)).await;
    put(
        &app,
        &token,
        &shop,
        "sales-orders",
        daily_sales(&[("V1", 2), ("V2", 1), ("V3", 1), ("V4", 1)]),
    )
    .await;
    Shop { app, token, shop }
}

impl Shop {
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app
            .call(method, &format!("/api/v1{path}"), Some(&self.token), body)
            .await
    }

    /// The plan row of a SKU (the read waits for a fresh plan).
    pub(crate) async fn row(&self, account: &str, sku: &str) -> Value {
        let (s, b) = self
            .call(
                "GET",
                &format!("/accounts/{account}/order-plan?per_page=100"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["stale"], false, "{b}");
        b["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["sku"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(sku))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no row {sku} in {b}"))
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn line<'a>(order: &'a Value, sku: &str) -> &'a Value {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == sku)
        .unwrap_or_else(|| panic!("no line {sku} in {order}"))
}

fn field_of(body: &Value) -> &str {
    body["error"]["details"][0]["field"].as_str().unwrap_or("")
}

#[actix_web::test]
async fn drafts_from_the_plan_one_per_vendor_with_pack_rounding_and_vendor_currency() {
    let t = shop().await;
    let red = t.row(&t.shop, "TS-RED").await;
    assert_eq!(num(&red["order_quantity"]), 72.0, "{red}");
    assert_eq!(red["urgency"], "now");
    assert_eq!(num(&t.row(&t.shop, "MUG").await["order_quantity"]), 34.0);
    let hat = t.row(&t.shop, "HAT").await;
    assert_eq!(num(&hat["order_quantity"]), 36.0, "{hat}");
    assert_ne!(hat["urgency"], "now", "{hat}");

    let (s, b) = t
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", t.shop),
            Some(json!({"urgency": "now"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let drafts = b.as_array().unwrap();
    assert_eq!(drafts.len(), 2, "one per vendor: {b}");
    let acme = drafts.iter().find(|d| d["vendor_id"] == "ACME").unwrap();
    assert_eq!(acme["status"], "draft");
    assert_eq!(acme["kind"], "purchase");
    assert_eq!(acme["account_id"], t.shop.as_str());
    assert_eq!(acme["currency"], "USD", "the vendor's currency");
    assert_eq!(acme["ordered_at"], TODAY);
    assert_eq!(acme["expected_at"], "2026-03-11", "order date + 10 days");
    assert_eq!(
        acme["destination_warehouse_id"], "W1",
        "the first warehouse"
    );
    assert_eq!(
        acme["lines"].as_array().unwrap().len(),
        1,
        "HAT is not urgent"
    );
    let l = line(acme, "TS-RED");
    assert_eq!(num(&l["quantity"]), 72.0, "70 rounded up to 6 packs of 12");
    assert_eq!(num(&l["received"]), 0.0);
    assert_eq!(num(&l["open"]), 72.0);
    assert_eq!(num(&l["unit_cost"]), 4.0);
    assert_eq!(acme["push"]["state"], "not_pushed");
    let bolt = drafts.iter().find(|d| d["vendor_id"] == "BOLT").unwrap();
    assert_eq!(bolt["currency"], "EUR", "no vendor currency: the account's");
    assert_eq!(bolt["expected_at"], "2026-03-15", "the account's 14 days");
    assert_eq!(num(&line(bolt, "MUG")["quantity"]), 34.0);
    assert_eq!(num(&line(bolt, "MUG")["unit_cost"]), 2.5);

    // Drafts are counted nowhere: the plan still recommends the same.
    assert_eq!(num(&t.row(&t.shop, "TS-RED").await["order_quantity"]), 72.0);
    assert_eq!(num(&t.row(&t.shop, "TS-RED").await["on_order"]), 0.0);

    // Chosen rows with the merchant's quantity replacing the recommendation
    // (not rounded), into another warehouse; CAP has nothing to order.
    let (s, b) = t
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", t.shop),
            Some(json!({"skus": ["ts-red", "hat", "CAP"], "lines": [{"sku": "TS-RED", "quantity": "50"}], "destination_warehouse_id": "W2"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let drafts = b.as_array().unwrap();
    assert_eq!(drafts.len(), 1, "TS-RED and HAT are both ACME: {b}");
    assert_eq!(drafts[0]["destination_warehouse_id"], "W2");
    assert_eq!(drafts[0]["lines"].as_array().unwrap().len(), 2);
    assert_eq!(num(&line(&drafts[0], "TS-RED")["quantity"]), 50.0);
    assert_eq!(num(&line(&drafts[0], "HAT")["quantity"]), 36.0);

    // Listing: the ACME drafts of both calls.
    let (s, b) = t
        .call(
            "GET",
            &format!(
                "/accounts/{}/purchase-orders?status=draft&vendor_id=ACME",
                t.shop
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 2, "{b}");
}

#[actix_web::test]
async fn confirm_puts_it_on_order_at_once_and_receipts_reduce_the_open_quantity() {
    let t = shop().await;
    let (s, b) = t
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", t.shop),
            Some(json!({"skus": ["TS-RED"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b[0]["id"].as_str().unwrap().to_string();
    let line_id = b[0]["lines"][0]["id"].as_str().unwrap().to_string();

    // Edit the draft's quantity: 72 → 84.
    let (s, b) = t
        .call(
            "PATCH",
            &format!("/purchase-orders/{id}"),
            Some(json!({"lines": [{"id": line_id, "quantity": 84}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(num(&b["lines"][0]["quantity"]), 84.0);

    let started = std::time::Instant::now();
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "active");
    // The very next plan read: 84 on order, nothing more to order (80 − 10 − 84 < 0).
    let row = t.row(&t.shop, "TS-RED").await;
    let took = started.elapsed();
    eprintln!("confirm → the next plan read shows it on order: {took:?}");
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
    assert_eq!(num(&row["on_order"]), 84.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 0.0, "{row}");

    // Once active, the lines cannot change.
    let (s, b) = t
        .call(
            "PATCH",
            &format!("/purchase-orders/{id}"),
            Some(json!({"lines": [{"id": line_id, "quantity": 1}]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");

    // Receive 30: 54 open; the manual account's stock goes 10 → 40.
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{id}/receive"),
            Some(json!({"lines": [{"line_id": line_id, "quantity": 30}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "active");
    assert_eq!(num(&b["lines"][0]["received"]), 30.0);
    assert_eq!(num(&b["lines"][0]["open"]), 54.0);
    let row = t.row(&t.shop, "TS-RED").await;
    assert_eq!(
        num(&row["on_order"]),
        54.0,
        "on order = the open quantity: {row}"
    );
    assert_eq!(num(&row["available"]), 40.0, "10 + 30 received: {row}");

    // More than the open quantity: 422 naming the field, nothing received.
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{id}/receive"),
            Some(json!({"lines": [{"line_id": line_id, "quantity": 55}]})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(field_of(&b), "lines[1].quantity");
    // The rest closes the order; closed, it counts nowhere.
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{id}/receive"),
            Some(json!({"lines": [{"line_id": line_id, "quantity": "54"}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "closed");
    let row = t.row(&t.shop, "TS-RED").await;
    assert_eq!(num(&row["on_order"]), 0.0);
    assert_eq!(num(&row["available"]), 94.0, "10 + 84");

    // Who did what, when.
    let (s, h) = t
        .call("GET", &format!("/purchase-orders/{id}/history"), None)
        .await;
    assert_eq!(s, 200, "{h}");
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "edited", "confirmed", "received", "received"]
    );
    assert_eq!(h[0]["actor"], "admin@acme.example");
    assert_eq!(num(&h[1]["detail"]["lines"][0]["quantity"]["from"]), 72.0);
    assert_eq!(num(&h[1]["detail"]["lines"][0]["quantity"]["to"]), 84.0);
}

#[actix_web::test]
async fn a_cancelled_line_and_a_cancelled_order_leave_the_plan() {
    let t = shop().await;
    let (s, b) = t
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", t.shop),
            Some(json!({"skus": ["TS-RED", "HAT"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let order = &b[0];
    let id = order["id"].as_str().unwrap().to_string();
    let hat = line(order, "HAT")["id"].as_str().unwrap().to_string();
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(num(&t.row(&t.shop, "HAT").await["on_order"]), 36.0);
    assert_eq!(num(&t.row(&t.shop, "HAT").await["order_quantity"]), 0.0);

    // Cancel HAT's open line and move the expected date.
    let (s, b) = t
        .call(
            "PATCH",
            &format!("/purchase-orders/{id}"),
            Some(json!({"cancel_lines": [hat], "expected_at": "2026-03-09"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "active", "TS-RED is still open");
    assert_eq!(b["expected_at"], "2026-03-09");
    let l = line(&b, "HAT");
    assert_eq!(l["cancelled"], true);
    assert_eq!(num(&l["open"]), 0.0);
    let row = t.row(&t.shop, "HAT").await;
    assert_eq!(num(&row["on_order"]), 0.0, "{row}");
    assert_eq!(
        num(&row["order_quantity"]),
        36.0,
        "recommended again: {row}"
    );
    assert_eq!(num(&t.row(&t.shop, "TS-RED").await["on_order"]), 72.0);

    // Cancel the order: nothing on order; a cancelled order cannot be confirmed.
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{id}/cancel"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "cancelled");
    assert_eq!(num(&t.row(&t.shop, "TS-RED").await["on_order"]), 0.0);
    assert_eq!(num(&t.row(&t.shop, "TS-RED").await["order_quantity"]), 72.0);
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 409, "{b}");
    assert_error(&b, "order_cancelled");
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{id}/receive"),
            Some(json!({"lines": [{"line_id": "1", "quantity": 1}]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
}

#[actix_web::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let t = shop().await;
    let from_plan = format!("/accounts/{}/purchase-orders/from-plan", t.shop);
    for (body, field) in [
        (
            json!({"lines": [{"sku": "TS-RED", "quantity": -1}]}),
            "lines[1].quantity",
        ),
        (
            json!({"lines": [{"sku": "TS-RED", "quantity": 2.5}]}),
            "lines[1].quantity",
        ),
        (
            json!({"lines": [{"sku": "TS-RED", "quantity": "lots"}]}),
            "lines[1].quantity",
        ),
        (
            json!({"lines": [{"sku": "NOPE", "quantity": 1}]}),
            "lines[1].sku",
        ),
        (json!({"skus": ["TS-RED", "NOPE"]}), "skus[2]"),
        (json!({"urgency": "later"}), "urgency"),
    ] {
        let (s, b) = t.call("POST", &from_plan, Some(body.clone())).await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(field_of(&b), field, "{body}: {b}");
    }
    let (s, b) = t
        .call(
            "POST",
            &from_plan,
            Some(json!({"urgency": "now", "colour": "red"})),
        )
        .await;
    assert_eq!(s, 422, "an unknown field: {b}");
    let (s, b) = t
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders", t.shop),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 0, "nothing written: {b}");

    // Another organisation's warehouse and vendor are 404.
    let other_token = t.app.admin("Other").await;
    let other = t.app.create_child(&other_token, "Elsewhere").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &t.app,
        &other_token,
        &other,
        "warehouses",
        json!([{"id": "OW", "name": "Theirs"}]),
    )
    .await;
    put(
        &t.app,
        &other_token,
        &other,
        "vendors",
        json!([{"id": "OV", "name": "Theirs"}]),
    )
    .await;
    let (s, b) = t
        .call(
            "POST",
            &from_plan,
            Some(json!({"urgency": "now", "destination_warehouse_id": "OW"})),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = t
        .call(
            "POST",
            &from_plan,
            Some(json!({"urgency": "now", "destination_account_id": other})),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = t
        .call("POST", &from_plan, Some(json!({"skus": ["MUG"]})))
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b[0]["id"].as_str().unwrap().to_string();
    for patch in [
        json!({"vendor_id": "OV"}),
        json!({"destination_warehouse_id": "OW"}),
    ] {
        let (s, b) = t
            .call(
                "PATCH",
                &format!("/purchase-orders/{id}"),
                Some(patch.clone()),
            )
            .await;
        assert_eq!(s, 404, "{patch}: {b}");
    }
    for (patch, field) in [
        (
            json!({"lines": [{"id": "1", "quantity": -3}]}),
            "lines[1].quantity",
        ),
        (
            json!({"lines": [{"id": "1", "quantity": 1.5}]}),
            "lines[1].quantity",
        ),
        (
            json!({"lines": [{"id": "9", "quantity": 1}]}),
            "lines[1].id",
        ),
        (
            json!({"lines": [{"sku": "NOPE", "quantity": 1}]}),
            "lines[1].sku",
        ),
        (json!({"lines": [{"id": "1", "quantity": 0}]}), "lines"),
    ] {
        let (s, b) = t
            .call(
                "PATCH",
                &format!("/purchase-orders/{id}"),
                Some(patch.clone()),
            )
            .await;
        assert_eq!(s, 422, "{patch}: {b}");
        assert_eq!(field_of(&b), field, "{patch}: {b}");
    }
    // The other organisation cannot see the order.
    let (s, _) = t
        .app
        .call(
            "GET",
            &format!("/api/v1/purchase-orders/{id}"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    // A draft cannot be received; nothing changed on it.
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{id}/receive"),
            Some(json!({"lines": [{"line_id": "1", "quantity": 1}]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = t.call("GET", &format!("/purchase-orders/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(num(&b["lines"][0]["quantity"]), 34.0);
    assert_eq!(b["vendor_id"], "BOLT");
    // A receipt over the open quantity, and a fractional one.
    let (s, _) = t
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 200);
    for q in [json!(35), json!(0.5), json!(-1), json!(0)] {
        let (s, b) = t
            .call(
                "POST",
                &format!("/purchase-orders/{id}/receive"),
                Some(json!({"lines": [{"line_id": "1", "quantity": q}]})),
            )
            .await;
        assert_eq!(s, 422, "{q}: {b}");
        assert_eq!(field_of(&b), "lines[1].quantity");
    }
    let (s, b) = t.call("GET", &format!("/purchase-orders/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(num(&b["lines"][0]["received"]), 0.0);
}

#[actix_web::test]
async fn on_a_master_each_child_gets_its_share_or_one_child_all() {
    let org = crate::plans::two_children().await;
    let call = |m: &'static str, p: String, b: Option<Value>| {
        let app = &org.app;
        let token = org.token.clone();
        async move { app.call(m, &format!("/api/v1{p}"), Some(&token), b).await }
    };
    let (s, b) = call(
        "POST",
        format!("/accounts/{}/purchase-orders/from-plan", org.master),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let drafts = b.as_array().unwrap();
    assert_eq!(drafts.len(), 2, "one per child: {b}");
    let shop = drafts
        .iter()
        .find(|d| d["account_id"] == org.shop.as_str())
        .unwrap();
    let wholesale = drafts
        .iter()
        .find(|d| d["account_id"] == org.wholesale.as_str())
        .unwrap();
    assert_eq!(num(&shop["lines"][0]["quantity"]), 58.0, "88 − 30");
    assert_eq!(shop["lines"][0]["sku"], "TS-RED-M");
    assert_eq!(num(&wholesale["lines"][0]["quantity"]), 29.0, "44 − 15");
    assert_eq!(wholesale["lines"][0]["sku"], "ts-red-m");
    assert_eq!(shop["currency"], "EUR");
    assert_eq!(num(&shop["lines"][0]["unit_cost"]), 4.0);

    // The merchant's 90 split by the children's shares (58 : 29 → 60 : 30).
    let (s, b) = call(
        "POST",
        format!("/accounts/{}/purchase-orders/from-plan", org.master),
        Some(json!({"lines": [{"sku": "ts-red-m", "quantity": 90}]})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let q: Vec<f64> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|d| num(&d["lines"][0]["quantity"]))
        .collect();
    assert_eq!(q, [60.0, 30.0], "{b}");

    // Everything to one child: the master row's 87.
    let (s, b) = call(
        "POST",
        format!("/accounts/{}/purchase-orders/from-plan", org.master),
        Some(json!({"destination_account_id": org.shop})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 1);
    assert_eq!(num(&b[0]["lines"][0]["quantity"]), 87.0);
    let id = b[0]["id"].as_str().unwrap().to_string();
    let (s, b) = call("POST", format!("/purchase-orders/{id}/confirm"), None).await;
    assert_eq!(s, 200, "{b}");
    // The master's next read counts it: 87 on order, nothing to order.
    let (s, b) = call("GET", format!("/accounts/{}/order-plan", org.master), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["stale"], false);
    assert_eq!(num(&b["rows"][0]["on_order"]), 87.0, "{b}");
    assert_eq!(num(&b["rows"][0]["order_quantity"]), 0.0, "{b}");
    // The master lists its children's orders.
    let (s, b) = call(
        "GET",
        format!("/accounts/{}/purchase-orders?status=active", org.master),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 1);
    let (s, b) = call(
        "GET",
        format!("/accounts/{}/purchase-orders?status=open", org.master),
        None,
    )
    .await;
    assert_eq!(s, 422, "{b}");
}

/// Polls the page until `css` holds an element whose text (or value) is `want`.
async fn wait_for_text(c: &fantoccini::Client, css: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(e) = c.find(fantoccini::Locator::Css(css)).await {
            let text = e.text().await.unwrap_or_default();
            let value = e.prop("value").await.ok().flatten().unwrap_or_default();
            if text.trim() == want || value == want {
                return;
            }
            last = text;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{css} never read {want:?} (last {last:?})");
}

#[actix_web::test]
async fn from_the_order_plan_page_create_edit_confirm_and_receive_a_purchase_order() {
    use fantoccini::Locator;
    let Some(driver) = crate::browser::start_driver() else {
        return;
    };
    let t = shop().await;
    let c = crate::browser::browser(&driver).await;
    crate::browser::log_in(&c, &t.app).await;
    let plan_page = t.app.url(&format!("/accounts/{}/order-plan", t.shop));
    c.goto(&plan_page).await.unwrap();
    // The review step: the urgent rows ticked, HAT (not urgent) not.
    crate::browser::click_to_navigate(&c, Locator::Css("#create-purchase-orders")).await;
    let ticked = |sku: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(&format!(
                "#review tr[data-sku={sku}] input[type=checkbox]"
            )))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
        }
    };
    assert_eq!(ticked("TS-RED").await.as_deref(), Some("true"));
    assert_eq!(ticked("MUG").await.as_deref(), Some("true"));
    assert_eq!(ticked("HAT").await.as_deref(), Some("false"));
    // The merchant orders 40 mugs instead of 34.
    let mug = c
        .find(Locator::Css("#review tr[data-sku=MUG] input.qty"))
        .await
        .unwrap();
    mug.clear().await.unwrap();
    mug.send_keys("40").await.unwrap();
    crate::browser::click_to_navigate(&c, Locator::Css("#create-drafts")).await;
    let rows = c
        .find_all(Locator::Css("#purchase-orders tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one draft per vendor");
    let (s, b) = t
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders?vendor_id=BOLT", t.shop),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(num(&b[0]["lines"][0]["quantity"]), 40.0, "{b}");
    let acme = b.as_array().unwrap().len();
    assert_eq!(acme, 1);
    let (_, b) = t
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders?vendor_id=ACME", t.shop),
            None,
        )
        .await;
    let id = b[0]["id"].as_str().unwrap().to_string();

    // The order page: edit the quantity 72 → 84, confirm.
    crate::browser::click_to_navigate(
        &c,
        Locator::Css(&format!("#purchase-orders tr[data-order-id={id}] a")),
    )
    .await;
    let q = c.find(Locator::Css("input[name=qty_1]")).await.unwrap();
    assert_eq!(q.prop("value").await.unwrap().as_deref(), Some("72"));
    q.clear().await.unwrap();
    q.send_keys("84").await.unwrap();
    c.find(Locator::Css("#save-lines"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(
        &c,
        "#history tr[data-action=edited] td:nth-child(3)",
        "edited",
    )
    .await;
    wait_for_text(&c, "input[name=qty_1]", "84").await;
    c.find(Locator::Css("#confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, "#order-status", "active").await;

    // The plan row shows it on order at once, nothing left to order.
    c.goto(&plan_page).await.unwrap();
    let cells = c
        .find_all(Locator::Css("#order-plan tr[data-sku=TS-RED] td"))
        .await
        .unwrap();
    assert_eq!(cells[4].text().await.unwrap(), "84", "on order");
    assert_eq!(cells[8].text().await.unwrap(), "0", "order quantity");

    // Receive 30 of it: 54 still open.
    c.goto(&t.app.url(&format!("/purchase-orders/{id}")))
        .await
        .unwrap();
    c.find(Locator::Css("input[name=receive_1]"))
        .await
        .unwrap()
        .send_keys("30")
        .await
        .unwrap();
    c.find(Locator::Css("#receive"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, "#order-lines tr[data-line-id='1'] td.open", "54").await;
    wait_for_text(&c, "#order-lines tr[data-line-id='1'] td.received", "30").await;
    let receipts = c
        .find_all(Locator::Css("#receipts tbody tr"))
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1);
    // Over the open quantity: the error is shown, nothing received.
    c.find(Locator::Css("input[name=receive_1]"))
        .await
        .unwrap()
        .send_keys("55")
        .await
        .unwrap();
    c.find(Locator::Css("#receive"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#form-error"))
        .await
        .unwrap();
    wait_for_text(&c, "#order-lines tr[data-line-id='1'] td.open", "54").await;
    // The print view and the CSV.
    c.goto(&t.app.url(&format!("/purchase-orders/{id}/print")))
        .await
        .unwrap();
    let printed = c
        .find_all(Locator::Css("#print-lines tbody tr"))
        .await
        .unwrap();
    assert_eq!(printed.len(), 1);
    let csv = c
        .execute(
            "return fetch(arguments[0]).then(r => r.text());",
            vec![json!(format!("/purchase-orders/{id}/export.csv"))],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap();
    assert!(csv.contains(",TS-RED,84,30,54,4"), "{csv}");
    c.close().await.unwrap();
}

/// The two children of `plans::two_children` (the shop sells 2 a day and
/// holds 30; the wholesaler sells 1 a day) with the wholesaler now holding
/// 80 (5 allocated: 75 available). Its need is 44 (coverage 1 × 44, no
/// safety stock), so 31 is surplus; the shop needs 88 and holds 30, 58
/// short. The master, pooling, orders 132 − 105 = 27: exactly what is left
/// to buy once the 31 move.
#[actix_web::test]
async fn a_master_moves_surplus_to_a_short_child_before_buying() {
    let org = crate::plans::two_children().await;
    put(
        &org.app,
        &org.token,
        &org.wholesale,
        "stock",
        json!([{"variant_id": "V1", "warehouse_id": "W1", "on_hand": 80, "allocated": 5, "updated_at": "2026-01-02T00:00:00Z"}]),
    )
    .await;
    let t = Shop {
        app: org.app,
        token: org.token,
        shop: org.shop,
    };
    let (master, wholesale) = (org.master, org.wholesale);
    assert_eq!(
        num(&t.row(&master, "TS-RED-M").await["order_quantity"]),
        27.0
    );
    let (s, b) = t
        .call(
            "GET",
            &format!("/accounts/{master}/transfer-suggestions"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let list = b.as_array().unwrap();
    assert_eq!(list.len(), 1, "{b}");
    let sug = &list[0];
    assert_eq!(sug["sku"], "TS-RED-M");
    assert_eq!(sug["from_account_id"], wholesale.as_str());
    assert_eq!(sug["to_account_id"], t.shop.as_str());
    assert_eq!(num(&sug["quantity"]), 31.0, "75 available − 44 needed");
    assert_eq!(num(&sug["figures"]["from"]["need"]), 44.0);
    assert_eq!(num(&sug["figures"]["to"]["need"]), 88.0);
    assert_eq!(num(&sug["figures"]["shortfall"]), 58.0, "88 − 30");
    assert_eq!(num(&sug["figures"]["buy_after"]), 27.0, "58 − 31");
    // A suggestion changes no plan.
    assert_eq!(num(&t.row(&t.shop, "TS-RED-M").await["on_order"]), 0.0);

    // Bad items name the field; another organisation's account is 404.
    let accept = format!("/accounts/{master}/transfer-suggestions/accept");
    let item = |q: Value| json!({"items": [{"sku": "ts-red-m", "from_account_id": wholesale, "to_account_id": t.shop, "quantity": q}]});
    for q in [json!(2.5), json!(-1), json!(0)] {
        let (s, b) = t.call("POST", &accept, Some(item(q.clone()))).await;
        assert_eq!(s, 422, "{q}: {b}");
        assert_eq!(field_of(&b), "items[1].quantity");
    }
    let other_token = t.app.admin("Other").await;
    let other = t.app.create_child(&other_token, "Elsewhere").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = t
        .call(
            "POST",
            &accept,
            Some(json!({"items": [{"sku": "TS-RED-M", "from_account_id": other, "to_account_id": t.shop, "quantity": 1}]})),
        )
        .await;
    assert_eq!(s, 404, "{b}");

    // Accepted: a draft transfer, a half in each child.
    let (s, b) = t.call("POST", &accept, Some(item(json!(31)))).await;
    assert_eq!(s, 201, "{b}");
    let halves = b.as_array().unwrap();
    assert_eq!(halves.len(), 2);
    let out = &halves[0];
    let inn = &halves[1];
    assert_eq!(out["kind"], "transfer");
    assert_eq!(out["status"], "draft");
    assert_eq!(out["account_id"], wholesale.as_str());
    assert_eq!(out["source_warehouse_id"], "W1");
    assert_eq!(inn["account_id"], t.shop.as_str());
    assert_eq!(inn["destination_warehouse_id"], "W1");
    assert_eq!(inn["partner_order_id"], out["id"]);
    assert_eq!(num(&inn["lines"][0]["quantity"]), 31.0);
    let in_id = inn["id"].as_str().unwrap().to_string();
    let out_id = out["id"].as_str().unwrap().to_string();

    // Confirmed (either half confirms both): out of the wholesaler, on order
    // at the shop; each child and the master buy only the rest.
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{in_id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = t
        .call("GET", &format!("/purchase-orders/{out_id}"), None)
        .await;
    assert_eq!(b["status"], "active", "{b}");
    let shop = t.row(&t.shop, "TS-RED-M").await;
    assert_eq!(num(&shop["on_order"]), 31.0, "{shop}");
    assert_eq!(num(&shop["order_quantity"]), 27.0, "88 − 30 − 31: {shop}");
    let w = t.row(&wholesale, "TS-RED-M").await;
    assert_eq!(num(&w["available"]), 44.0, "75 − 31: {w}");
    assert_eq!(num(&w["order_quantity"]), 0.0, "{w}");
    let m = t.row(&master, "TS-RED-M").await;
    assert_eq!(num(&m["order_quantity"]), 27.0, "{m}");
    let (_, b) = t
        .call(
            "GET",
            &format!("/accounts/{master}/transfer-suggestions"),
            None,
        )
        .await;
    assert_eq!(b, json!([]), "no surplus left");

    // Received at the destination (not at the source): both close; the
    // stock moved on these manual accounts.
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{out_id}/receive"),
            Some(json!({"lines": [{"line_id": "1", "quantity": 31}]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = t
        .call(
            "POST",
            &format!("/purchase-orders/{in_id}/receive"),
            Some(json!({"lines": [{"line_id": "1", "quantity": 31}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "closed");
    let (_, b) = t
        .call("GET", &format!("/purchase-orders/{out_id}"), None)
        .await;
    assert_eq!(b["status"], "closed", "{b}");
    let shop = t.row(&t.shop, "TS-RED-M").await;
    assert_eq!(
        (num(&shop["available"]), num(&shop["on_order"])),
        (61.0, 0.0),
        "{shop}"
    );
    assert_eq!(num(&shop["order_quantity"]), 27.0);
    let w = t.row(&wholesale, "TS-RED-M").await;
    assert_eq!(num(&w["available"]), 44.0, "49 on hand − 5 allocated: {w}");
}

async fn job_done(app: &TestApp, token: &str, job: &str) -> Value {
    for _ in 0..900 {
        let (s, b) = app
            .call("GET", &format!("/api/v1/jobs/{job}"), Some(token), None)
            .await;
        assert_eq!(s, 200, "{b}");
        if !matches!(b["status"].as_str(), Some("queued" | "running")) {
            return b;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish");
}

async fn sync_now(app: &TestApp, token: &str, id: &str) {
    let (s, b) = app
        .call(
            "POST",
            &format!("/api/v1/accounts/{id}/sync"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let job = job_done(app, token, b["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

async fn key(app: &TestApp, token: &str, read_only: bool) -> String {
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(token),
            Some(json!({"name": "tributary", "read_only": read_only})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["key"].as_str().unwrap().to_string()
}

/// A second server (the source) holds the shop; this server pulls it over a
/// `tributary` connection, drafts an order from the plan and confirms it:
/// the push is refused by a read-only key (kept as `failed`, with its
/// error), then retried with a writable key; pushed twice and synced back,
/// it exists once on both sides and is on order once.
#[actix_web::test]
async fn a_confirmed_order_is_pushed_to_a_tributary_source_once_failed_pushes_are_retryable() {
    let source = shop().await;
    let read_only = key(&source.app, &source.token, true).await;
    let writable = key(&source.app, &source.token, false).await;

    let app = TestApp::spawn_with(|c| {
        c.today = Some(TODAY.parse().unwrap());
        c.sync.retry_seconds = 4;
        c.sync.timeout_seconds = 2;
    })
    .await;
    let token = app.admin("Puller").await;
    let connection = |k: &str| json!({"kind": "tributary", "base_url": source.app.addr, "account_id": source.shop, "api_key": k});
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/accounts",
            Some(&token),
            Some(
                json!({"name": "Remote", "currency": "EUR", "connection": connection(&read_only)}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let here = Shop {
        app,
        token,
        shop: b["id"].as_str().unwrap().to_string(),
    };
    sync_now(&here.app, &here.token, &here.shop).await;
    assert_eq!(
        num(&here.row(&here.shop, "TS-RED").await["order_quantity"]),
        72.0
    );
    let (s, b) = here
        .call(
            "POST",
            &format!("/accounts/{}/purchase-orders/from-plan", here.shop),
            Some(json!({"skus": ["TS-RED"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b[0]["id"].as_str().unwrap().to_string();
    let (s, b) = here
        .call("POST", &format!("/purchase-orders/{id}/push"), None)
        .await;
    assert_eq!(s, 409, "a draft is not pushed: {b}");

    // Confirmed: pushed at once, refused by the read-only key.
    let (s, b) = here
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "active");
    assert_eq!(b["push"]["state"], "failed", "{b}");
    assert!(
        b["push"]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{b}"
    );
    let (_, there) = source
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders", source.shop),
            None,
        )
        .await;
    assert_eq!(there, json!([]), "nothing written at the source");
    let (_, b) = here
        .call("GET", &format!("/purchase-orders/{id}"), None)
        .await;
    assert_eq!(b["push"]["state"], "failed", "kept on the order: {b}");

    // A writable key, and the push retried: the source has the order.
    let (s, b) = here
        .call(
            "PATCH",
            &format!("/accounts/{}", here.shop),
            Some(json!({"connection": connection(&writable)})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for _ in 0..2 {
        let (s, b) = here
            .call("POST", &format!("/purchase-orders/{id}/push"), None)
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["push"]["state"], "pushed", "{b}");
        assert!(b["push"]["pushed_at"].is_string());
    }
    let (_, there) = source
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders", source.shop),
            None,
        )
        .await;
    let there = there.as_array().unwrap();
    assert_eq!(there.len(), 1, "pushed twice, there once: {there:?}");
    assert_eq!(there[0]["id"], id.as_str());
    assert_eq!(there[0]["status"], "active");
    assert_eq!(num(&there[0]["lines"][0]["quantity"]), 72.0);
    assert_eq!(there[0]["currency"], "USD");
    assert_eq!(
        num(&source.row(&source.shop, "TS-RED").await["on_order"]),
        72.0
    );

    // The next sync brings it back as the same order: on order once.
    sync_now(&here.app, &here.token, &here.shop).await;
    let (_, mine) = here
        .call(
            "GET",
            &format!("/accounts/{}/purchase-orders", here.shop),
            None,
        )
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["push"]["state"], "pushed");
    let row = here.row(&here.shop, "TS-RED").await;
    assert_eq!(num(&row["on_order"]), 72.0, "{row}");
    assert_eq!(num(&row["order_quantity"]), 0.0, "{row}");
    let (_, h) = here
        .call("GET", &format!("/purchase-orders/{id}/history"), None)
        .await;
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "confirmed", "push_failed", "pushed", "pushed"]
    );
}

/// Shopify and WooCommerce have no purchase orders: a confirmed order on
/// such an account is `unsupported` (the page offers the CSV and print view).
#[actix_web::test]
async fn a_shop_without_purchase_orders_marks_the_push_unsupported() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let (s, b) = app
        .call("POST", "/api/v1/accounts", Some(&token), Some(json!({"name": "Shopify", "currency": "EUR", "connection": {"kind": "shopify", "shop": "acme.myshopify.com", "access_token": "shpat_x"}})))
        .await;
    assert_eq!(s, 201, "{b}");
    let acc = b["id"].as_str().unwrap().to_string();
    put(
        &app,
        &token,
        &acc,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "variants",
        json!([{"id": "V1", "sku": "MUG"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "stock-orders",
        json!([{"id": "PO-1", "kind": "purchase", "status": "active", "destination_warehouse_id": "W1",
                "lines": [{"id": "1", "variant_id": "V1", "quantity": 5}]}]),
    )
    .await;
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/purchase-orders/PO-1/push",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["push"]["state"], "unsupported", "{b}");
    assert_eq!(b["created_here"], false, "imported, only pushed here");
}

/// An assembly (a kit of 2 widgets) is made, not bought: from the plan it
/// becomes an assembly order (components out of the warehouse, kits into
/// it). Kits sell 1 a day and 10 are in stock: 44 − 10 = 34 to make.
/// Confirmed, the 34 kits are on order and their 68 widgets leave the
/// widgets' available stock (100 → 32).
#[actix_web::test]
async fn an_assembly_row_becomes_an_assembly_order_that_takes_its_components() {
    let app = TestApp::spawn_with(|c| c.today = Some(TODAY.parse().unwrap())).await;
    let token = app.admin("Acme").await;
    let acc = app.create_child(&token, "Workshop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put(
        &app,
        &token,
        &acc,
        "warehouses",
        json!([{"id": "W1", "name": "Main"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "variants",
        json!([{"id": "W", "sku": "WIDGET", "cost_price": "1"},
               {"id": "K", "sku": "KIT", "assembly": true, "components": [{"variant_id": "W", "quantity": 2}]}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "stock",
        json!([{"variant_id": "W", "warehouse_id": "W1", "on_hand": 100, "updated_at": "2026-01-01T00:00:00Z"},
               {"variant_id": "K", "warehouse_id": "W1", "on_hand": 10, "updated_at": "2026-01-01T00:00:00Z"}]),
    )
    .await;
    put(
        &app,
        &token,
        &acc,
        "sales-orders",
        daily_sales(&[("K", 1), ("W", 1)]),
    )
    .await;
    let t = Shop {
        app,
        token,
        shop: acc.clone(),
    };
    assert_eq!(num(&t.row(&acc, "KIT").await["order_quantity"]), 34.0);
    assert_eq!(num(&t.row(&acc, "WIDGET").await["available"]), 100.0);
    let (s, b) = t
        .call(
            "POST",
            &format!("/accounts/{acc}/purchase-orders/from-plan"),
            Some(json!({"skus": ["KIT"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 1);
    let order = &b[0];
    assert_eq!(order["kind"], "assembly", "{order}");
    assert_eq!(order["source_warehouse_id"], "W1");
    assert_eq!(order["destination_warehouse_id"], "W1");
    assert_eq!(order["vendor_id"], Value::Null);
    assert_eq!(num(&line(order, "KIT")["quantity"]), 34.0);
    let id = order["id"].as_str().unwrap().to_string();
    let (s, b) = t
        .call("POST", &format!("/purchase-orders/{id}/confirm"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    let kit = t.row(&acc, "KIT").await;
    assert_eq!(num(&kit["on_order"]), 34.0, "{kit}");
    assert_eq!(num(&kit["order_quantity"]), 0.0, "{kit}");
    let widget = t.row(&acc, "WIDGET").await;
    assert_eq!(num(&widget["available"]), 32.0, "100 − 34 × 2: {widget}");
}
