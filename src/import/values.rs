//! Field-level conversion shared by the CSV and JSON front ends: one raw value in, one typed
//! value (or a problem naming the field) out. Nothing here knows which entity it is reading.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Number, Value};

use crate::import::records::{Currency, Ref};
use crate::import::{ImportContext, KnownIds, Problem};

/// Most problems kept in memory at once; the list handed back is capped at [`MAX_LISTED`].
const KEEP_AT_MOST: usize = 10_000;
/// Most problems (or warnings) listed in an answer.
pub(crate) const MAX_LISTED: usize = 1_000;
/// Longest id or SKU accepted, in characters.
pub(crate) const MAX_ID_CHARS: usize = 255;
/// Every quantity, stock figure and amount of money is smaller than this in
/// magnitude (|x| < 10^12): far beyond any real stock or price, and small
/// enough that sums and differences of imported values cannot overflow the
/// decimal type (about 7.9 × 10^28).
pub(crate) const MAX_MAGNITUDE: i64 = 1_000_000_000_000;
/// Most decimal places a quantity or amount may have.
pub(crate) const MAX_DECIMALS: u32 = 6;
/// Longest lead time accepted, in days (ten years).
pub(crate) const MAX_LEAD_TIME_DAYS: u32 = 3_650;

/// Checks a number against the documented range: |x| < 10^12, at most six
/// decimal places (trailing zeros do not count). The error completes a
/// sentence starting with the field's name.
pub(crate) fn in_range(d: Decimal) -> Result<Decimal, String> {
    if d.abs() >= Decimal::from(MAX_MAGNITUDE) {
        return Err(format!(
            "is out of range: {d}; numbers must be between -999999999999.999999 and \
             999999999999.999999 (less than 10^12 in size)"
        ));
    }
    if d.scale() > MAX_DECIMALS && d.normalize().scale() > MAX_DECIMALS {
        return Err(format!(
            "has more than {MAX_DECIMALS} decimal places: {}; round it to {MAX_DECIMALS} at most",
            d.normalize()
        ));
    }
    Ok(d)
}

/// Whether text is written like a number (digits, sign, point, exponent),
/// though it may not fit the decimal type.
fn numeric_looking(s: &str) -> bool {
    let b = s.trim().as_bytes();
    !b.is_empty()
        && b.iter().any(u8::is_ascii_digit)
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
}

/// A capped, row-ordered collection of problems that still counts every problem.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    total: usize,
}

impl Problems {
    pub(crate) fn push(&mut self, row: usize, field: String, message: String) {
        self.total += 1;
        self.list.push(Problem {
            row,
            field,
            message,
        });
        if self.list.len() >= KEEP_AT_MOST {
            // Exact: a dropped problem already has MAX_LISTED problems on earlier rows ahead of it.
            self.list.sort_by_key(|p| p.row);
            self.list.truncate(MAX_LISTED);
        }
    }

