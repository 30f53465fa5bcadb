//! Real data through the whole path: ten months of a UK gift wholesaler's
//! invoice lines (`tests/data/online_retail_lines_to_2011-09-30.csv.gz`:
//! cancellations as `C…` invoices with negative quantities, stock codes that
//! differ only in case such as `72802a`/`72802A`, descriptions with commas)
//! become the sales of two children — United Kingdom, and every other
//! country — imported as CSV files. The master must hold one row per
//! normalised code, its demand the two children's combined sales, the case
//! pairs merged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use serde_json::Value;

use crate::TestApp;

struct Child {
    variants: BTreeMap<String, String>,
    sales: Vec<[String; 6]>,
    line_no: HashMap<String, u32>,
    first_date: HashMap<String, String>,
    units: f64,
}

fn read_lines() -> (Child, Child) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/online_retail_lines_to_2011-09-30.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut uk = Child {
        variants: BTreeMap::new(),
        sales: Vec::new(),
        line_no: HashMap::new(),
        first_date: HashMap::new(),
        units: 0.0,
    };
    let mut rest = Child {
        variants: BTreeMap::new(),
        sales: Vec::new(),
        line_no: HashMap::new(),
        first_date: HashMap::new(),
        units: 0.0,
    };
    let mut r = csv::Reader::from_reader(text.as_bytes());
    for rec in r.records() {
        let rec = rec.unwrap();
        let (invoice, code, title, qty, date, price, country) = (
            &rec[0], &rec[1], &rec[2], &rec[3], &rec[4], &rec[5], &rec[7],
        );
        let child = if country == "United Kingdom" {
            &mut uk
        } else {
            &mut rest
        };
        child
            .variants
            .entry(code.to_string())
            .or_insert_with(|| title.to_string());
        // Rows of one invoice may differ by a minute; the order is placed
        // when its first row says.
        let first_date = child
            .first_date
            .entry(invoice.to_string())
            .or_insert_with(|| date.to_string())
            .clone();
        let n = child.line_no.entry(invoice.to_string()).or_insert(0);
        *n += 1;
        let price = if price.starts_with('-') { "" } else { price };
        child.units += qty.parse::<f64>().unwrap();
        child.sales.push([
            invoice.to_string(),
            format!("{}Z", first_date.replace(' ', "T")),
            n.to_string(),
            code.to_string(),
            qty.to_string(),
            price.to_string(),
        ]);
    }
    (uk, rest)
}

