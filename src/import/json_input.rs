//! The JSON front end: reads a batch (an array of records) one element at a time and hands each
//! element's values to the shared validator, collecting every problem rather than stopping at
//! the first.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::import::build::{self, object_raws, OrderKind};
use crate::import::limits::Capped;
use crate::import::records::Format;
use crate::import::values::{Cx, Interner, Problems, Raw};
use crate::import::{Batch, Entity, ImportContext, KnownIds, Outcome, ParseError};

pub(crate) fn parse<R: Read>(
    entity: Entity,
    reader: R,
    ctx: &ImportContext,
    known: Option<&KnownIds>,
) -> Result<Outcome, ParseError> {
    let (capped, slot) = Capped::json(reader, ctx.limits);
    let mut input = BufReader::with_capacity(1 << 16, capped);
    let unreadable = |e: std::io::Error| ParseError::Malformed {
        message: format!("The body could not be read: {e}."),
    };
    // Skip a byte-order mark and leading white space, and peek at the first byte.
    if input
        .fill_buf()
        .map_err(unreadable)?
        .starts_with(b"\xEF\xBB\xBF")
    {
        input.consume(3);
    }
    let first = loop {
        let buf = input.fill_buf().map_err(unreadable)?;
        if buf.is_empty() {
            break None;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                break Some(b);
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    };
    match first {
        None => return Err(ParseError::Empty),
        Some(b'[') => {}
        Some(_) => {
            return Err(
                match serde_json::from_reader::<_, serde::de::IgnoredAny>(input) {
                    Ok(_) => ParseError::invalid(vec![crate::import::Problem {
                        row: 0,
                        field: String::new(),
                        message: format!(
                            "The body must be a JSON array of {} records, such as [{{\"id\": \
                         \"…\"}}]; send several records in one array.",
                            entity.as_str()
                        ),
                    }]),
                    Err(e) => not_json(&e, None),
                },
            );
        }
    }

    let mut problems = Problems::default();
    let mut warnings = Problems::default();
    let mut interner = Interner::default();
    let mut cx = Cx::new(ctx, &mut problems, &mut warnings, &mut interner);
    cx.known = known;
    let mut sink = Sink::new(entity);
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut count = 0usize;
    let visitor = Elements {
        sink: &mut sink,
        cx: &mut cx,
        count: &mut count,
    };
    let read = de.deserialize_seq(visitor).and_then(|()| de.end());
    if let Err(e) = read {
        match slot.get() {
            // An element or string over its cap: reported with the problems found so far.
            Some(t) => {
                let what = "A string of this record";
                problems.push(t.row.max(1), String::new(), t.message(what));
            }
            None => return Err(not_json(&e, Some(count))),
        }
    }
    Ok(Outcome {
        batch: sink.batch,
        problems,
        warnings,
    })
}

fn not_json(e: &serde_json::Error, records_read: Option<usize>) -> ParseError {
    let at = match records_read {
        Some(n) if e.is_syntax() || e.is_eof() => format!(" in record {}", n + 1),
        _ => String::new(),
    };
    ParseError::Malformed {
        message: format!(
            "The body is not valid JSON{at} (line {}, column {}): {}. Send UTF-8 JSON: an \
             array of records.",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ),
    }
}

/// serde_json appends " at line L column C"; the message already says where.
fn strip_position(s: &str) -> &str {
    s.rfind(" at line ").map_or(s, |i| &s[..i])
}

/// Streams the array's elements into the sink.
struct Elements<'s, 'c, 'x> {
    sink: &'s mut Sink,
    cx: &'s mut Cx<'c>,
    count: &'x mut usize,
}

impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            *self.count += 1;
            self.cx.row = *self.count;
            self.sink.element(self.cx, &value);
        }
        Ok(())
    }
}

/// The batch being built, of the requested entity.
struct Sink {
    batch: Batch,
}

impl Sink {
    fn new(entity: Entity) -> Sink {
        Sink {
            batch: Batch::empty(entity),
        }
    }

