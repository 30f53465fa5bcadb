//! The CSV front end: reads an upload record by record (never the whole body at once), checks
//! the header, and hands each row's cells to the shared validator. Order files have one row per
//! line; rows of one order are grouped by `id`, wherever they are in the file.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use csv::StringRecord;

use crate::import::build::{self, OrderKind};
use crate::import::limits::{Capped, Slot, TooBig};
use crate::import::records::Format;
use crate::import::values::{quote, Cx, FastState, Interner, Problems, Raw};
use crate::import::{Batch, Entity, ImportContext, KnownIds, Outcome, ParseError};

/// Most columns any entity has; sizes the per-row scratch arrays.
const MAX_COLUMNS: usize = 24;

pub(crate) fn parse<R: Read>(
    entity: Entity,
    reader: R,
    ctx: &ImportContext,
    known: Option<&KnownIds>,
) -> Result<Outcome, ParseError> {
    let (capped, slot) = Capped::csv(reader, ctx.limits);
    let mut input = BufReader::with_capacity(1 << 16, capped);
    looks_like_json(&mut input)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);

    let mut header = StringRecord::new();
    match rdr.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return Err(ParseError::Empty),
        Err(_) if slot.get().is_some() => {
            let t = slot.get().unwrap_or(TooBig::HEADER);
            return Err(invalid_header("header", t.message("A column name")));
        }
        Err(e) => return Err(read_error(e, &[])),
    }
    let columns = Columns::new(entity, &header)?;

    let mut problems = Problems::default();
    let mut warnings = Problems::default();
    let mut interner = Interner::default();
    let mut cx = Cx::new(ctx, &mut problems, &mut warnings, &mut interner);
    cx.known = known;
    let mut rows = Rows {
        rdr,
        columns: &columns,
        row: 0,
        slot,
    };
    let batch = match entity {
        Entity::Warehouses => Batch::Warehouses(simple(&mut rows, &mut cx, build::warehouse)?),
        Entity::Vendors => Batch::Vendors(simple(&mut rows, &mut cx, build::vendor)?),
        Entity::Variants => Batch::Variants(simple(&mut rows, &mut cx, build::variant)?),
        Entity::Stock => Batch::Stock(simple(&mut rows, &mut cx, build::stock_level)?),
        Entity::SalesOrders => orders::<build::Sales, R>(&mut rows, &mut cx)?,
        Entity::StockOrders => orders::<build::Stock, R>(&mut rows, &mut cx)?,
    };
    Ok(Outcome {
        batch,
        problems,
        warnings,
    })
}

/// A JSON body sent to the CSV upload is refused with a hint rather than as odd columns.
fn looks_like_json<R: Read>(input: &mut BufReader<R>) -> Result<(), ParseError> {
    let buf = input.fill_buf().map_err(|e| ParseError::Malformed {
        message: format!("The upload could not be read: {e}."),
    })?;
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    match buf.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') | Some(b'{') => Err(ParseError::Malformed {
            message: "The upload looks like JSON, not CSV: send JSON batches to the PUT endpoint \
                      of the entity, or upload a CSV file with a header line."
                .to_string(),
        }),
        _ => Ok(()),
    }
}

/// Turns a reading error into a 400 naming the row (and the column, when it is known).
fn read_error(e: csv::Error, names: &[Option<&str>]) -> ParseError {
    let position = e.position().cloned();
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            let (row, line) = position.map(|p| (p.record(), p.line())).unwrap_or((0, 0));
            let column = names
                .get(err.field())
                .copied()
                .flatten()
                .map(|n| format!(", column {n}"))
                .unwrap_or_default();
            if row == 0 {
                "The header line is not valid UTF-8 text: save the file as CSV UTF-8 and upload \
                 it again."
                    .to_string()
            } else {
                format!(
                    "Row {row} (line {line}{column}) is not valid UTF-8 text: save the file as \
                     CSV UTF-8 and upload it again."
                )
            }
        }
        csv::ErrorKind::Io(io) => format!("The upload could not be read: {io}."),
        _ => format!("The upload is not a readable CSV file: {e}."),
    };
    ParseError::Malformed { message }
}

/// How the upload's columns map onto the entity's fields.
struct Columns {
    /// Field names of the entity in CSV order.
    fields: &'static [&'static str],
    /// For each column of the file, the field index it holds (`None`: ignored column).
    of_column: Vec<Option<usize>>,
    /// For each field, the column holding it.
    column_of: Vec<Option<usize>>,
    /// Column names, for messages.
    names: Vec<Option<&'static str>>,
}