    pub(crate) fn extend(&mut self, problems: Vec<Problem>) {
        for p in problems {
            self.push(p.row, p.field, p.message);
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The problems sorted by row (stable), at most [`MAX_LISTED`] of them, and the total.
    pub(crate) fn finish(mut self) -> (Vec<Problem>, usize) {
        self.list.sort_by_key(|p| p.row);
        self.list.truncate(MAX_LISTED);
        (self.list, self.total)
    }
}

/// One value as it arrived, before conversion. CSV cells are `Text`; JSON values keep their type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Raw<'a> {
    /// Not given: an empty CSV cell, a missing JSON key or `null`.
    Absent,
    /// A non-empty CSV cell (not yet trimmed).
    Text(&'a str),
    /// A JSON string.
    Str(&'a str),
    /// A JSON number.
    Num(&'a Number),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array.
    List(&'a [Value]),
    /// A JSON object.
    Object,
}

impl<'a> Raw<'a> {
    /// A CSV cell: empty (after trimming) is absent.
    pub(crate) fn cell(s: &'a str) -> Raw<'a> {
        if s.trim().is_empty() {
            Raw::Absent
        } else {
            Raw::Text(s)
        }
    }

    /// A JSON value: `null` and blank strings are absent.
    pub(crate) fn json(v: &'a Value) -> Raw<'a> {
        match v {
            Value::Null => Raw::Absent,
            Value::String(s) if s.trim().is_empty() => Raw::Absent,
            Value::String(s) => Raw::Str(s),
            Value::Number(n) => Raw::Num(n),
            Value::Bool(b) => Raw::Bool(*b),
            Value::Array(a) => Raw::List(a),
            Value::Object(_) => Raw::Object,
        }
    }

    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, Raw::Absent)
    }

    fn kind(&self) -> &'static str {
        match self {
            Raw::Absent => "nothing",
            Raw::Text(_) | Raw::Str(_) => "a string",
            Raw::Num(_) => "a number",
            Raw::Bool(_) => "a boolean",
            Raw::List(_) => "a list",
            Raw::Object => "an object",
        }
    }
}

/// Shortens a value quoted back in a message.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    let s = s.trim();
    if s.chars().count() <= MAX {
        format!("\"{s}\"")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("\"{cut}…\"")
    }
}

/// The conversion context for one record: where problems go, which row and path they name, and
/// the account settings values are read with.
pub(crate) struct Cx<'a> {
    pub(crate) problems: &'a mut Problems,
    pub(crate) warnings: &'a mut Problems,
    pub(crate) interner: &'a mut Interner,
    pub(crate) account_currency: Currency,
    pub(crate) tz: Tz,
    /// 1-based row problems are reported on.
    pub(crate) row: usize,
    /// Prefix of field paths, such as `lines[2].`; empty at the top level.
    pub(crate) prefix: String,
    /// Whether fallbacks are reported as warnings (off when re-reading a repeated CSV order row).
    pub(crate) warn: bool,
    /// The ids the account holds, when references are checked while reading: a reference to
    /// an unknown id is then reported even when its record has other problems.
    pub(crate) known: Option<&'a KnownIds>,
}

/// What a reference names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RefKind {
    Variant,
    Warehouse,
    Vendor,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(
        ctx: &ImportContext,
        problems: &'a mut Problems,
        warnings: &'a mut Problems,
        interner: &'a mut Interner,
    ) -> Self {
        Cx {
            problems,
            warnings,
            interner,
            account_currency: Currency::parse(&ctx.account_currency).unwrap_or(Currency::FALLBACK),
            tz: ctx.timezone,
            row: 0,
            prefix: String::new(),
            warn: true,
            known: None,
        }
    }

    /// The full path of a field at the current nesting.
    pub(crate) fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}{}", self.prefix, name)
        }
    }

    /// Reports a problem on the current row.
    pub(crate) fn problem(&mut self, name: &str, message: String) {
        let field = self.path(name);
        self.problems.push(self.row, field, message);
    }

    /// Reports a problem on another row (CSV order lines keep their own row).
    pub(crate) fn problem_at(&mut self, row: usize, field: String, message: String) {
        self.problems.push(row, field, message);
    }

    pub(crate) fn warning(&mut self, name: &str, message: String) {
        if self.warn {
            let field = self.path(name);
            self.warnings.push(self.row, field, message);
        }
    }

    pub(crate) fn missing(&mut self, name: &str) {
        self.problem(
            name,
            format!("{} is required; give it a value.", self.path(name)),
        );
    }

    /// Runs `f` for a required field, reporting it as missing when absent.
    pub(crate) fn req<'r, T>(
        &mut self,
        name: &str,
        raw: Raw<'r>,
        f: impl FnOnce(&mut Self, &str, Raw<'r>) -> Option<T>,
    ) -> Option<T> {
        if raw.is_absent() {
            self.missing(name);
            None
        } else {
            f(self, name, raw)
        }
    }

    fn wrong_type(&mut self, name: &str, raw: Raw<'_>, wanted: &str) {
        let msg = format!("{} must be {wanted}, not {}.", self.path(name), raw.kind());
        self.problem(name, msg);
    }

    /// A string value (trimmed); absent when blank.
    pub(crate) fn text<'r>(&mut self, name: &str, raw: Raw<'r>) -> Option<&'r str> {
        match raw {
            Raw::Absent => None,
            Raw::Text(s) | Raw::Str(s) => Some(s.trim()),
            other => {
                self.wrong_type(name, other, "a string");
                None
            }
        }
    }

    /// Free text, owned.
    pub(crate) fn string(&mut self, name: &str, raw: Raw<'_>) -> Option<String> {
        self.text(name, raw).map(str::to_string)
    }

    /// An identifier: trimmed, at most [`MAX_ID_CHARS`] characters.
    pub(crate) fn id_str<'r>(&mut self, name: &str, raw: Raw<'r>) -> Option<&'r str> {
        let s = self.text(name, raw)?;
        if s.len() > MAX_ID_CHARS && s.chars().count() > MAX_ID_CHARS {
            let msg = format!(
                "{} is {} characters long; at most {MAX_ID_CHARS} are allowed.",
                self.path(name),
                s.chars().count()
            );
            self.problem(name, msg);
            return None;
        }
        Some(s)
    }

    /// The record's own id.
    pub(crate) fn own_id(&mut self, name: &str, raw: Raw<'_>) -> Option<Box<str>> {
        self.id_str(name, raw).map(Box::from)
    }

    /// A reference to another record, interned so repeated ids share one allocation.
    pub(crate) fn ref_id(&mut self, name: &str, raw: Raw<'_>) -> Option<Ref> {
        let s = self.id_str(name, raw)?;
        Some(self.interner.intern(s))
    }

    /// A reference to a variant, warehouse or vendor the account must already hold: checked
    /// against [`Cx::known`] (when given) as it is read, so an unknown id is reported with the
    /// record's other problems. Not checked again when re-reading a repeated CSV order row.
    /// A reference that is no id of the account may name one record by what a merchant
    /// knows it by (a variant's SKU, a warehouse's or vendor's name): it stands for that
    /// record's id.
    pub(crate) fn known_ref(&mut self, kind: RefKind, name: &str, raw: Raw<'_>) -> Option<Ref> {
        let r = self.ref_id(name, raw)?;
        let Some(known) = self.known else {
            return Some(r);
        };
        let (held, what, plural, by) = match kind {
            RefKind::Variant => (known.variants.contains(&*r), "Variant", "variants", "SKU"),
            RefKind::Warehouse => (
                known.warehouses.contains(&*r),
                "Warehouse",
                "warehouses",
                "name",
            ),
            RefKind::Vendor => (known.vendors.contains(&*r), "Vendor", "vendors", "name"),
        };
        if held {
            return Some(r);
        }
        match known.named(kind, &r) {
            crate::import::Named::One(id) => return Some(self.interner.intern(id)),
            crate::import::Named::Several(ids) if self.warn => {
                let list = ids.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", ");
                self.problem(
                    name,
                    format!(
                        "{what} {} is the {by} of {} {plural} ({list}); give the id of the one you mean.",
                        quote(&r),
                        ids.len()
                    ),
                );
            }
            crate::import::Named::Nothing if self.warn => {
                self.problem(name, crate::import::refs::unknown(what, plural, &r));
            }
            _ => {}
        }
        Some(r)
    }

    /// [`Cx::known_ref`] to a variant.
    pub(crate) fn variant_ref(&mut self, name: &str, raw: Raw<'_>) -> Option<Ref> {
        self.known_ref(RefKind::Variant, name, raw)
    }

    /// [`Cx::known_ref`] to a warehouse.
    pub(crate) fn warehouse_ref(&mut self, name: &str, raw: Raw<'_>) -> Option<Ref> {
        self.known_ref(RefKind::Warehouse, name, raw)
    }

    /// [`Cx::known_ref`] to a vendor.
    pub(crate) fn vendor_ref(&mut self, name: &str, raw: Raw<'_>) -> Option<Ref> {
        self.known_ref(RefKind::Vendor, name, raw)
    }

    /// A decimal from a JSON number or a numeric string, within the documented range
    /// ([`in_range`]).
    pub(crate) fn decimal(&mut self, name: &str, raw: Raw<'_>) -> Option<Decimal> {
        let d = self.any_decimal(name, raw)?;
        match in_range(d) {
            Ok(d) => Some(d),
            Err(why) => {
                let msg = format!("{} {why}.", self.path(name));
                self.problem(name, msg);
                None
            }
        }
    }

    /// A decimal of any size the type holds.
    fn any_decimal(&mut self, name: &str, raw: Raw<'_>) -> Option<Decimal> {
        match raw {
            Raw::Absent => None,
            Raw::Text(s) | Raw::Str(s) => match parse_decimal(s) {
                Some(d) => Some(d),
                None if numeric_looking(s) => {
                    let msg = format!(
                        "{} is out of range: {}; numbers must be less than 10^12 in size.",
                        self.path(name),
                        quote(s)
                    );
                    self.problem(name, msg);
                    None
                }
                None => {
                    let msg = format!(
                        "{} must be a number such as 12 or 3.5; {} is not.",
                        self.path(name),
                        quote(s)
                    );
                    self.problem(name, msg);
                    None
                }
            },
            Raw::Num(n) => match parse_decimal(&n.to_string()) {
                Some(d) => Some(d),
                None => {
                    let msg = format!("{} is out of range: {n}.", self.path(name));
                    self.problem(name, msg);
                    None
                }
            },
            other => {
                self.wrong_type(name, other, "a number");
                None
            }
        }
    }

    /// A decimal that must be zero or more.
    pub(crate) fn non_negative(&mut self, name: &str, raw: Raw<'_>) -> Option<Decimal> {
        let d = self.decimal(name, raw)?;
        if d.is_sign_negative() && !d.is_zero() {
            let msg = format!("{} must be zero or more, not {d}.", self.path(name));
            self.problem(name, msg);
            return None;
        }
        Some(d)
    }

    /// A decimal that must be more than zero.
    pub(crate) fn positive(&mut self, name: &str, raw: Raw<'_>) -> Option<Decimal> {
        let d = self.decimal(name, raw)?;
        if d <= Decimal::ZERO {
            let msg = format!("{} must be more than zero, not {d}.", self.path(name));
            self.problem(name, msg);
            return None;
        }
        Some(d)
    }

    /// A whole number of days, 0 to [`MAX_LEAD_TIME_DAYS`].
    pub(crate) fn days(&mut self, name: &str, raw: Raw<'_>) -> Option<u32> {
        let d = self.any_decimal(name, raw)?;
        let whole = if d.fract().is_zero() {
            d.to_u32().filter(|n| *n <= MAX_LEAD_TIME_DAYS)
        } else {
            None
        };
        if whole.is_none() {
            let msg = format!(
                "{} must be a whole number of days from 0 to {MAX_LEAD_TIME_DAYS}, not {d}.",
                self.path(name)
            );
            self.problem(name, msg);
        }
        whole
    }

    /// A boolean: JSON `true`/`false`; in CSV also `1`/`0`/`yes`/`no`, any case.
    pub(crate) fn boolean(&mut self, name: &str, raw: Raw<'_>) -> Option<bool> {
        match raw {
            Raw::Absent => None,
            Raw::Bool(b) => Some(b),
            Raw::Text(s) => match parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    let msg = format!(
                        "{} must be true or false (or yes/no, 1/0), not {}.",
                        self.path(name),
                        quote(s)
                    );
                    self.problem(name, msg);
                    None
                }
            },
            other => {
                self.wrong_type(name, other, "true or false");
                None
            }
        }
    }

    /// A timestamp: RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DD` in the account's zone.
    pub(crate) fn timestamp(&mut self, name: &str, raw: Raw<'_>) -> Option<DateTime<Utc>> {
        let s = match raw {
            Raw::Absent => return None,
            Raw::Text(s) | Raw::Str(s) => s.trim(),
            other => {
                self.wrong_type(name, other, "a timestamp string");
                return None;
            }
        };
        match parse_timestamp(s, self.tz) {
            Some(t) => Some(t),
            None => {
                let msg = format!(
                    "{} must be a timestamp such as 2024-05-31T14:00:00Z (or 2024-05-31 14:00:00 \
                     in the account's time zone); {} is not.",
                    self.path(name),
                    quote(s)
                );
                self.problem(name, msg);
                None
            }
        }
    }

    /// A date `YYYY-MM-DD` (a full timestamp is taken as its date in the account's zone).
    pub(crate) fn date(&mut self, name: &str, raw: Raw<'_>) -> Option<NaiveDate> {
        let s = match raw {
            Raw::Absent => return None,
            Raw::Text(s) | Raw::Str(s) => s.trim(),
            other => {
                self.wrong_type(name, other, "a date string");
                return None;
            }
        };
        let parsed = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| {
            parse_timestamp(s, self.tz).map(|t| t.with_timezone(&self.tz).date_naive())
        });
        if parsed.is_none() {
            let msg = format!(
                "{} must be a date such as 2024-05-31; {} is not.",
                self.path(name),
                quote(s)
            );
            self.problem(name, msg);
        }
        parsed
    }

    /// A currency code; a well-formed but unknown code falls back to the account currency with
    /// a warning.
    pub(crate) fn currency(&mut self, name: &str, raw: Raw<'_>) -> Option<Currency> {
        let s = self.text(name, raw)?;
        match Currency::parse(s) {
            Some(c) if c.is_known() => Some(c),
            Some(c) => {
                let msg = format!(
                    "{} is not an active ISO 4217 currency code; the account currency {} was \
                     used instead.",
                    c.as_str(),
                    self.account_currency.as_str()
                );
                self.warning(name, msg);
                Some(self.account_currency)
            }
            None => {
                let msg = format!(
                    "{} must be a three-letter ISO 4217 code such as EUR or USD; {} is not.",
                    self.path(name),
                    quote(s)
                );
                self.problem(name, msg);
                None
            }
        }
    }

    /// A list value (JSON only).
    pub(crate) fn list<'r>(&mut self, name: &str, raw: Raw<'r>) -> Option<&'r [Value]> {
        match raw {
            Raw::Absent => None,
            Raw::List(l) => Some(l),
            other => {
                self.wrong_type(name, other, "a list");
                None
            }
        }
    }
}