    fn element(&mut self, cx: &mut Cx<'_>, value: &Value) {
        let Value::Object(obj) = value else {
            let msg = format!(
                "Record {} must be a JSON object with the fields of one record.",
                cx.row
            );
            cx.problem("", msg);
            return;
        };
        match &mut self.batch {
            Batch::Warehouses(v) => {
                let r = object_raws(cx, obj, build::WAREHOUSE, "a warehouse");
                v.extend(build::warehouse(cx, &r));
            }
            Batch::Vendors(v) => {
                let r = object_raws(cx, obj, build::VENDOR, "a vendor");
                v.extend(build::vendor(cx, &r));
            }
            Batch::Variants(v) => {
                let r = object_raws(cx, obj, build::VARIANT, "a variant");
                v.extend(build::variant(cx, &r));
            }
            Batch::Stock(v) => {
                let r = object_raws(cx, obj, build::STOCK, "a stock level");
                v.extend(build::stock_level(cx, &r));
            }
            Batch::SalesOrders(v) => v.extend(order::<build::Sales>(cx, obj)),
            Batch::StockOrders(v) => v.extend(order::<build::Stock>(cx, obj)),
        }
    }
}

/// One order with its nested lines.
fn order<K: OrderKind>(cx: &mut Cx<'_>, obj: &Map<String, Value>) -> Option<K::Record> {
    let fields = [K::HEAD, &["lines"]].concat();
    let what = format!("a {}", K::WHAT);
    let raws = object_raws(cx, obj, &fields, &what);
    let nh = K::HEAD.len();
    let id = cx.req("id", raws[0], Cx::own_id);
    let head = K::head(cx, &raws[..nh]);
    let mut lines = Vec::new();
    let mut lines_ok = true;
    let mut lines_given = false;
    if let Some(items) = cx.list("lines", raws[nh]) {
        lines.reserve_exact(items.len());
        lines_given = !items.is_empty();
        let row = u32::try_from(cx.row).unwrap_or(u32::MAX);
        let line_what = format!("a {} line", K::WHAT);
        for (i, item) in items.iter().enumerate() {
            let name = format!("lines[{}]", i + 1);
            let Value::Object(line) = item else {
                let msg = format!("{name} must be an object with the fields of one line.");
                cx.problem(&name, msg);
                lines_ok = false;
                continue;
            };
            cx.prefix = format!("{name}.");
            let r = object_raws(cx, line, K::LINE_JSON, &line_what);
            match K::line(cx, &r, K::LINE_JSON, row) {
                Some(l) => lines.push(l),
                None => lines_ok = false,
            }
            cx.prefix.clear();
        }
    } else if !matches!(raws[nh], Raw::Absent) {
        lines_ok = false;
    }
    let record = K::finish(
        cx,
        id.clone().unwrap_or_default(),
        head,
        lines,
        lines_given || !raws[nh].is_absent() && !lines_ok,
        Format::Json,
    );
    if id.is_some() && lines_ok {
        record
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::import::{
        check_references, parse_json, Batch, Entity, ImportContext, KnownIds, ParseError, Problem,
    };

    fn ctx() -> ImportContext {
        ImportContext {
            limits: Default::default(),
            account_currency: "EUR".into(),
            timezone: chrono_tz::UTC,
        }
    }

    fn json(entity: Entity, body: &str) -> Result<crate::import::Parsed, ParseError> {
        parse_json(entity, body.as_bytes(), &ctx())
    }

    fn problems(r: Result<crate::import::Parsed, ParseError>) -> Vec<Problem> {
        match r {
            Err(ParseError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn at(p: &[Problem]) -> Vec<(usize, &str)> {
        p.iter().map(|p| (p.row, p.field.as_str())).collect()
    }

    #[test]
    fn every_problem_of_an_order_is_listed() {
        let body = r#"[
          {"id": "SO-1", "ordered_at": "2024-05-31T10:00:00Z", "colour": "red",
           "lines": [{"id": "L1", "variant_id": "V-1", "quantity": "2"},
                     {"id": "L2", "variant_id": 7, "quantity": "abc", "unit_price": true},
                     {"id": "L3", "quantity": 1, "qty": 1}]},
          {"id": "SO-2", "cancelled": "yes", "lines": []}
        ]"#;
        let p = problems(json(Entity::SalesOrders, body));
        assert_eq!(
            at(&p),
            [
                (1, "colour"),
                (1, "lines[2].variant_id"),
                (1, "lines[2].quantity"),
                (1, "lines[2].unit_price"),
                (1, "lines[3].qty"),
                (1, "lines[3].variant_id"),
                (2, "cancelled"),
                (2, "ordered_at"),
                (2, "lines"),
            ]
        );
        assert_eq!(
            p[1].message,
            "lines[2].variant_id must be a string, not a number."
        );
        assert_eq!(p[7].message, "ordered_at is required; give it a value.");
    }

    #[test]
    fn decimals_as_numbers_or_strings() {
        let body = r#"[{"id": "SO-1", "ordered_at": "2024-05-31", "currency": "usd",
            "lines": [{"id": "L1", "variant_id": "V-1", "quantity": -1, "unit_price": "9.90"},
                      {"id": "L2", "variant_id": "V-1", "quantity": 0.1}]}]"#;
        let Batch::SalesOrders(v) = json(Entity::SalesOrders, body).unwrap().batch else {
            panic!()
        };
        assert_eq!(v[0].lines[0].quantity, Decimal::from(-1));
        assert_eq!(v[0].lines[0].unit_price, Some(Decimal::new(990, 2)));
        assert_eq!(v[0].lines[1].quantity, Decimal::new(1, 1));
        assert_eq!(v[0].currency.unwrap().as_str(), "USD");
    }

    #[test]
    fn duplicate_ids_in_a_batch() {
        let body = r#"[{"id": "W-1", "name": "A"}, {"id": "W-2", "name": "B"}, {"id": "W-1", "name": "C"}]"#;
        let p = problems(json(Entity::Warehouses, body));
        assert_eq!(at(&p), [(3, "id")]);
        assert!(p[0].message.contains("row 1"));
        let body = r#"[{"variant_id": "V", "warehouse_id": "W", "on_hand": 1},
                       {"variant_id": "V", "warehouse_id": "W", "on_hand": 2}]"#;
        assert_eq!(
            at(&problems(json(Entity::Stock, body))),
            [(2, "warehouse_id")]
        );
    }

    #[test]
    fn stock_order_lines() {
        let body = r#"[{"id": "PO-1", "kind": "purchase", "status": "active",
            "destination_warehouse_id": "W-1", "expected_at": "2024-13-01",
            "lines": [{"variant_id": "V-1", "quantity": 0}, {"variant_id": "V-2", "quantity": 3,
                       "received_quantity": -1}]}]"#;
        let p = problems(json(Entity::StockOrders, body));
        assert_eq!(
            at(&p),
            [
                (1, "expected_at"),
                (1, "lines[1].quantity"),
                (1, "lines[2].received_quantity")
            ]
        );
    }

    #[test]
    fn malformed_empty_and_not_an_array() {
        assert!(matches!(
            json(Entity::Vendors, "[{\"id\": "),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            json(Entity::Vendors, "id,name"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            json(Entity::Vendors, "[]"),
            Err(ParseError::Empty)
        ));
        assert!(matches!(
            json(Entity::Vendors, "  "),
            Err(ParseError::Empty)
        ));
        let p = problems(json(Entity::Vendors, r#"{"id": "X", "name": "Y"}"#));
        assert_eq!(at(&p), [(0, "")]);
        let p = problems(json(Entity::Vendors, r#"[1]"#));
        assert_eq!(at(&p), [(1, "")]);
        match parse_json(Entity::Vendors, b"[{\"id\": \"\xff\"}]", &ctx()) {
            Err(ParseError::Malformed { message }) => {
                assert!(message.contains("record 1"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vendors_and_variants_with_nested_lists() {
        let body = r#"[{"id": "VE-1", "name": "Acme", "currency": "XYZ", "lead_time_days": 10,
                        "pack_size": 0, "minimum_order_quantity": "12"}]"#;
        let p = problems(json(Entity::Vendors, body));
        assert_eq!(at(&p), [(1, "pack_size")]);
        let body = r#"[{"id": "VE-1", "name": "Acme", "currency": "XYZ", "lead_time_days": 10.5}]"#;
        assert_eq!(
            at(&problems(json(Entity::Vendors, body))),
            [(1, "lead_time_days")]
        );
        let body = r#"[{"id": "VE-1", "name": "Acme", "currency": "XYZ", "lead_time_days": 10}]"#;
        let parsed = json(Entity::Vendors, body).unwrap();
        assert_eq!(at(&parsed.warnings), [(1, "currency")]);

        let body = r#"[{"id": "V-1", "sku": "A", "tags": ["x", 3],
                        "vendors": [{"vendor_id": "VE-1", "cost_price": 2}, {"cost_price": 1}],
                        "components": [{"variant_id": "V-2", "quantity": 0}]},
                       {"id": "V-2", "sku": " ", "assembly": "true"}]"#;
        let p = problems(json(Entity::Variants, body));
        assert_eq!(
            at(&p),
            [
                (1, "vendors[2].vendor_id"),
                (1, "tags[2]"),
                (1, "components[1].quantity"),
                (2, "sku"),
                (2, "assembly"),
            ]
        );
    }

    #[test]
    fn references_to_unknown_ids() {
        let body = r#"[{"id": "V-1", "sku": "A", "vendor_id": "VE-9",
                        "components": [{"variant_id": "V-2", "quantity": 1},
                                       {"variant_id": "V-3", "quantity": 1}]},
                       {"id": "V-2", "sku": "B"}]"#;
        let parsed = json(Entity::Variants, body).unwrap();
        let p = check_references(&parsed.batch, &KnownIds::default());
        assert_eq!(at(&p), [(1, "vendor_id"), (1, "components")]);
        assert!(p[1].message.contains("\"V-3\""));

        let body = r#"[{"id": "SO-1", "ordered_at": "2024-05-31", "warehouse_id": "W-1",
            "lines": [{"id": "L1", "variant_id": "V-1", "quantity": 1},
                      {"id": "L2", "variant_id": "V-9", "quantity": 1}]}]"#;
        let known = KnownIds {
            variants: ["V-1".to_string()].into(),
            ..Default::default()
        };
        let parsed = json(Entity::SalesOrders, body).unwrap();
        let p = check_references(&parsed.batch, &known);
        assert_eq!(at(&p), [(1, "warehouse_id"), (1, "lines[2].variant_id")]);
        match crate::import::parse_json_checked(
            Entity::SalesOrders,
            body.as_bytes(),
            &ctx(),
            &known,
        ) {
            Err(ParseError::Invalid { problems, total }) => {
                assert_eq!(total, 2);
                assert_eq!(problems, p);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fingerprints_ignore_row_and_timestamp() {
        let a = r#"[{"id": "SO-1", "ordered_at": "2024-05-31T10:00:00Z", "updated_at": "2024-06-01T00:00:00Z",
            "lines": [{"id": "L1", "variant_id": "V-1", "quantity": "1.0"}]}]"#;
        let b = r#"[{"id": "SO-0", "ordered_at": "2024-05-31", "lines": [{"id": "L", "variant_id": "V", "quantity": 1}]},
            {"id": "SO-1", "ordered_at": "2024-05-31T12:00:00+02:00",
            "lines": [{"id": "L1", "variant_id": "V-1", "quantity": 1}]}]"#;
        let c = r#"[{"id": "SO-1", "ordered_at": "2024-05-31T10:00:00Z",
            "lines": [{"id": "L1", "variant_id": "V-1", "quantity": 2}]}]"#;
        let fp = |s: &str, i: usize| match json(Entity::SalesOrders, s).unwrap().batch {
            Batch::SalesOrders(v) => v[i].fingerprint(),
            _ => unreachable!(),
        };
        assert_eq!(fp(a, 0), fp(b, 1));
        assert_ne!(fp(a, 0), fp(c, 0));
    }
}
