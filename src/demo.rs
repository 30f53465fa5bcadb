//! `tributary demo`: a seeded demo organisation so a newcomer sees a real
//! master with children (user `demo@example.com`, password `demo`).
//!
//! The three children (a Shopify store, a WooCommerce store and a wholesale
//! IMS) get overlapping catalogues, vendors, warehouses, two years of daily
//! sales (trend, yearly and weekly seasonality, intermittent items, returns,
//! stockouts), stock levels with their history, and purchase orders. All of
//! it is generated deterministically from a seed as CSV and loaded through
//! the same import path as an upload.
//!
//! A fourth child syncs over a real connection: a `tributary` feed of the
//! outlet store of a second organisation on the same server (read-only API
//! key scoped to that account), whose sales move on while the demo runs
//! ([`move_on`]), so "Load data from all connections" writes records. The
//! demo allows connections to its own loopback address ([`configure`]).

use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate};

use crate::crypto::SecretBox;
use crate::db::models::Account;
use crate::db::Db;
use crate::import::Entity;
use crate::services::accounts::{create_child, NewChild};
use crate::services::imports::{self, Body};
use crate::services::users::add_demo_user;

/// The demo user's e-mail.
pub const DEMO_EMAIL: &str = "demo@example.com";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "demo";
/// The demo organisation.
pub const DEMO_ORGANISATION: &str = "Demo Outdoor Co.";

/// One demo child: name, currency, time zone, id prefix, how its SKUs are
/// written, its warehouses, and which share of the catalogue it sells.
struct ChildSpec {
    name: &'static str,
    timezone: &'static str,
    id_prefix: &'static str,
    lower_sku: bool,
    warehouses: &'static [(&'static str, &'static str)],
    /// Keeps product `i` when `(i * 7 + offset) % 10 < share`.
    share: u64,
    offset: u64,
    volume: f64,
}

const CHILDREN: [ChildSpec; 3] = [
    ChildSpec {
        name: "Shopify: demo-outdoor.myshopify.com",
        timezone: "Europe/Berlin",
        id_prefix: "gid-pv-",
        lower_sku: false,
        warehouses: &[
            ("loc-main", "Main warehouse"),
            ("loc-berlin", "Berlin store"),
        ],
        share: 8,
        offset: 0,
        volume: 1.0,
    },
    ChildSpec {
        name: "WooCommerce: shop.demo-outdoor.example",
        timezone: "Europe/Berlin",
        id_prefix: "woo-",
        lower_sku: true,
        warehouses: &[("default", "Woo fulfilment")],
        share: 6,
        offset: 3,
        volume: 0.6,
    },
    ChildSpec {
        name: "Wholesale IMS",
        timezone: "Europe/Berlin",
        id_prefix: "IMS-",
        lower_sku: false,
        warehouses: &[("DC1", "Central DC"), ("DC2", "Overflow")],
        share: 9,
        offset: 5,
        volume: 1.6,
    },
];

/// The second organisation, whose outlet store the demo's feed child pulls.
pub const FEED_ORGANISATION: &str = "Demo Outlet (feed source)";
/// Its owner (nobody logs in as it: the password is random).
pub const FEED_EMAIL: &str = "outlet@example.com";
/// The demo child that pulls the outlet store over a `tributary` connection.
pub const FEED_CHILD: &str = "Outlet: tributary feed";

const FEED: ChildSpec = ChildSpec {
    name: "Outlet store",
    timezone: "Europe/Berlin",
    id_prefix: "OUT-",
    lower_sku: false,
    warehouses: &[("OUT1", "Outlet")],
    share: 4,
    offset: 7,
    volume: 0.5,
};

/// The demo's settings: its feed child reaches this same server on a
/// loopback address, whatever `TRIBUTARY_ALLOW_PRIVATE_CONNECTIONS` says.
pub fn configure(config: &mut crate::config::Config) {
    config.sync.allow_private = true;
}