impl Columns {
    fn new(entity: Entity, header: &StringRecord) -> Result<Columns, ParseError> {
        let fields: &'static [&'static str] = csv_fields(entity);
        let only = header.len() == 1 && header.get(0).is_some();
        if only {
            let cell = header.get(0).unwrap_or_default();
            for (sep, name) in [(';', "semicolons"), ('\t', "tabs"), ('|', "vertical bars")] {
                if cell.contains(sep) {
                    return Err(invalid_header(
                        "header",
                        format!(
                            "The header is separated by {name}; columns must be separated by \
                             commas. Export the file as comma-separated CSV and upload it again."
                        ),
                    ));
                }
            }
        }
        let mut problems = Problems::default();
        let mut of_column = Vec::with_capacity(header.len());
        let mut column_of = vec![None; fields.len()];
        let mut names = Vec::with_capacity(header.len());
        for (col, name) in header.iter().enumerate() {
            let name = name.trim();
            if name.is_empty() {
                of_column.push(None);
                names.push(None);
                continue;
            }
            match fields.iter().position(|f| f.eq_ignore_ascii_case(name)) {
                Some(i) if column_of[i].is_some() => {
                    problems.push(
                        1,
                        fields[i].to_string(),
                        format!(
                            "Column {} appears twice in the header; keep only one.",
                            fields[i]
                        ),
                    );
                    of_column.push(None);
                    names.push(Some(fields[i]));
                }
                Some(i) => {
                    column_of[i] = Some(col);
                    of_column.push(Some(i));
                    names.push(Some(fields[i]));
                }
                None => {
                    problems.push(
                        1,
                        name.to_string(),
                        format!(
                            "Unknown column {}; the columns of {} are {}.",
                            quote(name),
                            entity.as_str(),
                            fields.join(", ")
                        ),
                    );
                    of_column.push(None);
                    names.push(None);
                }
            }
        }
        for required in entity.csv_required() {
            let i = fields.iter().position(|f| f == required).unwrap_or(0);
            if column_of[i].is_none() {
                problems.push(
                    1,
                    required.to_string(),
                    format!("Required column {required} is missing from the header."),
                );
            }
        }
        if !problems.is_empty() {
            let (problems, total) = problems.finish();
            return Err(ParseError::Invalid { problems, total });
        }
        Ok(Columns {
            fields,
            of_column,
            column_of,
            names,
        })
    }
}

fn invalid_header(field: &str, message: String) -> ParseError {
    ParseError::invalid(vec![crate::import::Problem {
        row: 1,
        field: field.to_string(),
        message,
    }])
}

/// The entity's CSV columns, in template order.
fn csv_fields(entity: Entity) -> &'static [&'static str] {
    const VARIANT_CSV: &[&str] = &[
        "id",
        "sku",
        "barcode",
        "title",
        "product_id",
        "product_title",
        "vendor_id",
        "brand",
        "category",
        "tags",
        "cost_price",
        "retail_price",
        "currency",
        "tracked",
        "lead_time_days",
        "min_stock",
        "max_stock",
        "components",
        "assembly",
        "updated_at",
        "removed",
    ];
    const SALES_CSV: &[&str] = &[
        "id",
        "ordered_at",
        "warehouse_id",
        "currency",
        "cancelled",
        "removed",
        "updated_at",
        "line_id",
        "variant_id",
        "quantity",
        "unit_price",
    ];
    const STOCK_ORDER_CSV: &[&str] = &[
        "id",
        "kind",
        "status",
        "vendor_id",
        "source_warehouse_id",
        "destination_warehouse_id",
        "expected_at",
        "currency",
        "updated_at",
        "removed",
        "line_id",
        "variant_id",
        "quantity",
        "received_quantity",
        "unit_cost",
    ];
    match entity {
        Entity::Warehouses => build::WAREHOUSE,
        Entity::Vendors => build::VENDOR,
        Entity::Variants => VARIANT_CSV,
        Entity::Stock => build::STOCK,
        Entity::SalesOrders => SALES_CSV,
        Entity::StockOrders => STOCK_ORDER_CSV,
    }
}

/// The data rows of an upload, with their 1-based numbers.
struct Rows<'c, R: Read> {
    rdr: csv::Reader<BufReader<Capped<R>>>,
    columns: &'c Columns,
    row: usize,
    /// Where the size cap reports a refused cell or row.
    slot: Slot,
}