fn csv_of(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

async fn import(app: &TestApp, token: &str, account: &str, entity: &str, body: Vec<u8>) -> Value {
    let (s, b) = app
        .send_raw(
            "POST",
            &format!("/api/v1/accounts/{account}/imports/{entity}"),
            token,
            "text/csv",
            body,
        )
        .await;
    assert_eq!(s, 200, "{entity}: {b}");
    b
}

#[actix_web::test]
async fn a_real_wholesalers_invoices_roll_up_into_one_row_per_normalised_code() {
    let (uk, rest) = read_lines();
    let app = TestApp::spawn_with(|c| c.today = Some("2011-10-01".parse().unwrap())).await;
    let token = app.admin("Gifts").await;
    let uk_id = app.create_child(&token, "United Kingdom").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.create_child(&token, "Other countries").await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let master = other["master_id"].as_str().unwrap().to_string();
    for (id, child) in [(&uk_id, &uk), (&other_id, &rest)] {
        let variants = csv_of(
            &["id", "sku", "title"],
            child
                .variants
                .iter()
                .map(|(code, title)| vec![code.clone(), code.clone(), title.clone()]),
        );
        let b = import(&app, &token, id, "variants", variants).await;
        assert_eq!(
            b["created"].as_u64().unwrap() as usize,
            child.variants.len()
        );
        let sales = csv_of(
            &[
                "id",
                "ordered_at",
                "line_id",
                "variant_id",
                "quantity",
                "unit_price",
            ],
            child.sales.iter().map(|r| r.to_vec()),
        );
        let orders: HashSet<&str> = child.sales.iter().map(|r| r[0].as_str()).collect();
        let b = import(&app, &token, id, "sales-orders", sales).await;
        assert_eq!(b["created"].as_u64().unwrap() as usize, orders.len(), "{b}");
    }

    // The plan of ~7,700 variants takes a while in a debug build: wait for it.
    let started = std::time::Instant::now();
    loop {
        let (_, st) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{master}/plan-status"),
                Some(&token),
                None,
            )
            .await;
        if st["stale"] == false {
            break;
        }
        assert!(started.elapsed().as_secs() < 600, "no fresh plan: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // One master row per normalised code.
    let codes: HashSet<String> = uk
        .variants
        .keys()
        .chain(rest.variants.keys())
        .map(|c| tributary::domain::sku::normalise(c))
        .collect();
    let (s, page) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/order-plan?per_page=1"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["stale"], false);
    assert_eq!(page["total"].as_u64().unwrap() as usize, codes.len());

    // A case pair is one row whose sales are both spellings' together.
    let pair: Vec<&String> = uk
        .variants
        .keys()
        .filter(|c| tributary::domain::sku::normalise(c) == "72802a")
        .collect();
    assert_eq!(pair.len(), 2, "the data holds 72802a and 72802A: {pair:?}");
    let (s, ex) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/order-plan/72802A"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{ex}");
    let sold: f64 = uk
        .sales
        .iter()
        .chain(rest.sales.iter())
        .filter(|r| tributary::domain::sku::normalise(&r[3]) == "72802a")
        .map(|r| r[4].parse::<f64>().unwrap())
        .sum();
    let counted: f64 = ex["explanation"]["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sales_counted"].as_f64().unwrap())
        .sum();
    assert_eq!(counted, sold);

    // The master's demand is the two children's combined sales, row by row.
    let db = app.state.db.clone();
    let m = master.clone();
    let lines = actix_web::web::block(move || {
        let mut conn = db.conn().unwrap();
        tributary::db::models::planning::details(&mut conn, &m).unwrap()
    })
    .await
    .unwrap();
    let mut total = 0.0;
    for d in lines.values() {
        let e: Value = serde_json::from_str(&d.explanation).unwrap();
        for c in e["contributions"].as_array().unwrap() {
            total += c["sales_counted"].as_f64().unwrap();
        }
    }
    assert!(
        (total - (uk.units + rest.units)).abs() < 1e-6,
        "{total} vs {}",
        uk.units + rest.units
    );

    // The demand page rolls up as the plan does: `15056bl` and `15056BL`,
    // both sold by the United Kingdom child, are one row whose history and
    // sale lines hold both spellings' sales, and whose forecast method is
    // the plan's.
    let both = |r: &&[String; 6]| tributary::domain::sku::normalise(&r[3]) == "15056bl";
    let lines: Vec<&[String; 6]> = uk
        .sales
        .iter()
        .chain(rest.sales.iter())
        .filter(both)
        .collect();
    let spellings: HashSet<&str> = lines.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(spellings.len(), 2, "{spellings:?}");
    let units: f64 = lines.iter().map(|r| r[4].parse::<f64>().unwrap()).sum();
    let (s, demand) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/demand/15056BL?period=month"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{demand}");
    assert_eq!(
        demand["sales_total"].as_u64().unwrap() as usize,
        lines.len()
    );
    let history: f64 = demand["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["quantity"].as_f64().unwrap())
        .sum();
    assert!((history - units).abs() < 1e-6, "{history} vs {units}");
    let (s, ex) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{master}/order-plan/15056BL"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{ex}");
    let counted: f64 = ex["explanation"]["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sales_counted"].as_f64().unwrap())
        .sum();
    assert!((counted - units).abs() < 1e-6, "{counted} vs {units}");
    assert_eq!(demand["method"], ex["row"]["forecast_method"]);
}