/// The network settings the demo's children are created under: the feed
/// child's connection is this server's loopback address (as [`configure`]).
fn demo_net() -> crate::config::SyncConfig {
    crate::config::SyncConfig {
        allow_private: true,
        ..Default::default()
    }
}

/// The address the demo's feed child reaches the server at, from the
/// address it binds (`0.0.0.0:8080` → `http://127.0.0.1:8080`).
pub fn feed_base(bind: &str) -> String {
    let (host, port) = bind.rsplit_once(':').unwrap_or((bind, "8080"));
    let host = match host.trim_matches(['[', ']']) {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{port}")
}

const VENDORS: [(&str, &str, u32, u32, u32); 5] = [
    ("V-NORD", "Nordic Gear AB", 28, 50, 10),
    ("V-ALP", "Alpine Textiles GmbH", 21, 24, 6),
    ("V-TRAIL", "Trailworks Ltd", 35, 100, 20),
    ("V-CAMP", "Campfire Supply Co.", 14, 12, 4),
    ("V-PEAK", "Peak Optics", 45, 10, 5),
];

const CATEGORIES: [(&str, &str, f64); 6] = [
    // (category, SKU stem, peak month offset for yearly seasonality)
    ("Tents", "TENT", 6.0),
    ("Sleeping bags", "SBAG", 8.0),
    ("Backpacks", "PACK", 5.0),
    ("Jackets", "JCKT", 12.0),
    ("Headlamps", "LAMP", 11.0),
    ("Cookware", "COOK", 7.0),
];

const COLOURS: [&str; 5] = ["RED", "BLU", "GRN", "BLK", "ORG"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

/// Number of products in the demo catalogue.
pub const DEMO_PRODUCTS: usize = 300;

/// Deterministic PRNG (splitmix64): the demo is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Poisson draw (Knuth; rates here are small).
    fn poisson(&mut self, rate: f64) -> u32 {
        if rate <= 0.0 {
            return 0;
        }
        let l = (-rate.min(30.0)).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

/// A product of the shared catalogue.
struct Product {
    sku: String,
    title: String,
    category: &'static str,
    vendor: usize,
    cost: f64,
    price: f64,
    base_rate: f64,
    trend: f64,
    peak_month: f64,
    seasonal: f64,
    intermittent: bool,
    stopped: bool,
}

fn catalogue(rng: &mut Rng) -> Vec<Product> {
    (0..DEMO_PRODUCTS)
        .map(|i| {
            let (category, stem, peak) = CATEGORIES[i % CATEGORIES.len()];
            let colour = COLOURS[(i / CATEGORIES.len()) % COLOURS.len()];
            let size = SIZES[(i / (CATEGORIES.len() * COLOURS.len())) % SIZES.len()];
            let model = i / (CATEGORIES.len() * COLOURS.len() * SIZES.len()) + 1;
            let cost = 5.0 + (rng.unit() * 120.0).round();
            let intermittent = rng.unit() < 0.2;
            let base_rate = if intermittent {
                0.05 + rng.unit() * 0.15
            } else {
                0.3 + rng.unit().powi(2) * 2.5
            };
            Product {
                sku: format!("{stem}-{model}-{colour}-{size}"),
                title: format!("{category} model {model} {colour} {size}"),
                category,
                vendor: i % VENDORS.len(),
                cost,
                price: (cost * (1.8 + rng.unit())).round() - 0.01,
                base_rate,
                trend: (rng.unit() - 0.4) * 0.8,
                peak_month: peak,
                seasonal: 0.2 + rng.unit() * 0.6,
                intermittent,
                stopped: rng.unit() < 0.04,
            }
        })
        .collect()
}

/// The demo's CSV files for one child, in import order.
fn child_files(
    spec: &ChildSpec,
    products: &[Product],
    today: NaiveDate,
    seed: u64,
) -> Vec<(Entity, String)> {
    let mut rng = Rng(seed);
    let mine: Vec<(usize, &Product)> = products
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as u64 * 7 + spec.offset) % 10 < spec.share)
        .collect();
    let vid = |i: usize| format!("{}{:06}", spec.id_prefix, 100_000 + i * 37);
    let sku = |p: &Product| {
        if spec.lower_sku {
            p.sku.to_lowercase()
        } else {
            p.sku.clone()
        }
    };

    let mut warehouses = String::from("id,name\n");
    for (id, name) in spec.warehouses {
        let _ = writeln!(warehouses, "{id},{name}");
    }
    let mut vendors =
        String::from("id,name,currency,lead_time_days,minimum_order_quantity,pack_size\n");
    for (id, name, lead, moq, pack) in VENDORS {
        let _ = writeln!(vendors, "{id},{name},EUR,{lead},{moq},{pack}");
    }
    let mut variants = String::from("id,sku,title,product_title,vendor_id,category,brand,tags,cost_price,retail_price,currency\n");
    for (i, p) in &mine {
        let _ = writeln!(
            variants,
            "{},{},\"{}\",\"{}\",{},{},Demo Outdoor,{};{},{:.2},{:.2},EUR",
            vid(*i),
            sku(p),
            p.title,
            p.title.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&p.title),
            VENDORS[p.vendor].0,
            p.category,
            p.category.to_lowercase().replace(' ', "-"),
            if p.intermittent { "slow-mover" } else { "core" },
            p.cost,
            p.price
        );
    }

    // Two years of daily demand, simulated against stock so stockouts show.
    let start = today - Duration::days(730);
    let mut sales = String::from(
        "id,ordered_at,warehouse_id,currency,cancelled,line_id,variant_id,quantity,unit_price\n",
    );
    let mut stock = String::from("variant_id,warehouse_id,on_hand,allocated,updated_at\n");
    let mut orders = String::from("id,kind,status,vendor_id,destination_warehouse_id,expected_at,currency,line_id,variant_id,quantity,unit_cost\n");
    let main_wh = spec.warehouses[0].0;
    let mut order_no = 0u64;
    for (i, p) in &mine {
        let id = vid(*i);
        let mut level: i64 = (p.base_rate * spec.volume * 40.0).round() as i64 + 5;
        let reorder_at = (p.base_rate * spec.volume * 10.0).round() as i64;
        let mut restock_in: Option<i64> = None;
        let mut last_written: Option<i64> = None;
        let mut readings = Vec::new();
        for d in 0..730i64 {
            let day = start + Duration::days(d);
            let t = d as f64 / 730.0;
            let month = day.month() as f64;
            let season =
                1.0 + p.seasonal * ((month - p.peak_month) / 12.0 * std::f64::consts::TAU).cos();
            let weekly = if day.weekday().num_days_from_monday() >= 5 {
                1.3
            } else {
                0.9
            };
            let mut rate = p.base_rate * spec.volume * (1.0 + p.trend * t) * season * weekly;
            if p.stopped && d > 600 {
                rate = 0.0;
            }
            let wanted = rng.poisson(rate) as i64;
            let sold = wanted.min(level.max(0));
            level -= sold;
            // Returns: about 3 % of sales come back a few days later.
            let returned = if sold > 0 && rng.unit() < 0.03 { 1 } else { 0 };
            level += returned;
            if level <= reorder_at && restock_in.is_none() && !(p.stopped && d > 560) {
                restock_in = Some(d + VENDORS[p.vendor].2 as i64 + (rng.next() % 10) as i64);
            }
            if restock_in == Some(d) {
                level +=
                    (p.base_rate * spec.volume * 45.0).round() as i64 + VENDORS[p.vendor].3 as i64;
                restock_in = None;
            }
            let mut qty_left = sold;
            while qty_left > 0 {
                order_no += 1;
                let q = if qty_left > 1 && rng.unit() < 0.3 {
                    2
                } else {
                    1
                };
                qty_left -= q;
                let cancelled = rng.unit() < 0.01;
                let wh = spec.warehouses[(order_no as usize) % spec.warehouses.len()].0;
                let _ = writeln!(
                    sales,
                    "{}{order_no},{}T{:02}:{:02}:00+01:00,{wh},EUR,{cancelled},1,{id},{q},{:.2}",
                    spec.id_prefix.to_uppercase(),
                    day,
                    8 + rng.next() % 12,
                    rng.next() % 60,
                    p.price
                );
            }
            if returned > 0 {
                order_no += 1;
                let _ = writeln!(
                    sales,
                    "{}{order_no},{}T12:00:00+01:00,{main_wh},EUR,false,1,{id},-1,{:.2}",
                    spec.id_prefix.to_uppercase(),
                    day,
                    p.price
                );
            }
            // A reading whenever stock runs out or comes back, and monthly.
            let changed_state = last_written.is_none_or(|w| (w <= 0) != (level <= 0));
            if changed_state || day.day() == 1 || d == 729 {
                readings.push((day, level));
                last_written = Some(level);
            }
        }
        for (day, level) in readings {
            let _ = writeln!(stock, "{id},{main_wh},{level},0,{day}T23:00:00Z");
        }
        if let Some(due) = restock_in {
            let qty =
                (p.base_rate * spec.volume * 45.0).round() as i64 + VENDORS[p.vendor].3 as i64;
            let expected = start + Duration::days(due.max(730));
            let _ = writeln!(
                orders,
                "PO-{}{i:04},purchase,active,{},{main_wh},{expected},EUR,1,{id},{qty},{:.2}",
                spec.id_prefix.to_uppercase().trim_end_matches('-'),
                VENDORS[p.vendor].0,
                p.cost
            );
        }
    }
    vec![
        (Entity::Warehouses, warehouses),
        (Entity::Vendors, vendors),
        (Entity::Variants, variants),
        (Entity::Stock, stock),
        (Entity::SalesOrders, sales),
        (Entity::StockOrders, orders),
    ]
}