impl<R: Read> Rows<'_, R> {
    /// Reads the next row that has any content into `rec`; `false` at the end. A row with the
    /// wrong number of cells is reported and skipped.
    fn next(&mut self, rec: &mut StringRecord, cx: &mut Cx<'_>) -> Result<bool, ParseError> {
        loop {
            match self.rdr.read_record(rec) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(_) if self.slot.get().is_some() => {
                    // A cell or row over its cap: reported with the problems found so far;
                    // the rest of the upload is not read.
                    if let Some(t) = self.slot.get() {
                        let name = t
                            .column
                            .and_then(|c| self.columns.names.get(c).copied().flatten())
                            .unwrap_or("");
                        let what = if name.is_empty() {
                            "A cell of this row".to_string()
                        } else {
                            name.to_string()
                        };
                        let field = if t.field { name } else { "" };
                        cx.problem_at(t.row.max(1), field.to_string(), t.message(&what));
                    }
                    return Ok(false);
                }
                Err(e) => return Err(read_error(e, &self.columns.names)),
            }
            self.row += 1;
            if rec.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let want = self.columns.of_column.len();
            if rec.len() != want {
                let msg = format!(
                    "This row has {} cells but the header has {want} columns; check for an \
                     unquoted comma or a cut-off line.",
                    rec.len()
                );
                cx.problem_at(self.row, self.cell_count_field(rec.len()), msg);
                continue;
            }
            cx.row = self.row;
            return Ok(true);
        }
    }

    /// The field a row with the wrong number of cells is reported on (every
    /// problem names one): the first column it lacks, or the last column
    /// when it has too many (the extra cells follow it); ignored columns
    /// are passed over.
    fn cell_count_field(&self, cells: usize) -> String {
        let names = &self.columns.names;
        let from = cells.min(names.len().saturating_sub(1));
        names[from..]
            .iter()
            .chain(names[..from].iter().rev())
            .find_map(|n| *n)
            .unwrap_or("row")
            .to_string()
    }

    /// Spreads a row's cells over the entity's fields.
    fn raws<'r>(&self, rec: &'r StringRecord, out: &mut [Raw<'r>]) {
        out.fill(Raw::Absent);
        for (cell, field) in rec.iter().zip(&self.columns.of_column) {
            if let Some(i) = field {
                out[*i] = Raw::cell(cell);
            }
        }
    }
}

/// Entities with one record per row.
fn simple<R: Read, T>(
    rows: &mut Rows<'_, R>,
    cx: &mut Cx<'_>,
    build: fn(&mut Cx<'_>, &[Raw<'_>]) -> Option<T>,
) -> Result<Vec<T>, ParseError> {
    let mut out = Vec::new();
    let mut rec = StringRecord::new();
    let n = rows.columns.fields.len();
    while rows.next(&mut rec, cx)? {
        let mut raws = [Raw::Absent; MAX_COLUMNS];
        rows.raws(&rec, &mut raws[..n]);
        let raws = expand_for_json_fields(rows.columns.fields, &raws[..n]);
        if let Some(r) = build(cx, &raws) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Builders index raws by the JSON field list; variants' CSV lacks `vendors`, so the raws are
/// re-spread over the JSON fields by name.
fn expand_for_json_fields<'r>(csv: &[&str], raws: &[Raw<'r>]) -> Vec<Raw<'r>> {
    if csv.len() == build::VARIANT.len() - 1 && csv[1] == "sku" {
        build::VARIANT
            .iter()
            .map(|f| {
                csv.iter()
                    .position(|c| c == f)
                    .map_or(Raw::Absent, |i| raws[i])
            })
            .collect()
    } else {
        raws.to_vec()
    }
}

/// One order being gathered from its rows.
struct Group<K: OrderKind> {
    head: K::Head,
    lines: Vec<K::Line>,
    lines_given: bool,
    row: usize,
}