/// Parses a decimal written as `12`, `-3.5`, `+4` or `1e3`; rejects anything else.
pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let b = s.as_bytes();
    // Only digits, one sign, a point and an exponent: no NaN, no thousands separators.
    if b.is_empty()
        || !b
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
        || !b.iter().any(u8::is_ascii_digit)
    {
        return None;
    }
    if b.iter().any(|c| matches!(c, b'e' | b'E')) {
        Decimal::from_scientific(s).ok()
    } else {
        s.parse::<Decimal>().ok()
    }
}

/// `true`/`false`/`1`/`0`/`yes`/`no`, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    for (word, value) in [
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("yes", true),
        ("no", false),
    ] {
        if s.eq_ignore_ascii_case(word) {
            return Some(value);
        }
    }
    None
}

/// RFC 3339, or a local `YYYY-MM-DD[ T]HH:MM:SS[.f]` or `YYYY-MM-DD` read in `tz`.
pub(crate) fn parse_timestamp(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let local = if s.len() == 10 {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    } else {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
            .ok()?
    };
    local_to_utc(local, tz)
}

/// A local wall-clock time in `tz`; in a gap (clocks moved forward) the time an hour later.
fn local_to_utc(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        LocalResult::None => tz
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// A fast string hasher for the maps of one import, keyed with a random seed per map.
/// SipHash dominated the profile of a million-line import; this mixes a word at a time and
/// finishes with a full avalanche, and the secret seed keeps collisions hard to craft.
#[derive(Clone, Debug)]
pub(crate) struct FastState(u64);

impl Default for FastState {
    fn default() -> Self {
        FastState(RandomState::new().hash_one(0x7472_6962_7574_6172_u64))
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

/// See [`FastState`].
pub(crate) struct FastHasher(u64);

const MIX: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(MIX);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word) ^ (rest.len() as u64) << 59)
                .wrapping_mul(MIX);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(MIX);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Shares one allocation between repeated reference ids (a million sales lines name a few
/// thousand variants).
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Ref, FastState>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Ref {
        if let Some(r) = self.set.get(s) {
            return Arc::clone(r);
        }
        let r: Ref = Arc::from(s);
        self.set.insert(Arc::clone(&r));
        r
    }
}

/// Active ISO 4217 codes (including funds and precious metals codes in use).
pub(crate) const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV",
    "WST", "XAF", "XAG", "XAU", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA",
    "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_accept_numbers_and_reject_garbage() {
        assert_eq!(parse_decimal(" 12.50 "), Some(Decimal::new(1250, 2)));
        assert_eq!(parse_decimal("-3"), Some(Decimal::new(-3, 0)));
        assert_eq!(parse_decimal("1e3"), Some(Decimal::new(1000, 0)));
        for bad in ["NaN", "inf", "1,5", "abc", "", "-", "1_000", "0x10"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_in_three_forms() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_timestamp("2024-05-31T14:00:00+02:00", tz),
            Some(utc("2024-05-31T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-31 14:00:00", tz),
            Some(utc("2024-05-31T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-01-31", tz),
            Some(utc("2024-01-30T23:00:00Z"))
        );
        // A DST gap moves forward an hour.
        assert_eq!(
            parse_timestamp("2024-03-31 02:30:00", tz),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        assert_eq!(parse_timestamp("31/05/2024", tz), None);
        assert_eq!(parse_timestamp("2024-02-30", tz), None);
    }

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "EUR");
        assert!(Currency::parse("EURO").is_none());
        assert!(Currency::parse("E1R").is_none());
        assert!(Currency::parse("EUR").unwrap().is_known());
        assert!(!Currency::parse("ABC").unwrap().is_known());
        let mut sorted = ISO_4217.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, ISO_4217, "kept sorted for binary search");
    }

    #[test]
    fn problems_keep_the_first_rows() {
        let mut p = Problems::default();
        for row in (1..=25_000).rev() {
            p.push(row, "id".into(), "x".into());
        }
        let (list, total) = p.finish();
        assert_eq!(total, 25_000);
        assert_eq!(list.len(), MAX_LISTED);
        assert_eq!(list[0].row, 1);
        assert_eq!(list[999].row, 1000);
    }
}