fn import_csv(
    conn: &mut crate::db::DbConn,
    account: &Account,
    entity: Entity,
    csv: &str,
) -> anyhow::Result<()> {
    let mut file = tempfile::tempfile()?;
    std::io::Write::write_all(&mut file, csv.as_bytes())?;
    imports::run(
        conn,
        account,
        DEMO_EMAIL,
        entity,
        Body::Csv(file),
        chrono::Utc::now(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "demo {} import into {}: {e:?}",
            entity.as_str(),
            account.name
        )
    })?;
    Ok(())
}

/// Seeds the second organisation's outlet store and a read-only key to it;
/// returns the connection the demo's feed child pulls it with.
fn seed_feed(
    conn: &mut crate::db::DbConn,
    secrets: &SecretBox,
    today: NaiveDate,
    base: &str,
) -> anyhow::Result<serde_json::Value> {
    let owner = add_demo_user(
        conn,
        FEED_EMAIL,
        &crate::crypto::random_token(32),
        FEED_ORGANISATION,
        "admin",
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = NewChild {
        name: FEED.name.into(),
        currency: "EUR".into(),
        timezone: Some(FEED.timezone.into()),
        connection: Some(serde_json::json!({"kind": "manual"})),
    };
    let account = create_child(conn, &owner.organisation_id, &input, secrets, &demo_net())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let products = catalogue(&mut Rng(2026));
    for (entity, csv) in child_files(&FEED, &products, today, 11) {
        import_csv(conn, &account, entity, &csv)?;
    }
    let key = format!("trb_{}", crate::crypto::random_token(40));
    crate::db::models::ApiKey::insert(
        conn,
        &crate::db::models::NewApiKey {
            id: &crate::crypto::new_id("key"),
            organisation_id: &owner.organisation_id,
            user_id: &owner.user_id,
            name: "Demo feed",
            key_hash: &crate::crypto::hash_api_key(&key),
            account_ids: Some(serde_json::to_string(&[&account.id])?),
            read_only: true,
            created_at: chrono::Utc::now().naive_utc(),
        },
    )?;
    Ok(serde_json::json!({"kind": "tributary", "base_url": base,
        "account_id": account.id, "api_key": key}))
}

/// The outlet store's sales move on: a few orders at `now` (called every
/// minute while the demo runs). Returns how many orders were added.
pub fn move_on(db: &Db, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
    let mut conn = db.conn()?;
    let Some(owner) = crate::db::models::User::find_by_email(&mut conn, FEED_EMAIL)? else {
        return Ok(0);
    };
    let Some(account) = Account::list_by_organisation(&mut conn, &owner.organisation_id)?
        .into_iter()
        .find(|a| a.name == FEED.name)
    else {
        return Ok(0);
    };
    let products = catalogue(&mut Rng(2026));
    let mine: Vec<usize> = (0..products.len())
        .filter(|i| (*i as u64 * 7 + FEED.offset) % 10 < FEED.share)
        .collect();
    if mine.is_empty() {
        return Ok(0);
    }
    let mut rng = Rng(now.timestamp() as u64 | 1);
    let n = 1 + (rng.next() % 3) as usize;
    let mut sales = String::from(
        "id,ordered_at,warehouse_id,currency,line_id,variant_id,quantity,unit_price
",
    );
    for k in 0..n {
        let i = mine[(rng.next() as usize) % mine.len()];
        let _ = writeln!(
            sales,
            "OUT-LIVE-{}-{k},{},OUT1,EUR,1,{}{:06},{},{:.2}",
            now.timestamp(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            FEED.id_prefix,
            100_000 + i * 37,
            1 + rng.next() % 2,
            products[i].price
        );
    }
    import_csv(&mut conn, &account, Entity::SalesOrders, &sales)?;
    Ok(n)
}

/// Seeds the demo organisation (idempotent: an organisation that already has
/// accounts is left as it is). `today` is the planning date the two years
/// of history end before. With `feed_base` (the address this server is
/// reached at), a fourth child pulls a second organisation's outlet store
/// over a `tributary` connection.
pub fn seed(
    db: &Db,
    secrets: &SecretBox,
    today: NaiveDate,
    feed_base: Option<&str>,
) -> anyhow::Result<()> {
    let mut conn = db.conn()?;
    let added = add_demo_user(
        &mut conn,
        DEMO_EMAIL,
        DEMO_PASSWORD,
        DEMO_ORGANISATION,
        "admin",
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !Account::list_by_organisation(&mut conn, &added.organisation_id)?.is_empty() {
        return Ok(());
    }
    let products = catalogue(&mut Rng(2026));
    for (n, spec) in CHILDREN.iter().enumerate() {
        let input = NewChild {
            name: spec.name.into(),
            currency: "EUR".into(),
            timezone: Some(spec.timezone.into()),
            connection: Some(serde_json::json!({"kind": "manual"})),
        };
        let account = create_child(
            &mut conn,
            &added.organisation_id,
            &input,
            secrets,
            &demo_net(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (entity, csv) in child_files(spec, &products, today, 7 + n as u64) {
            import_csv(&mut conn, &account, entity, &csv)?;
        }
    }
    if let Some(base) = feed_base {
        let connection = seed_feed(&mut conn, secrets, today, base)?;
        let input = NewChild {
            name: FEED_CHILD.into(),
            currency: "EUR".into(),
            timezone: Some(FEED.timezone.into()),
            connection: Some(connection),
        };
        create_child(
            &mut conn,
            &added.organisation_id,
            &input,
            secrets,
            &demo_net(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// Computes the demo organisation's plans now (children, then the master),
/// so that the first page shows a computed plan; returns how many.
pub fn plan(db: &Db, fixed_today: Option<NaiveDate>) -> anyhow::Result<usize> {
    let mut conn = db.conn()?;
    let Some(user) = crate::db::models::User::find_by_email(&mut conn, DEMO_EMAIL)? else {
        return Ok(0);
    };
    let mut writer = db.conn()?;
    crate::services::plans::compute_organisation(
        &mut conn,
        &user.organisation_id,
        fixed_today,
        Some(&mut writer),
    )
    .map_err(|e| anyhow::anyhow!("demo plans: {e}"))
}