/// Order entities: one row per line, grouped by order id.
fn orders<K: OrderKind, R: Read>(
    rows: &mut Rows<'_, R>,
    cx: &mut Cx<'_>,
) -> Result<Batch, ParseError> {
    let nh = K::HEAD.len();
    let nl = K::LINE_CSV.len();
    let id_col = rows.columns.column_of[0];
    let head_cols: Vec<Option<usize>> = rows.columns.column_of[..nh].to_vec();
    let line_cols: Vec<Option<usize>> = rows.columns.column_of[nh..nh + nl].to_vec();

    let mut groups: Vec<Group<K>> = Vec::new();
    let mut index: HashMap<Box<str>, u32, FastState> = HashMap::default();
    let mut cur = StringRecord::new();
    let mut prev = StringRecord::new();
    let mut prev_group: Option<u32> = None;
    // Lines of the order being read, moved into it (at exact capacity) when another starts.
    let mut pending: Vec<K::Line> = Vec::new();
    let mut pending_group: Option<u32> = None;

    while rows.next(&mut cur, cx)? {
        let row = rows.row;
        let mut head_raws = [Raw::Absent; MAX_COLUMNS];
        for (i, col) in head_cols.iter().enumerate() {
            head_raws[i] = Raw::cell(cell(&cur, *col));
        }
        let mut line_raws = [Raw::Absent; MAX_COLUMNS];
        for (i, col) in line_cols.iter().enumerate() {
            line_raws[i] = Raw::cell(cell(&cur, *col));
        }
        let group = match cx.req("id", head_raws[0], Cx::id_str) {
            None => {
                // Still report the order fields' own problems.
                K::head(cx, &head_raws[..nh]);
                None
            }
            Some(id) => {
                let same_as_prev = prev_group.is_some() && cell(&prev, id_col).trim() == id;
                let known = if same_as_prev {
                    prev_group
                } else {
                    index.get(id).copied()
                };
                match known {
                    None => {
                        let g = u32::try_from(groups.len()).unwrap_or(u32::MAX);
                        index.insert(Box::from(id), g);
                        groups.push(Group {
                            head: K::head(cx, &head_raws[..nh]),
                            lines: Vec::new(),
                            lines_given: false,
                            row,
                        });
                        Some(g)
                    }
                    Some(g) => {
                        let unchanged = same_as_prev
                            && head_cols[1..]
                                .iter()
                                .all(|col| cell(&cur, *col) == cell(&prev, *col));
                        if !unchanged {
                            // Fallback warnings were given on the order's first row.
                            cx.warn = false;
                            let head = K::head(cx, &head_raws[..nh]);
                            cx.warn = true;
                            K::merge(cx, &mut groups[g as usize].head, head, id);
                        }
                        Some(g)
                    }
                }
            }
        };
        if line_raws[..nl].iter().any(|r| !r.is_absent()) {
            let line = K::line(cx, &line_raws[..nl], K::LINE_CSV, row_u32(row));
            if let Some(g) = group {
                groups[g as usize].lines_given = true;
                if let Some(line) = line {
                    if pending_group != Some(g) {
                        flush(&mut groups, pending_group, &mut pending);
                        pending_group = Some(g);
                    }
                    pending.push(line);
                }
            }
        }
        std::mem::swap(&mut cur, &mut prev);
        prev_group = group;
    }

    flush(&mut groups, pending_group, &mut pending);
    let mut ids: Vec<Option<Box<str>>> = Vec::new();
    ids.resize_with(groups.len(), || None);
    for (id, g) in index.drain() {
        ids[g as usize] = Some(id);
    }
    let mut records = Vec::with_capacity(groups.len());
    for (group, id) in groups.into_iter().zip(ids) {
        cx.row = group.row;
        let id = id.unwrap_or_default();
        if let Some(r) = K::finish(
            cx,
            id,
            group.head,
            group.lines,
            group.lines_given,
            Format::Csv,
        ) {
            records.push(r);
        }
    }
    Ok(K::batch(records))
}

/// Moves the pending lines into their order.
fn flush<K: OrderKind>(groups: &mut [Group<K>], g: Option<u32>, pending: &mut Vec<K::Line>) {
    if let Some(g) = g {
        let lines = &mut groups[g as usize].lines;
        lines.reserve_exact(pending.len());
        lines.append(pending);
    }
}

/// The cell of `col`, empty when the column is absent.
fn cell(rec: &StringRecord, col: Option<usize>) -> &str {
    col.and_then(|c| rec.get(c)).unwrap_or("")
}

fn row_u32(row: usize) -> u32 {
    u32::try_from(row).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::import::{
        check_references, parse_csv, Batch, Entity, ImportContext, KnownIds, ParseError, Problem,
    };

    fn ctx() -> ImportContext {
        ImportContext {
            limits: Default::default(),
            account_currency: "EUR".into(),
            timezone: chrono_tz::Europe::Paris,
        }
    }

    fn csv(entity: Entity, body: &str) -> Result<crate::import::Parsed, ParseError> {
        parse_csv(entity, body.as_bytes(), &ctx())
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

    fn sales(r: Result<crate::import::Parsed, ParseError>) -> Vec<crate::import::SalesOrderRecord> {
        match r.unwrap().batch {
            Batch::SalesOrders(v) => v,
            other => panic!("{other:?}"),
        }
    }

    const SALES_HEADER: &str =
        "id,ordered_at,warehouse_id,currency,cancelled,removed,updated_at,line_id,variant_id,quantity,unit_price\n";

    /// Found by fuzzing: a row with too few or too many cells was reported
    /// with an empty field.
    #[test]
    fn a_row_with_the_wrong_number_of_cells_names_a_field() {
        let p = problems(csv(Entity::Warehouses, "id,name\nW-1\nW-2,Main,extra\n"));
        assert_eq!(at(&p), vec![(1, "name"), (2, "name")]);
        let p = problems(csv(
            Entity::Warehouses,
            "id,name,removed\nW-1\nW-2,Main,,extra\n",
        ));
        assert_eq!(at(&p), vec![(1, "name"), (2, "removed")]);
    }

    #[test]
    fn bom_and_blank_trailing_lines_are_fine() {
        let body = "\u{feff}id,name\nW-1,Main\n\n\n";
        match csv(Entity::Warehouses, body).unwrap().batch {
            Batch::Warehouses(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(&*v[0].id, "W-1");
                assert_eq!(v[0].row, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quoted_commas_and_newlines() {
        let body = "id,name\nW-1,\"Main, north\nbuilding\"\nW-2,Back\n";
        match csv(Entity::Warehouses, body).unwrap().batch {
            Batch::Warehouses(v) => {
                assert_eq!(v[0].name, "Main, north\nbuilding");
                assert_eq!((&*v[1].id, v[1].row), ("W-2", 2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn order_rows_group_even_when_apart_and_returns_are_negative() {
        let body = format!(
            "{SALES_HEADER}\
             SO-1,2024-05-31T10:00:00Z,W-1,USD,,,,L1,V-1,2,9.90\n\
             SO-2,2024-05-31 12:00:00,,,,,,L1,V-2,-1,\n\
             SO-1,2024-05-31T10:00:00Z,W-1,USD,,,,L2,V-2,\"1.5\",\n\
             SO-1,,,,,,,L3,V-3,1,\n"
        );
        let orders = sales(csv(Entity::SalesOrders, &body));
        assert_eq!(orders.len(), 2);
        let so1 = &orders[0];
        assert_eq!((&*so1.id, so1.row), ("SO-1", 1));
        assert_eq!(so1.lines.len(), 3);
        assert_eq!(
            so1.lines.iter().map(|l| l.row).collect::<Vec<_>>(),
            [1, 3, 4]
        );
        assert_eq!(so1.lines[1].quantity, Decimal::new(15, 1));
        assert_eq!(so1.currency.unwrap().as_str(), "USD");
        let so2 = &orders[1];
        assert_eq!(so2.lines[0].quantity, Decimal::from(-1));
        // Local time in Europe/Paris (UTC+2 in summer).
        assert_eq!(so2.ordered_at.to_rfc3339(), "2024-05-31T10:00:00+00:00");
    }

    #[test]
    fn unknown_currency_is_a_warning() {
        let body = format!(
            "{SALES_HEADER}SO-1,2024-05-31T10:00:00Z,,ABC,,,,L1,V-1,2,\nSO-1,2024-05-31T10:00:00Z,,ABC,,,,L2,V-2,1,\n"
        );
        let parsed = csv(Entity::SalesOrders, &body).unwrap();
        assert_eq!(at(&parsed.warnings), [(1, "currency")]);
        assert!(parsed.warnings[0].message.contains("EUR"));
        let Batch::SalesOrders(v) = parsed.batch else {
            panic!()
        };
        assert_eq!(v[0].currency.unwrap().as_str(), "EUR");
    }

    #[test]
    fn missing_required_and_unknown_columns_are_named() {
        let p = problems(csv(
            Entity::SalesOrders,
            "id,ordered_at,line_id,variant_id,qty\n",
        ));
        assert_eq!(at(&p), [(1, "qty"), (1, "quantity")]);
        assert!(p[0].message.contains("Unknown column \"qty\""));
        assert!(p[1].message.contains("Required column quantity"));
    }

    #[test]
    fn wrong_delimiter_is_named() {
        let p = problems(csv(Entity::Warehouses, "id;name\nW-1;Main\n"));
        assert_eq!(at(&p), [(1, "header")]);
        assert!(p[0].message.contains("semicolons"), "{}", p[0].message);
        assert!(p[0].message.contains("commas"));
        let p = problems(csv(Entity::Warehouses, "id\tname\nW-1\tMain\n"));
        assert!(p[0].message.contains("tabs"));
    }

    #[test]
    fn invalid_utf8_names_the_row() {
        let mut body = b"id,name\nW-1,Main\nW-2,Caf".to_vec();
        body.extend_from_slice(&[0xE9, b'\n']);
        match parse_csv(Entity::Warehouses, &body[..], &ctx()) {
            Err(ParseError::Malformed { message }) => {
                assert!(
                    message.starts_with("Row 2 (line 3, column name)"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_numeric_quantity_and_bad_date() {
        let body = format!(
            "{SALES_HEADER}SO-1,31/05/2024,,,,,,L1,V-1,two,\nSO-2,2024-05-31,,,,,,L1,V-1,1,\n"
        );
        let p = problems(csv(Entity::SalesOrders, &body));
        assert_eq!(at(&p), [(1, "ordered_at"), (1, "quantity")]);
        assert_eq!(
            p[1].message,
            "quantity must be a number such as 12 or 3.5; \"two\" is not."
        );
    }

    #[test]
    fn stock_order_quantity_must_be_positive() {
        let body = "id,kind,status,destination_warehouse_id,line_id,variant_id,quantity\n\
                    PO-1,purchase,active,W-1,1,V-1,5\n\
                    PO-1,purchase,active,W-1,2,V-2,0\n\
                    PO-1,purchase,active,W-1,3,V-3,-2\n";
        let p = problems(csv(Entity::StockOrders, body));
        assert_eq!(at(&p), [(2, "quantity"), (3, "quantity")]);
        assert_eq!(p[0].message, "quantity must be more than zero, not 0.");
    }

    #[test]
    fn stock_order_kinds_need_their_warehouses() {
        let body =
            "id,kind,status,source_warehouse_id,destination_warehouse_id,variant_id,quantity\n\
                    T-1,transfer,active,,W-2,V-1,5\n\
                    P-1,purchase,draft,,,V-1,5\n\
                    A-1,assembly,bogus,,W-1,V-1,5\n";
        let p = problems(csv(Entity::StockOrders, body));
        assert_eq!(
            at(&p),
            [
                (1, "source_warehouse_id"),
                (2, "destination_warehouse_id"),
                (3, "status")
            ]
        );
    }

    #[test]
    fn disagreeing_repeated_order_fields() {
        let body = format!(
            "{SALES_HEADER}SO-1,2024-05-31T10:00:00Z,W-1,,,,,L1,V-1,1,\n\
             SO-2,2024-05-31T10:00:00Z,W-1,,,,,L1,V-1,1,\n\
             SO-1,2024-06-01T10:00:00Z,W-2,,,,,L2,V-1,1,\n"
        );
        let p = problems(csv(Entity::SalesOrders, &body));
        assert_eq!(at(&p), [(3, "ordered_at"), (3, "warehouse_id")]);
        assert!(p[1].message.contains("\"W-2\" on this row but \"W-1\""));
    }

    #[test]
    fn duplicate_line_ids_in_one_order() {
        let body = format!(
            "{SALES_HEADER}SO-1,2024-05-31T10:00:00Z,,,,,,L1,V-1,1,\nSO-1,2024-05-31T10:00:00Z,,,,,,L1,V-2,1,\n"
        );
        let p = problems(csv(Entity::SalesOrders, &body));
        assert_eq!(at(&p), [(2, "line_id")]);
    }

    #[test]
    fn unknown_variant_is_reported_on_the_line_row() {
        let body = format!(
            "{SALES_HEADER}SO-1,2024-05-31T10:00:00Z,W-1,,,,,L1,V-1,1,\nSO-1,2024-05-31T10:00:00Z,W-1,,,,,L2,V-9,1,\n"
        );
        let parsed = csv(Entity::SalesOrders, &body).unwrap();
        let known = KnownIds {
            variants: ["V-1".to_string()].into(),
            warehouses: ["W-1".to_string()].into(),
            ..Default::default()
        };
        let p = check_references(&parsed.batch, &known);
        assert_eq!(at(&p), [(2, "variant_id")]);
        assert!(p[0].message.contains("\"V-9\""));
    }

    #[test]
    fn empty_files() {
        assert!(matches!(
            csv(Entity::Warehouses, ""),
            Err(ParseError::Empty)
        ));
        assert!(matches!(
            csv(Entity::Warehouses, "\u{feff}id,name\n\n"),
            Err(ParseError::Empty)
        ));
    }

    #[test]
    fn row_with_wrong_cell_count() {
        let p = problems(csv(Entity::Warehouses, "id,name\nW-1,Main,extra\nW-2,Ok\n"));
        assert_eq!(at(&p), [(1, "name")]);
    }

    #[test]
    fn json_sent_as_csv_is_malformed() {
        assert!(matches!(
            csv(Entity::Warehouses, "[{\"id\":\"W-1\"}]"),
            Err(ParseError::Malformed { .. })
        ));
    }

    #[test]
    fn variants_with_tags_components_and_booleans() {
        let body = "id,sku,tags,components,assembly,tracked,min_stock,max_stock\n\
                    V-1, Shirt-M ,summer; cotton;,V-2:2;V-3:0.5,YES,no,1,5\n\
                    V-2,S2,,,,,,\n\
                    V-3,S3,,V-3:1,maybe,,5,1\n";
        let p = problems(csv(Entity::Variants, body));
        assert_eq!(
            at(&p),
            [(3, "components"), (3, "assembly"), (3, "max_stock")]
        );
        let ok = "id,sku,tags,components,assembly,tracked\nV-1, Shirt-M ,summer; cotton;,V-2:2;V-3:0.5,YES,no\n";
        let Batch::Variants(v) = csv(Entity::Variants, ok).unwrap().batch else {
            panic!()
        };
        assert_eq!(v[0].sku, "Shirt-M");
        assert_eq!(v[0].tags, ["summer", "cotton"]);
        assert_eq!(v[0].components.len(), 2);
        assert_eq!(&*v[0].components[1].variant_id, "V-3");
        assert!(v[0].assembly && !v[0].tracked);
    }

    #[test]
    fn stock_levels_default_allocated_and_reject_duplicates() {
        let body = "variant_id,warehouse_id,on_hand\nV-1,W-1,-2\nV-1,W-2,3\nV-1,W-1,4\n";
        let p = problems(csv(Entity::Stock, body));
        assert_eq!(at(&p), [(3, "warehouse_id")]);
        let Batch::Stock(v) = csv(
            Entity::Stock,
            "variant_id,warehouse_id,on_hand\nV-1,W-1,-2\n",
        )
        .unwrap()
        .batch
        else {
            panic!()
        };
        assert_eq!(
            (v[0].on_hand, v[0].allocated),
            (Decimal::from(-2), Decimal::ZERO)
        );
    }

    #[test]
    fn stock_readings_at_different_times_are_history_not_duplicates() {
        let body = "variant_id,warehouse_id,on_hand,updated_at\n\
                    V-1,W-1,5,2026-01-01T10:00:00Z\n\
                    V-1,W-1,0,2026-01-03T10:00:00Z\n\
                    V-1,W-1,0,2026-01-03T10:00:00Z\n";
        let p = problems(csv(Entity::Stock, body));
        assert_eq!(at(&p), [(3, "warehouse_id")]);
        let ok = "variant_id,warehouse_id,on_hand,updated_at\n\
                  V-1,W-1,5,2026-01-01T10:00:00Z\nV-1,W-1,0,2026-01-03T10:00:00Z\n";
        assert_eq!(csv(Entity::Stock, ok).unwrap().batch.len(), 2);
    }

    #[test]
    fn checked_parse_merges_reference_problems_and_accepts_in_batch_components() {
        let body = "id,sku,vendor_id,components\nV-1,A,,V-2:1\nV-2,B,VE-9,\nV-3,C,,V-8:2\n";
        let known = KnownIds::default();
        match crate::import::parse_csv_checked(Entity::Variants, body.as_bytes(), &ctx(), &known) {
            Err(ParseError::Invalid { problems, total }) => {
                assert_eq!(total, 2);
                assert_eq!(at(&problems), [(2, "vendor_id"), (3, "components")]);
            }
            other => panic!("{other:?}"),
        }
    }
}
